"""Impossible numbers and paths that cannot be looked at, on the command line: one sentence
on stderr and exit status 2, before any work is done."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import pytest

from main import main

HUGE = str(10 ** 30)


def refused(argv: list[str], capsys, fragment: str) -> None:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith("error: ") and err.count("\n") == 1 and fragment in err
    assert "step" not in out  # nothing trained


@pytest.mark.parametrize("argv,fragment", [
    (["data", "digits", "--seed", "-1"], "seed of the validation split must be 0 or more"),
    *[(["summary", "default", "--budget-gib", gib], "--budget-gib must be above 0 and at most")
      for gib in ("nan", "inf", "-1", "0", "1e300")],
    (["summary", "default", "--batch-size", HUGE], "--batch-size must be from 1 to 16,777,216"),
    (["bench", "default", "--batch-size", HUGE], "--batch-size must be from 1 to 16,777,216"),
    (["bench", "default", "--repeats", HUGE], "--repeats must be from 1 to 1,000"),
    (["train", "default", "--epochs", HUGE], "number of epochs must be from 0 to 100,000"),
    (["train", "default", "--batch-size", HUGE], "batch size must be from 1 to 16,777,216"),
    (["lr-find", "default", "--batch-size", HUGE], "batch size must be from 1 to 16,777,216"),
    (["train", "default", "--crop-pad", "1000000000"], "crop padding must be from 0 to 64"),
    (["train", "default", "--crop-pad", "8"], "smaller than the images' 8-pixel side"),
])
def test_impossible_numbers_are_one_sentence(argv, fragment, capsys):
    refused(argv, capsys, fragment)


@pytest.fixture
def locked_folder(tmp_path, monkeypatch):
    """A folder that may not be entered, as for a user without the right (root may enter
    any folder, so the refusal is staged)."""
    folder = tmp_path / "locked"
    real_stat = os.stat

    def stat(path, *args, **kwargs):
        if os.fspath(path).startswith(str(folder)):
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(path))
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", stat)
    return folder


@pytest.mark.parametrize("command", ["summary", "train", "bench", "lr-find"])
def test_a_network_in_a_folder_that_may_not_be_entered_is_one_sentence(command, locked_folder,
                                                                        capsys):
    refused([command, str(locked_folder / "net.json")], capsys,
            "net.json' cannot be read: Permission denied; check the path and that you may open "
            "the folders on it")


def test_a_network_path_too_long_for_the_system_is_one_sentence(capsys):
    refused(["summary", "n" * 300 + ".json"], capsys, "cannot be read: File name too long")


def test_a_reader_that_goes_away_gets_no_traceback():
    """`main.py summary vgg16 | head -1`: the pipe closes before the output is written."""
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen([sys.executable, str(root / "main.py"), "summary", "vgg16"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=root)
    process.stdout.close()
    error = process.stderr.read()
    assert process.wait(timeout=60) == 1 and b"Traceback" not in error and not error
