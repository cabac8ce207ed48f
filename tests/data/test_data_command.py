"""`python main.py data PATH` describes what it finds, and fails with one sentence."""

from __future__ import annotations

import numpy as np
from data_files import random_images, write_cifar10_python, write_image_folder

from main import main


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
