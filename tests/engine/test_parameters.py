"""The model's parameter store: every layer's parameters and gradients are views of two flat
buffers, the weights first, and the trainer's passes over them see exactly the layers'."""

import numpy as np
import pytest

from engine.backend import NUMPY
from engine.model import build
from engine.optim import Optimizer
from engine.rollback import LastGood
from tests.engine.standin import STANDIN
from tests.engine.trainer_helpers import make_trainer, small_net


@pytest.mark.parametrize("backend", [NUMPY, STANDIN], ids=["numpy", "stand-in-gpu"])
def test_layers_hold_views_of_the_store_and_the_weights_come_first(backend):
    model = build(small_net(), backend, 0)
    store, to_numpy = model.store, backend.to_numpy
    fresh = build(small_net(), NUMPY, 0)  # the same draw, kept by no store
    sizes = {}
    for (key, value, grad), (_, drawn, _) in zip(model.parameters(), fresh.parameters()):
        np.testing.assert_array_equal(to_numpy(value), drawn)  # moved in unchanged
        value[...] = 1.0 + len(sizes)
        grad[...] = -1.0 - len(sizes)
        sizes[key] = value.size
    flat, grads = to_numpy(store.values), to_numpy(store.grads)
    assert len(flat) == sum(sizes.values())
    for number, (key, value, grad) in enumerate(model.parameters()):
        assert (to_numpy(store.view(store.values, key)) == 1.0 + number).all()
        assert (to_numpy(store.view(store.grads, key)) == -1.0 - number).all()
    weights = {key for key in sizes if key.endswith("/W")}
    assert store.decayed.stop == sum(sizes[key] for key in weights)
    in_decayed = {float(v) for v in flat[store.decayed]}
    assert in_decayed == {1.0 + k for k, key in enumerate(sizes) if key in weights}
    assert (grads < 0).all()


def test_a_step_decays_the_weights_but_not_biases_or_scales():
    lr, decay = 0.1, 0.5
    trainer = make_trainer(optimizer="sgd", lr=lr, weight_decay=decay, batch_size=60)
    run = trainer.run
    before = {key: value.copy() for key, value, _ in run.model.parameters()}
    rows = np.arange(60)
    reference = build(run.spec, NUMPY, 0)
    for (_, value, _), kept in zip(reference.parameters(), before.values()):
        value[...] = kept
    x = run.normalizer(trainer.data.train_x[rows])
    reference.train_step(x, trainer.data.train_y[rows])
    expected = {key: value - lr * (grad + (decay * value if key.endswith("/W") else 0))
                for key, value, grad in reference.parameters()}
    trainer.train_batch(rows, lr)
    for key, value, _ in run.model.parameters():
        np.testing.assert_allclose(value, expected[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_the_nan_guard_puts_back_weights_and_the_optimizer_cache():
    model = build(small_net(), NUMPY, 0)
    optimizer = Optimizer("adam", NUMPY)
    model.store.grads[...] = 1.0
    optimizer.step(model.store.values, model.store.grads, 0.1)
    last_good = LastGood(model, optimizer)
    weights = {key: value.copy() for key, value, _ in model.parameters()}
    cache = [slot.copy() for slot in optimizer.slots]
    optimizer.step(model.store.values, model.store.grads, 0.1)
    assert optimizer.steps == 2 and not np.array_equal(optimizer.slots[0], cache[0])
    last_good.restore()
    assert optimizer.steps == 1
    assert all(np.array_equal(p, q) for p, q in zip(optimizer.slots, cache))
    assert all(np.array_equal(value, weights[key]) for key, value, _ in model.parameters())


def test_before_the_first_update_the_guard_leaves_no_cache():
    model = build(small_net(), NUMPY, 0)
    optimizer = Optimizer("momentum", NUMPY)
    last_good = LastGood(model, optimizer)
    optimizer.step(model.store.values, model.store.grads, 0.1)
    assert len(optimizer.slots) == 1
    last_good.restore()
    assert optimizer.slots == [] and optimizer.steps == 0
