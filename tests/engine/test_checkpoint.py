"""Checkpoints: resuming continues bit-for-bit; damaged or foreign files are one sentence."""

import io
import json

import numpy as np
import pytest

from engine.checkpoint import CheckpointError, load_checkpoint
from engine.trainer import StepEvent, TrainConfig, Trainer
from tests.engine.trainer_helpers import quadrant_data, small_net

CONFIG = dict(batch_size=16, lr=0.05, epochs=2, optimizer="adam", flip=True, crop_pad=1,
              schedule="step", step_epochs=1, gamma=0.5, seed=3)


def state(trainer):
    """Every array of the run, keyed by layer position rather than layer id."""
    position = {layer.id: str(i) for i, layer in enumerate(trainer.model.layers)}

    def key(name):
        layer_id, _, rest = name.partition("/")
        return position[layer_id] + "/" + rest

    arrays = {key(k): trainer.backend.to_numpy(v).copy() for k, v, _ in trainer.model.parameters()}
    arrays |= {"buffer " + key(k): trainer.backend.to_numpy(v).copy()
               for k, v in trainer.model.buffers()}
    arrays |= {"optim " + key(k): v for k, v in trainer.optimizer.state().items()}
    return arrays


def assert_same_run(a, b):
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert a.history == b.history
    assert (a.epoch, a.step, a.batch) == (b.epoch, b.step, b.batch)


@pytest.fixture
def straight():
    trainer = Trainer(small_net(dropout=True), quadrant_data(), TrainConfig(**CONFIG))
    list(trainer.run())
    return trainer


def test_two_epochs_equal_one_plus_resumed_one(straight, tmp_path):
    first = Trainer(straight.spec, quadrant_data(), TrainConfig(**{**CONFIG, "epochs": 1}))
    list(first.run())
    first.save_checkpoint(tmp_path / "run.ckpt")
    resumed = Trainer.from_checkpoint(tmp_path / "run.ckpt", quadrant_data(), epochs=2)
    assert resumed.config == straight.config
    list(resumed.run())
    assert_same_run(resumed, straight)


def test_resume_from_the_middle_of_an_epoch(straight, tmp_path):
    first = Trainer(straight.spec, quadrant_data(), TrainConfig(**CONFIG))
    for event in first.run():
        if isinstance(event, StepEvent) and event.step == 6:
            first.control.stop()
    first.save_checkpoint(tmp_path / "mid.ckpt")
    resumed = Trainer.from_checkpoint(tmp_path / "mid.ckpt", quadrant_data())
    assert (resumed.epoch, resumed.batch) == (1, 2)
    list(resumed.run())
    assert_same_run(resumed, straight)


def test_checkpoint_keeps_everything_the_gui_needs(straight, tmp_path):
    path = tmp_path / "run.ckpt"
    straight.data_source = "digits"
    straight.save_checkpoint(path)
    saved = load_checkpoint(path)
    assert saved.spec == straight.spec
    assert saved.meta["class_names"] == straight.class_names
    assert saved.meta["history"] == json.loads(json.dumps(straight.history))
    assert saved.meta["data_source"] == "digits"
    assert set(saved.arrays["norm"]) == {"mode", "mean", "std"}
    restored = Trainer.from_checkpoint(path, quadrant_data())
    x = quadrant_data().val_x
    np.testing.assert_array_equal(restored.predict(x), straight.predict(x))


def test_checkpoint_is_a_plain_npz_without_pickles(straight, tmp_path):
    path = tmp_path / "run.ckpt"
    straight.save_checkpoint(path)
    with np.load(path, allow_pickle=False) as archive:
        assert "meta" in archive.files and all(archive[k].dtype != object for k in archive.files)


def one_sentence(error):
    text = str(error)
    assert "\n" not in text and text.endswith(".") and "Traceback" not in text
    return text


@pytest.mark.parametrize("content,expected", [
    (b"", "is not a ConvNet Designer checkpoint"),
    (b"\x00garbage" * 100, "is not a ConvNet Designer checkpoint"),
    (b'{"format": "convnet-designer", "version": 1, "layers": []}',
     "is not a ConvNet Designer checkpoint"),
])
def test_foreign_files_are_refused(tmp_path, content, expected):
    path = tmp_path / "x.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    assert expected in one_sentence(e.value)


def test_truncated_and_other_npz_files_are_refused(straight, tmp_path):
    path = tmp_path / "run.ckpt"
    straight.save_checkpoint(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(CheckpointError) as e:
        load_checkpoint(path)
    one_sentence(e.value)
    buffer = io.BytesIO()
    np.savez(buffer, weights=np.ones(3))
    path.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="no readable training record") as e:
        load_checkpoint(path)
    one_sentence(e.value)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.ckpt")


def test_a_checkpoint_of_another_network_shape_is_refused(straight, tmp_path):
    path = tmp_path / "run.ckpt"
    straight.save_checkpoint(path)
    with np.load(path, allow_pickle=False) as archive:
        entries = {k: archive[k] for k in archive.files}
    key = next(k for k in entries if k.startswith("param/") and k.endswith("/W"))
    entries[key] = entries[key][..., :1]
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    path.write_bytes(buffer.getvalue())
    with pytest.raises(CheckpointError, match="do not match its network") as e:
        Trainer.from_checkpoint(path, quadrant_data())
    one_sentence(e.value)
