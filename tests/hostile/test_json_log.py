"""`main.py train --json-log` on a pipe nobody reads and on a disk that fills up: one
sentence on stderr, and no trained step lost."""

from __future__ import annotations

import errno
import io
import json
import os

import numpy as np
import pytest

import engine.commands.train as train_command
from engine.checkpoint import load_run
from engine.commands import invocation
from engine.data import load_data
from main import main

TRAIN = ["train", "default", "--epochs", "1", "--batch-size", "128"]


def one_sentence(capsys, *fragments: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    for fragment in fragments:
        assert fragment in err


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_pipe_nobody_reads_is_one_sentence_not_a_wait(tmp_path, capsys):
    pipe = tmp_path / "log.pipe"
    os.mkfifo(pipe)
    assert main([*TRAIN, "--save", str(tmp_path / "r.ckpt"), "--json-log", str(pipe)]) == 2
    one_sentence(capsys, f"Nothing is reading the pipe '{pipe}'; start its reader first, or "
                         "give --json-log a file.")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_pipe_with_a_reader_gets_the_log(tmp_path, capsys):
    pipe = tmp_path / "log.pipe"
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert main([*TRAIN, "--save", str(tmp_path / "r.ckpt"), "--json-log", str(pipe)]) == 0
        records = [json.loads(line) for line in os.read(reader, 1 << 16).splitlines()]
    finally:
        os.close(reader)
    assert [r["event"] for r in records] == ["step"] * 13 + ["epoch"]


class FullDisk(io.StringIO):
    """A log whose disk is full after `lines` lines."""

    def __init__(self, lines: int):
        super().__init__()
        self.lines = lines

    def write(self, text: str) -> int:
        if self.getvalue().count("\n") >= self.lines:
            raise OSError(errno.ENOSPC, "No space left on device")
        return super().write(text)


def test_a_log_on_a_full_disk_stops_training_and_keeps_the_run(tmp_path, capsys, monkeypatch):
    log = FullDisk(lines=5)
    monkeypatch.setattr(train_command, "_open_log", lambda path: log)
    keep = tmp_path / "r.ckpt"
    assert main([*TRAIN, "--save", str(keep), "--json-log", "full.jsonl"]) == 2
    one_sentence(capsys, "Could not write to the log 'full.jsonl': No space left on device; "
                         f"training stopped after step 6 and the run was saved in {keep}: free "
                         "some space or give --json-log another file, and continue it with "
                         f"{invocation()} train --resume {keep} --epochs 1.")
    assert log.closed
    run = load_run(keep)
    assert (run.epoch, run.step, run.offset) == (0, 6, 6 * 128)
    digits = load_data("digits")
    assert np.isfinite(run.evaluate(digits.val_x, digits.val_y)[0])
    assert main(["train", "--resume", str(keep)]) == 0  # and it goes on from there
    assert load_run(keep).epoch == 1


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full on this system")
def test_a_log_on_dev_full_is_one_sentence(tmp_path, capsys):
    keep = tmp_path / "r.ckpt"
    assert main([*TRAIN, "--save", str(keep), "--json-log", "/dev/full"]) == 2
    one_sentence(capsys, "Could not write to the log '/dev/full': No space left on device; "
                         "training stopped after step 1")
    assert load_run(keep).step == 1


def test_a_log_name_no_file_may_have_is_one_sentence(tmp_path, capsys):
    assert main([*TRAIN, "--save", str(tmp_path / "r.ckpt"), "--json-log", "log\0.jsonl"]) == 2
    one_sentence(capsys, "holds a character no file name may hold")
