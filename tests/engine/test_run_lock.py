"""One process at a time trains a run file (`engine.run_lock`): a second one is refused in
one sentence and nothing it would have saved over is lost."""

import os
import signal
from pathlib import Path

import pytest

from engine.checkpoint import CheckpointError, load_run, read_run_summary
from engine.run_files import delete_run, rename_run
from engine.runs import list_runs
from engine.run_lock import RunBusy, lock_path, training_holder, training_lock
from engine.trainer import Trainer
from main import main
from tests.engine.trainer_helpers import another_process_training, make_trainer, quadrant_data

pytestmark = pytest.mark.skipif(os.name != "posix", reason="kills a holder with SIGKILL")


def trained_run(path: Path, epochs: int = 1) -> None:
    """A small run trained for `epochs` and kept at `path`."""
    for _ in make_trainer(keep_at=path, epochs=epochs, batch_size=20).train():
        pass


def test_a_run_another_process_trains_is_not_continued(tmp_path, capsys):
    keep = tmp_path / "digits.ckpt"
    assert main(["train", "default", "--epochs", "1", "--batch-size", "128",
                 "--save", str(keep)]) == 0
    before = keep.read_bytes()
    capsys.readouterr()
    with another_process_training(keep) as child:
        assert main(["train", "--resume", str(keep), "--epochs", "2"]) != 0
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert f"'digits.ckpt' is being trained by another process (process {child.pid})" in err
    assert keep.read_bytes() == before


def test_the_lock_goes_with_its_process_however_it_ends(tmp_path):
    keep = tmp_path / "run.ckpt"
    with another_process_training(keep) as child:
        assert training_holder(keep) == child.pid
        with pytest.raises(RunBusy, match=f"process {child.pid}"):
            with training_lock(keep):
                pass
        child.send_signal(signal.SIGKILL)
        child.wait()
        assert training_holder(keep) is None
    with training_lock(keep):
        assert training_holder(keep) == os.getpid()
    assert not lock_path(keep).exists()


def test_one_trainer_at_a_time_in_one_process_too(tmp_path):
    keep = tmp_path / "run.ckpt"
    with training_lock(keep):
        with pytest.raises(RunBusy, match="already being trained here"):
            with training_lock(keep):
                pass
    with training_lock(keep):
        pass


def test_a_copy_older_than_its_file_is_not_trained_over_it(tmp_path):
    """The window opened the run; meanwhile another process trained it further. Continuing
    the window's copy would save its older state over those epochs."""
    keep = tmp_path / "run.ckpt"
    trained_run(keep)
    data = quadrant_data()
    opened_here = load_run(keep)
    trained_elsewhere = load_run(keep)
    trained_elsewhere.continued(epochs=2)
    for _ in Trainer(trained_elsewhere, data, keep_at=keep).train():
        pass
    further = keep.read_bytes()
    opened_here.continued(epochs=3)
    with pytest.raises(RunBusy, match=r"trained further elsewhere .* step 6, this copy at 3\)"):
        next(Trainer(opened_here, data, keep_at=keep).train())
    assert keep.read_bytes() == further and not lock_path(keep).exists()
    again = load_run(keep)
    again.continued(epochs=3)
    for _ in Trainer(again, data, keep_at=keep).train():
        pass
    assert read_run_summary(keep).epochs_done == 3


def test_a_run_is_written_first_only_where_its_file_does_not_hold_it(tmp_path):
    """Continuing into its own file writes nothing before the first epoch ends; into a new
    place (`--save`) the run is written first, so a place it cannot be kept is found then."""
    keep, elsewhere = tmp_path / "run.ckpt", tmp_path / "copy.ckpt"
    trained_run(keep)
    run, finished = load_run(keep), load_run(keep)
    run.continued(epochs=2)
    written = keep.stat().st_mtime_ns
    events = Trainer(run, quadrant_data(), keep_at=keep).train()
    next(events)
    assert keep.stat().st_mtime_ns == written
    events.close()   # stopped: saved
    assert read_run_summary(keep).step == finished.step + 1
    events = Trainer(finished, quadrant_data(), keep_at=elsewhere).train()
    with pytest.raises(StopIteration):
        next(events)   # trained already to its last epoch
    assert read_run_summary(elsewhere).step == finished.step


