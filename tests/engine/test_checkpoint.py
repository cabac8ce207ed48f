"""Run files: continuing is bit-for-bit, also with another batch size; every damaged,
foreign or hand-edited file is one sentence, read without unbounded allocation."""

import io
import json
import os
import stat
import zipfile

import numpy as np
import pytest

import engine.trainer as trainer_module
from engine.checkpoint import CheckpointError, load_run, read_run_summary, save_run
from engine.config import TrainingError
from engine.run import Run
from engine.trainer import StepEvent, Trainer
from tests.engine.trainer_helpers import make_trainer, quadrant_data, small_net

CONFIG = dict(batch_size=16, lr=0.05, epochs=2, optimizer="adam", flip=True, crop_pad=1,
              schedule="step", step_epochs=1, gamma=0.5, seed=3)


def state(run):
    """Every array of the run, keyed by layer position rather than layer id."""
    position = {layer.id: str(i) for i, layer in enumerate(run.model.layers)}

    def key(name):
        layer_id, _, rest = name.partition("/")
        return position[layer_id] + "/" + rest

    arrays = {key(k): run.backend.to_numpy(v).copy() for k, v, _ in run.model.parameters()}
    arrays |= {"buffer " + key(k): run.backend.to_numpy(v).copy()
               for k, v in run.model.buffers()}
    arrays |= {"optim " + key(k): v for k, v in run.optimizer.state(run.model.store).items()}
    return arrays


def assert_same_run(a: Run, b: Run):
    sa, sb = state(a), state(b)
    assert sa.keys() == sb.keys()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    assert a.history == b.history
    assert (a.epoch, a.step, a.offset) == (b.epoch, b.step, b.offset)


@pytest.fixture
def straight():
    trainer = make_trainer(small_net(dropout=True), **CONFIG)
    list(trainer.train())
    return trainer.run


def test_two_epochs_equal_one_plus_resumed_one(straight, tmp_path):
    first = make_trainer(straight.spec, **{**CONFIG, "epochs": 1})
    list(first.train())
    save_run(first.run, tmp_path / "run.ckpt")
    resumed = load_run(tmp_path / "run.ckpt")
    resumed.continued(epochs=2)
    assert resumed.config == straight.config
    list(Trainer(resumed, quadrant_data()).train())
    assert_same_run(resumed, straight)


def test_resume_from_the_middle_of_an_epoch(straight, tmp_path):
    first = make_trainer(straight.spec, **CONFIG)
    for event in first.train():
        if isinstance(event, StepEvent) and event.step == 6:
            first.control.stop()
    save_run(first.run, tmp_path / "mid.ckpt")
    resumed = load_run(tmp_path / "mid.ckpt")
    assert (resumed.epoch, resumed.offset) == (1, 32)
    list(Trainer(resumed, quadrant_data()).train())
    assert_same_run(resumed, straight)


def test_a_save_within_an_epoch_resumes_as_if_never_killed(straight, tmp_path, monkeypatch):
    """The copy the trainer keeps as an epoch goes on (every 2 minutes; here every step) is
    what a kill leaves: it continues bit for bit."""
    monkeypatch.setattr(trainer_module, "KEEP_EVERY_S", 0.0)
    monkeypatch.setattr(trainer_module, "KEEP_SHARE", float("inf"))
    keep = tmp_path / "run.ckpt"
    killed = make_trainer(straight.spec, keep_at=keep, **CONFIG).train()
    for event in killed:
        if isinstance(event, StepEvent) and event.step == 6:
            break      # the generator is left as a kill leaves it: not closed, nothing saved
    resumed = load_run(keep)
    killed.close()     # only now: closing saves the run as Stop does
    assert (resumed.epoch, resumed.step, resumed.offset) == (1, 6, 32)
    list(Trainer(resumed, quadrant_data()).train())
    assert_same_run(resumed, straight)


