"""`python main.py data PATH` describes what it finds, and fails with one sentence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from data_files import random_images, write_cifar10_python, write_image_folder

from main import main

ROOT = Path(__file__).resolve().parents[2]
# Root enters any folder through these capabilities; without them it is refused like a user.
_NO_OVERRIDE = "-dac_override,-dac_read_search"
AS_A_USER = ["setpriv", "--bounding-set", _NO_OVERRIDE, "--inh-caps", _NO_OVERRIDE] \
    if os.geteuid() == 0 else []


def test_describes_embedded_digits(capsys):
    assert main(["data", "digits"]) == 0
    out = capsys.readouterr().out
    assert "UCI digits (embedded)" in out and "format:      embedded" in out
    assert "8×8×1" in out and "1,797 training images, no test split" in out
    assert "180 images (10% of each class, seed 0)" in out and "leaving 1,617" in out
    assert ["0", "0", "178", "—"] in [line.split() for line in out.splitlines()]


def test_describes_cifar_on_disk_with_test_counts(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = random_images(rng, 40)
    folder = write_cifar10_python(tmp_path / "c", x, np.arange(40) % 10, x[:10],
                                  np.zeros(10, int))
    assert main(["data", str(folder), "--val-fraction", "0.25", "--seed", "4"]) == 0
    out = capsys.readouterr().out
    assert "format:      cifar10-python" in out and "32×32×3" in out
    assert "40 training images, 10 test images (the official test split)" in out
    assert "10 images (25% of each class, seed 4)" in out and "leaving 30" in out
    rows = [line.split() for line in out.splitlines()]
    assert ["0", "airplane", "4", "10"] in rows and ["9", "truck", "4", "0"] in rows


def test_image_folder_is_read_at_the_networks_input(tmp_path, capsys):
    folder = write_image_folder(tmp_path / "p", {"a": [np.zeros((20, 30, 3), np.uint8)] * 3,
                                                 "b": [np.zeros((10, 10, 3), np.uint8)] * 2})
    assert main(["data", str(folder), "--network", "default"]) == 0
    out = capsys.readouterr().out
    assert "format:      image-folder" in out and "8×8×1" in out
    assert "stored sizes from 10×10 to 30×20" in out


def test_error_is_one_line(tmp_path, capsys):
    assert main(["data", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "does not exist" in err


def test_volume_mismatch_is_reported(capsys):
    assert main(["data", "shapes", "--network", "default"]) == 2
    assert "32×32×3 but the network's input is 8×8×1" in capsys.readouterr().err


@pytest.mark.skipif(AS_A_USER and not shutil.which("setpriv"), reason="root without setpriv")
def test_a_file_in_a_folder_that_cannot_be_entered_is_one_sentence(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    np.savez(locked / "a.npz", x=np.zeros((2, 4, 4, 1), np.uint8), y=np.array([0, 1]))
    locked.chmod(0o600)  # readable, but its files cannot be reached
    try:
        done = subprocess.run([*AS_A_USER, sys.executable, str(ROOT / "main.py"), "data",
                               str(locked / "a.npz")], capture_output=True, text=True,
                              cwd=tmp_path, timeout=60, check=False)
    finally:
        locked.chmod(0o700)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr == (f"error: {locked / 'a.npz'} cannot be read: Permission denied; "
                           f"check the path and that you may open the folders on it.\n")