def test_a_run_another_process_trains_is_not_renamed_or_deleted(tmp_path):
    keep = tmp_path / "run.ckpt"
    trained_run(keep)
    with another_process_training(keep) as child:
        with pytest.raises(RunBusy, match=rf"cannot be renamed while another process \(process "
                                          rf"{child.pid}\) trains it"):
            rename_run(keep, "better name")
        with pytest.raises(RunBusy, match="cannot be deleted"):
            delete_run(keep)
    assert keep.exists() and read_run_summary(keep).name != "better name"
    assert rename_run(keep, "better name").name == "better name"


@pytest.mark.parametrize("kind", ["link", "folder", "fifo"])
def test_a_lock_file_that_is_not_a_plain_file_is_left_alone(tmp_path, kind):
    keep, victim = tmp_path / "run.ckpt", tmp_path / "precious.txt"
    victim.write_text("keep me")
    lock = lock_path(keep)
    if kind == "link":
        lock.symlink_to(victim)
    elif kind == "folder":
        lock.mkdir()
    else:
        os.mkfifo(lock)
    with training_lock(keep):
        assert training_holder(keep) is None
    assert victim.read_text() == "keep me" and os.path.lexists(lock)


def test_a_run_whose_folder_became_read_only_is_refused_before_it_trains(tmp_path, monkeypatch):
    folder = tmp_path / "runs"
    folder.mkdir()
    keep = folder / "run.ckpt"
    trained_run(keep)
    run = load_run(keep)
    run.continued(epochs=2)
    opening = os.open

    def read_only(path, flags, *args):   # as root, chmod would not stop the writes
        if Path(path).parent == folder and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT):
            raise PermissionError(13, "Permission denied", str(path))
        return opening(path, flags, *args)
    monkeypatch.setattr(os, "open", read_only)
    with pytest.raises(CheckpointError, match="Could not save the run .*Permission denied"):
        next(Trainer(run, quadrant_data(), keep_at=keep).train())
    monkeypatch.undo()
    assert run.step == read_run_summary(keep).step   # nothing trained


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="finds a descriptor's file in /proc")
def test_a_run_whose_lock_file_takes_no_write_is_written_before_it_trains(tmp_path,
                                                                           monkeypatch):
    """On a full disk the lock file can be made but not written: the run is then written
    first, so that a save that cannot succeed fails before any training is lost."""
    keep = tmp_path / "run.ckpt"
    trained_run(keep)
    run = load_run(keep)
    run.continued(epochs=2)
    written, writing = keep.stat().st_mtime_ns, os.write

    def full(fd, data):
        if os.readlink(f"/proc/self/fd/{fd}").endswith(".lock"):
            raise OSError(28, "No space left on device")
        return writing(fd, data)
    monkeypatch.setattr(os, "write", full)
    events = Trainer(run, quadrant_data(), keep_at=keep).train()
    next(events)
    assert keep.stat().st_mtime_ns != written
    events.close()


def test_listing_runs_sweeps_the_locks_killed_trainers_left(tmp_path):
    keep, busy = tmp_path / "run.ckpt", tmp_path / "busy.ckpt"
    trained_run(keep)
    with another_process_training(keep) as child:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert lock_path(keep).exists()                  # the kill left it behind
    with another_process_training(busy) as child:
        runs, _ = list_runs(tmp_path)
        assert not lock_path(keep).exists()
        assert lock_path(busy).exists() and training_holder(busy) == child.pid
    assert [r.path for r in runs] == [keep]
