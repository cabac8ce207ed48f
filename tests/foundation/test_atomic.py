"""Atomic saves: the old file or the new one, never a mix; the file's mode and links kept;
no temporary file outlives the next save, even after a kill."""

import multiprocessing
import os
import signal
import stat
import time

import numpy as np
import pytest

from engine.atomic import atomic_write, remove_stale_temporaries
from engine.checkpoint import load_run, save_run
from engine.netfile import load_network, save_network
from engine.spec import make_layer, network
from tests.engine.trainer_helpers import make_trainer

KILLS = 1000


def temporaries(folder):
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def test_saving_a_network_keeps_its_mode_and_its_link(tmp_path):
    spec = network("n", (8, 8, 1), make_layer("fc"), make_layer("softmax"))
    real = tmp_path / "real.json"
    save_network(spec, real)
    os.chmod(real, 0o644)
    save_network(spec.renamed("again"), real)
    assert stat.S_IMODE(real.stat().st_mode) == 0o644
    link = tmp_path / "link.json"
    link.symlink_to(real)
    save_network(spec.renamed("through the link"), link)
    assert link.is_symlink() and load_network(real).name == "through the link"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "file.bin"
    atomic_write(path, b"old")

    def fail(f):
        f.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        atomic_write(path, fail)
    assert path.read_bytes() == b"old" and temporaries(tmp_path) == []


@pytest.mark.parametrize("hard_links", [True, False])
def test_an_exclusive_write_never_replaces_a_file(tmp_path, monkeypatch, hard_links):
    """A new file's name is claimed by the write itself, also where the file system has no
    hard links (FAT): a file that appeared meanwhile is kept, whole, and nothing is left."""
    if not hard_links:
        monkeypatch.setattr(os, "link", lambda *a: (_ for _ in ()).throw(
            PermissionError(1, "Operation not permitted")))
    path = tmp_path / "run.ckpt"
    atomic_write(path, b"new", exclusive=True)
    assert path.read_bytes() == b"new"
    with pytest.raises(FileExistsError):
        atomic_write(path, b"other", exclusive=True)
    assert path.read_bytes() == b"new" and temporaries(tmp_path) == []


def test_stale_temporaries_of_dead_processes_go_and_live_ones_stay(tmp_path):
    path = tmp_path / "file.bin"
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,))
    child.start()
    try:
        dead = tmp_path / f".file.bin.{2 ** 22 + 12345}.abcd.tmp"  # above Linux's pid limit
        live = tmp_path / f".file.bin.{child.pid}.abcd.tmp"
        for stray in (dead, live):
            stray.write_bytes(b"partial")
        atomic_write(path, b"new")
        assert temporaries(tmp_path) == [live.name]
    finally:
        child.kill()
        child.join()
    assert remove_stale_temporaries(path) == 1 and temporaries(tmp_path) == []


def save_until_killed(run, path) -> int:
    """Fork a process that saves `run` to `path` over and over; returns its pid."""
    pid = os.fork()
    if pid == 0:  # the child never returns into the test runner
        try:
            while True:
                save_run(run, path)
        finally:
            os._exit(0)
    return pid


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork and SIGKILL")
def test_killing_saves_at_random_moments_leaves_no_corrupt_file_and_no_temporary(tmp_path):
    """1,000 saves of a run file killed at random moments: the file always loads with the
    right weights, and the next save leaves no temporary file behind."""
    trainer = make_trainer(epochs=1, optimizer="adam")
    list(trainer.train())
    run, path = trainer.run, tmp_path / "run.ckpt"
    fc = next(l.id for l in run.spec.layers if l.type == "fc")
    save_run(run, path)
    started = time.perf_counter()
    save_run(run, path)
    save_time = time.perf_counter() - started
    expected = run.weights(fc)["W"]
    rng = np.random.default_rng(0)
    begun = time.perf_counter()
    for _ in range(KILLS):
        pid = save_until_killed(run, path)
        time.sleep(rng.uniform(0, 2 * save_time))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        assert np.array_equal(load_run(path).weights(fc)["W"], expected)
    left = len(temporaries(tmp_path))
    save_run(run, path)
    assert temporaries(tmp_path) == []
    print(f"{KILLS} kills in {time.perf_counter() - begun:.1f} s left {left} temporary files "
          f"(all gone after the next save); a save takes {1e3 * save_time:.1f} ms")


def test_listing_runs_sweeps_what_killed_saves_left_of_any_run(tmp_path):
    """A run killed mid-save and never saved again leaves no temporary for good."""
    from engine.runs import list_runs

    dead = 2 ** 22 + 12345  # above Linux's pid limit: no such process
    strays = [tmp_path / f".My.net-20261130-101500.ckpt.{dead}.abcd.tmp",  # its run is gone
              tmp_path / f".other.json.{dead}.abcd.tmp"]                   # not a run's
    for stray in strays:
        stray.write_bytes(b"partial")
    child = multiprocessing.get_context("fork").Process(target=time.sleep, args=(30,))
    child.start()
    try:
        live = tmp_path / f".saving.ckpt.{child.pid}.abcd.tmp"  # a save under way elsewhere
        live.write_bytes(b"partial")
        assert list_runs(tmp_path) == ([], [])
        assert sorted(temporaries(tmp_path)) == sorted([strays[1].name, live.name])
    finally:
        child.kill()
        child.join()
