"""`main.py train` and `main.py bench` end to end on the default template."""

import json
import os
from pathlib import Path

import numpy as np
import pytest

from engine.commands.train import default_checkpoint_path
from engine.data import load_data
from engine.resources import network_template
from main import main

DEFAULT = "default"  # a template, named as a user names it


def test_train_saves_logs_and_resumes(tmp_path, capsys):
    ckpt, log = tmp_path / "digits.ckpt", tmp_path / "log.jsonl"
    assert main(["train", DEFAULT, "--epochs", "1", "--save", str(ckpt),
                 "--json-log", str(log)]) == 0
    out = capsys.readouterr().out
    assert "UCI digits" in out and "epoch 1/1 step 51/51" in out and "images/s" in out
    assert "validation accuracy" in out and ckpt.exists()
    records = [json.loads(line) for line in log.read_text().splitlines()]
    steps = [r for r in records if r["event"] == "step"]
    epochs = [r for r in records if r["event"] == "epoch"]
    assert len(steps) == 51 and len(epochs) == 1
    assert epochs[0]["val_acc"] > 0.5  # well above chance (10%) after one epoch
    assert main(["train", "--resume", str(ckpt), "--epochs", "2", "--lr", "0.005"]) == 0
    out = capsys.readouterr().out
    assert "epoch 2/2:" in out and "lr 0.005" in out


def test_default_checkpoint_name_is_next_to_the_network(tmp_path, capsys):
    net = tmp_path / "net.json"
    net.write_bytes(network_template(DEFAULT).read_bytes())
    assert main(["train", str(net), "--epochs", "0"]) == 0
    assert "Already trained for 0 epochs" in capsys.readouterr().out
    assert main(["train", str(net), "--epochs", "1", "--batch-size", "128"]) == 0
    assert (tmp_path / "net.ckpt").exists()


def test_a_template_trains_into_the_working_directory(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["train", DEFAULT, "--epochs", "1", "--batch-size", "128"]) == 0
    assert "Saved default.ckpt" in capsys.readouterr().out
    assert (tmp_path / "default.ckpt").exists()
    assert not list(network_template(DEFAULT).parent.glob("*.ckpt"))


def test_an_unwritable_folder_puts_the_checkpoint_in_the_working_directory(tmp_path, monkeypatch):
    net = tmp_path / "net.json"
    assert default_checkpoint_path(net) == net.with_suffix(".ckpt")
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert default_checkpoint_path(net) == Path("net.ckpt")


@pytest.mark.parametrize("argv,message", [
    (["train"], "Name a network file to train"),
    (["train", DEFAULT, "--resume", "x.ckpt"], "not both"),
    (["train", "--resume", "missing.ckpt"], "does not exist"),
    (["train", DEFAULT, "--lr", "-1"], "learning rate must be a positive number"),
    (["train", DEFAULT, "--data", "no/such/folder"], "does not exist"),
])
def test_train_errors_are_one_line(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1


def test_bench_prints_per_layer_times(capsys):
    assert main(["bench", DEFAULT, "--batch-size", "8", "--repeats", "2"]) == 0
    out = capsys.readouterr().out
    for text in ("conv1", "pool2", "forward ms", "backward ms", "images/s"):
        assert text in out


def test_train_reports_accuracy_on_the_official_test_split(tmp_path, capsys):
    digits = load_data("digits")
    path = tmp_path / "digits.npz"
    np.savez(path, x=digits.train_x, y=digits.train_y, x_test=digits.val_x, y_test=digits.val_y)
    assert main(["train", DEFAULT, "--data", str(path), "--epochs", "2",
                 "--save", str(tmp_path / "d.ckpt")]) == 0
    out = capsys.readouterr().out
    line = next(l for l in out.splitlines() if l.startswith("test accuracy"))
    assert f"on the {len(digits.val_x):,} images of the official test split" in line
    assert float(line.split()[2].rstrip("%")) > 50