def test_another_batch_size_mid_epoch_trains_every_image_of_the_epoch_once(tmp_path,
                                                                            monkeypatch):
    trained = []
    original = Trainer.train_batch
    monkeypatch.setattr(Trainer, "train_batch",
                        lambda self, rows, lr, last: trained.append(rows.copy()) or original(
                            self, rows, lr, last))
    first = make_trainer(**{**CONFIG, "epochs": 1, "batch_size": 20})
    for event in first.train():
        if event.step == 2:
            first.control.stop()
    save_run(first.run, tmp_path / "mid.ckpt")
    resumed = load_run(tmp_path / "mid.ckpt")
    resumed.continued(batch_size=16)
    events = list(Trainer(resumed, quadrant_data()).train())
    rows = np.concatenate(trained)
    assert sorted(rows) == list(range(60))  # each of the 60 images once, none skipped
    assert [len(r) for r in trained] == [20, 20, 16, 4]
    assert [(e.batch, e.batches) for e in events[:2]] == [(3, 4), (4, 4)]  # 2 done before


def test_the_summary_and_everything_the_window_needs_are_kept(straight, tmp_path):
    path = tmp_path / "run.ckpt"
    straight.data_source = "digits"
    save_run(straight, path)
    summary = read_run_summary(path)
    assert (summary.name, summary.spec, summary.epochs_done) == (straight.name, straight.spec, 2)
    assert summary.best_val_acc == max(straight.history["val_acc"])
    restored = load_run(path)
    assert restored.class_names == straight.class_names
    assert restored.history == straight.history and restored.data_source == "digits"
    x = quadrant_data().val_x
    np.testing.assert_array_equal(restored.predict(x), straight.predict(x))


def test_a_run_file_is_a_plain_npz_without_pickles(straight, tmp_path):
    path = tmp_path / "run.ckpt"
    save_run(straight, path)
    with np.load(path, allow_pickle=False) as archive:
        assert "meta" in archive.files and all(archive[k].dtype != object for k in archive.files)


def version_1(run, tmp_path, change_meta=None):
    """`run` saved in the format before runs: position in batches and the curves inside the
    record."""
    entries = read_entries(save(run, tmp_path))
    meta = json.loads(str(entries["meta"]))
    meta["history"] = {k: list(v) for k, v in run.history.items()}
    for key in ("offset", "name", "created", "network_file", "data_name"):
        del meta[key]
    meta |= {"version": 1, "batch": 0}
    if change_meta:
        change_meta(meta)
    entries = {k: v for k, v in entries.items() if not k.startswith("history/")}
    entries["meta"] = np.array(json.dumps(meta))
    return write_entries(tmp_path / "old run.ckpt", entries)


def test_version_1_files_still_open(straight, tmp_path):
    run = load_run(version_1(straight, tmp_path))
    assert run.history == straight.history and run.name == "old run"
    assert (run.epoch, run.offset) == (2, 0)


# --- damaged, foreign and hand-edited files ---------------------------------------------------
def save(run, tmp_path):
    path = tmp_path / "run.ckpt"
    save_run(run, path)
    return path


def read_entries(path):
    with np.load(path, allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files}


def write_entries(path, entries):
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    path.write_bytes(buffer.getvalue())
    return path


def edited(run, tmp_path, change_entries=None, change_meta=None):
    path = save(run, tmp_path)
    entries = read_entries(path)
    if change_meta:
        meta = json.loads(str(entries["meta"]))
        change_meta(meta)
        entries["meta"] = np.array(json.dumps(meta))
    if change_entries:
        change_entries(entries)
    return write_entries(path, entries)


def one_sentence(error):
    text = str(error)
    assert "\n" not in text and text.endswith(".") and "Traceback" not in text
    return text


def refused(path, *fragments):
    with pytest.raises(CheckpointError) as e:
        load_run(path)
    text = one_sentence(e.value)
    for fragment in fragments:
        assert fragment in text
    return text


@pytest.mark.parametrize("content,expected", [
    (b"", "is not a ConvNet Designer run file"),
    (b"\x00garbage" * 100, "is not a ConvNet Designer run file"),
    (b'{"format": "convnet-designer", "version": 1, "layers": []}',
     "is not a ConvNet Designer run file"),
])
def test_foreign_files_are_refused(tmp_path, content, expected):
    path = tmp_path / "x.ckpt"
    path.write_bytes(content)
    refused(path, expected)


