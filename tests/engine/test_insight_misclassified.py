"""The misclassified validation images, most confidently wrong first, as a loop over every
image one at a time finds them."""

from __future__ import annotations

import numpy as np

from engine.insight.misclassified import Mistake, misclassified
from tests.engine.insight_helpers import fresh_run
from tests.engine.trainer_helpers import make_trainer, quadrant_data, small_net


def test_the_mistakes_match_a_brute_force_loop_and_are_most_confident_first():
    trainer = make_trainer(batch_size=4, epochs=1)
    list(trainer.train())
    run, data = trainer.run, quadrant_data(n_val=40, seed=1)
    labels = data.val_y.copy()
    labels[::3] = (labels[::3] + 1) % 3       # a third mislabelled: the run disagrees there
    found = misclassified(run, data.val_x, labels)
    expected = []
    for i, (image, label) in enumerate(zip(data.val_x, labels)):
        p = run.predict(image[None])[0]
        if p.argmax() != label:
            expected.append((-p.max(), i, Mistake(i, int(label), int(p.argmax()), float(p.max()))))
    expected = [m for *_, m in sorted(expected, key=lambda e: (e[0], e[1]))]
    assert 0 < len(found) < len(data.val_x)
    assert [(m.index, m.true, m.predicted) for m in found] == \
        [(m.index, m.true, m.predicted) for m in expected]
    np.testing.assert_allclose([m.confidence for m in found], [m.confidence for m in expected],
                               rtol=1e-5)
    confidences = [m.confidence for m in found]
    assert confidences == sorted(confidences, reverse=True)


def test_no_images_no_mistakes():
    run = fresh_run(small_net())
    assert misclassified(run, np.zeros((0, 8, 8, 1), np.uint8), np.zeros(0, np.int64)) == []