def test_truncated_and_other_npz_files_are_refused(straight, tmp_path):
    path = save(straight, tmp_path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    refused(path)
    write_entries(path, {"weights": np.ones(3)})
    refused(path, "no readable training record")
    refused(tmp_path / "missing.ckpt", "does not exist")
    refused(tmp_path, "is a folder")


def test_devices_and_pipes_are_refused_without_reading_them(tmp_path):
    fifo = tmp_path / "pipe.ckpt"
    os.mkfifo(fifo)
    refused(fifo, "not a file")
    if os.path.exists("/dev/zero"):
        refused("/dev/zero", "not a file")


def drop(key_start):
    def change(entries):
        del entries[next(k for k in entries if k.startswith(key_start))]
    return change


def reshape_first(key_start, shape):
    def change(entries):
        key = next(k for k in entries if k.startswith(key_start))
        entries[key] = np.zeros(shape, np.float32)
    return change


def set_meta(key, value):
    return lambda meta: meta.__setitem__(key, value)


@pytest.mark.parametrize("entries,meta,fragment", [
    (reshape_first("param/", (1, 2)), None, "has shape (1, 2) but its network needs"),
    (reshape_first("optim/", (7,)), None, "has shape (7,) but its network needs"),
    (drop("optim/"), None, "its optimizer cache lacks entry"),
    (drop("param/"), None, "is missing"),
    (drop("buffer/"), None, "is missing"),
    (drop("norm/mean"), None, "'norm/mean' is missing"),
    (drop("history/loss"), None, "'history/loss' is missing"),
    (lambda e: e.__setitem__("extra/thing", np.ones(2)), None, "unknown entry 'extra/thing'"),
    (lambda e: e.__setitem__("optim/nowhere/W/0", np.ones(2)), None, "unknown entry"),
    (lambda e: e.__setitem__(next(k for k in e if k.startswith("param/")),
                             np.full_like(e[next(k for k in e if k.startswith("param/"))],
                                          np.nan)), None, "not finite"),
    (lambda e: e.__setitem__(next(k for k in e if k.startswith("param/")),
                             e[next(k for k in e if k.startswith("param/"))].astype(np.int32)),
     None, "not floating-point numbers"),
    (lambda e: e.__setitem__("history/loss", np.ones(3)), None, "different lengths"),
    (lambda e: e.__setitem__("norm/std", -e["norm/std"]), None, "not positive"),
    (lambda e: e.__setitem__("norm/mode", np.array("median")), None, "'median' is unknown"),
    (None, set_meta("epoch", "two"), "'epoch' is not a whole number"),
    (None, set_meta("offset", -3), "'offset' is not a whole number"),
    (None, set_meta("step", 2.5), "'step' is not a whole number"),
    (None, set_meta("running", {"loss": 0}), "'running' is not"),
    (None, set_meta("class_names", ["a"]), "a list of 3 class names"),
    (None, set_meta("class_names", ["a", 2, "c"]), "a list of 3 class names"),
    (None, set_meta("class_names", ["a", "\ud800", "c"]), "a list of 3 class names"),
    (None, set_meta("rng", {"state": 1}), "random-generator state is damaged"),
    (None, set_meta("name", 7), "'name' is not text"),
    (None, set_meta("created", "yesterday"), "'created' is not a date"),
    (None, set_meta("optimizer_steps", None), "'optimizer_steps' is not a whole number"),
    (None, lambda m: m["config"].__setitem__("lr", "fast"), "'lr' is not a float value"),
    (None, lambda m: m["config"].__setitem__("batch_size", True), "'batch_size' is not"),
    (None, lambda m: m["config"].pop("seed"), "lack 'seed'"),
    (None, lambda m: m["config"].__setitem__("lr", -1.0), "learning rate must be"),
    (None, lambda m: m.pop("data_name"), "has no 'data_name'"),
    (None, lambda m: m["spec"]["layers"].pop(1), "its network"),
    (None, set_meta("spec", []), "'spec' is not a network"),
])
def test_hand_edited_run_files_are_one_sentence(straight, tmp_path, entries, meta, fragment):
    refused(edited(straight, tmp_path, entries, meta), "is damaged or was edited by hand",
            fragment)


def set_curve(key, value):
    return lambda meta: meta["history"][key].__setitem__(0, value)


def steps_past_int64(entries):
    entries["history/step"] = entries["history/step"].astype(np.uint64) + np.uint64(2 ** 63)


@pytest.mark.parametrize("version,change,fragment", [
    (2, set_meta("running", {"loss": 10 ** 400, "correct": 0, "seen": 0, "steps": 0}),
     "'running' is not the sums of an epoch in progress"),
    (2, set_meta("running", {"loss": float("nan"), "correct": 0, "seen": 0, "steps": 0}),
     "'running' is not the sums of an epoch in progress"),
    (2, steps_past_int64, "'history/step' holds values that are not whole numbers"),
    (1, set_meta("running", 7), "'running' is not the sums of an epoch in progress"),
    (1, set_meta("running", "abc"), "'running' is not the sums of an epoch in progress"),
    (1, set_curve("step", float("nan")), "'history' is not the curves of a run"),
    (1, set_curve("step", 10 ** 90), "'history' is not the curves of a run"),
    (1, set_curve("loss", 10 ** 400), "'history' is not the curves of a run"),
])
def test_values_a_run_could_not_train_on_or_save_again_are_refused(straight, tmp_path, version,
                                                                   change, fragment):
    if version == 1:
        path = version_1(straight, tmp_path, change)
    elif change is steps_past_int64:
        path = edited(straight, tmp_path, change_entries=change)
    else:
        path = edited(straight, tmp_path, change_meta=change)
    refused(path, "is damaged or was edited by hand", fragment)


def test_a_run_file_that_opens_can_be_saved_again(straight, tmp_path):
    """Whole numbers where floats belong, and NaN where an epoch had no validation, are
    what a run can hold: they open, and save again."""
    def change(meta):
        meta["history"]["loss"] = [round(v) for v in meta["history"]["loss"]]
        meta["history"]["val_acc"][0] = float("nan")
        meta["running"]["loss"] = 3
    run = load_run(version_1(straight, tmp_path, change))
    save_run(run, tmp_path / "again.ckpt")
    again = load_run(tmp_path / "again.ckpt")
    assert again.history["loss"] == [float(round(v)) for v in straight.history["loss"]]
    assert again.running["loss"] == 3.0


def test_sgd_runs_keep_no_cache_and_adam_runs_before_a_step_none(tmp_path):
    for optimizer, epochs in (("sgd", 1), ("adam", 0)):
        trainer = make_trainer(optimizer=optimizer, epochs=epochs, batch_size=32)
        list(trainer.train())
        assert load_run(save(trainer.run, tmp_path)).optimizer.slots == []


def test_declared_sizes_are_checked_before_anything_is_allocated(straight, tmp_path):
    """A header that announces a trillion floats, or a training record of gigabytes, is
    refused from its header alone."""
    path = save(straight, tmp_path)
    entries = read_entries(path)
    key = next(k for k in entries if k.startswith("param/"))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f4", "fortran_order": False, "shape": (10 ** 13,)})
    with zipfile.ZipFile(path, "w") as archive:
        for name, value in entries.items():
            member = io.BytesIO()
            np.save(member, value)
            forged = header.getvalue() + b"\0" * 64
            archive.writestr(name + ".npy", forged if name == key else member.getvalue())
    refused(path, f"{key} in 'run.ckpt' is damaged", "do not match")
    write_entries(path, {"meta": np.array("x" * 20_000_000)})
    refused(path, "'meta' is not a text of at most")


def test_a_continued_run_keeps_its_normalisation():
    trainer = make_trainer(epochs=1)
    with pytest.raises(TrainingError, match="keeps its normalization"):
        trainer.run.continued(normalization="image")


# --- saving ----------------------------------------------------------------------------------
def test_saving_keeps_the_file_mode_and_writes_through_links(straight, tmp_path):
    target = tmp_path / "real.ckpt"
    save_run(straight, target)
    os.chmod(target, 0o640)
    link = tmp_path / "link.ckpt"
    link.symlink_to(target)
    save_run(straight, link)
    assert link.is_symlink() and stat.S_IMODE(target.stat().st_mode) == 0o640
    assert load_run(link).step == straight.step
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.ckpt", "real.ckpt"]


def test_a_new_file_gets_the_umask_mode(straight, tmp_path):
    old = os.umask(0o027)
    try:
        save_run(straight, tmp_path / "new.ckpt")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "new.ckpt").stat().st_mode) == 0o640


def test_a_failed_save_leaves_the_old_file_and_no_temporary(straight, tmp_path, monkeypatch):
    path = save(straight, tmp_path)
    before = path.read_bytes()

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", full_disk)
    with pytest.raises(CheckpointError, match="No space left on device") as e:
        save_run(straight, path)
    one_sentence(e.value)
    assert path.read_bytes() == before and os.listdir(tmp_path) == ["run.ckpt"]
