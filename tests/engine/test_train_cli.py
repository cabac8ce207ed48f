"""`main.py train` and `main.py bench` end to end on the default template."""

import errno
import io
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from engine.checkpoint import load_run
from engine.data import load_data
from engine.resources import network_template
from engine.runs import runs_folder
from main import main

DEFAULT = "default"  # a template, named as a user names it
MAIN = Path(__file__).resolve().parents[2] / "main.py"


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


def test_runs_are_kept_in_a_runs_folder_beside_the_network(tmp_path, capsys):
    net = tmp_path / "net.json"
    net.write_bytes(network_template(DEFAULT).read_bytes())
    assert main(["train", str(net), "--epochs", "0"]) == 0
    assert "Already trained for 0 epochs" in capsys.readouterr().out
    assert main(["train", str(net), "--epochs", "1", "--batch-size", "128"]) == 0
    (run,) = (tmp_path / "runs").glob("*.ckpt")
    assert f"Saved {run}" in capsys.readouterr().out
    assert load_run(run).network_file == str(net)


def test_runs_of_a_template_go_to_the_user_data_folder(isolated_user_data, capsys):
    assert main(["train", DEFAULT, "--epochs", "1", "--batch-size", "128"]) == 0
    assert len(list((isolated_user_data / "runs").glob("*.ckpt"))) == 1


def test_a_diverging_run_is_saved_and_says_where(tmp_path, capsys):
    keep = tmp_path / "diverged.ckpt"
    assert main(["train", DEFAULT, "--epochs", "3", "--lr", "1e6", "--optimizer", "sgd",
                 "--save", str(keep)]) == 2
    err = capsys.readouterr().err
    assert "became NaN" in err and f"--resume {keep}" in err and err.count("\n") == 1
    run = load_run(keep)
    digits = load_data("digits")
    assert np.isfinite(run.evaluate(digits.val_x, digits.val_y)[0])


def test_stopping_saves_the_run_where_it_stopped(tmp_path, capsys, monkeypatch):
    import engine.commands.train as train_command

    original = train_command._progress

    def interrupt_at_step_5(event, *args):
        original(event, *args)
        if event.step == 5:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(train_command, "_progress", interrupt_at_step_5)
    keep = tmp_path / "stopped.ckpt"
    assert main(["train", DEFAULT, "--epochs", "2", "--save", str(keep)]) == 130
    assert "Continue with" in capsys.readouterr().out
    run = load_run(keep)
    assert (run.step, run.offset) == (5, 5 * 32)


def test_an_unwritable_folder_keeps_its_runs_in_the_user_data_folder(tmp_path, monkeypatch,
                                                                     isolated_user_data):
    net = tmp_path / "net.json"
    assert runs_folder(net) == tmp_path / "runs"
    monkeypatch.setattr(os, "access", lambda path, mode: False)
    assert runs_folder(net) == isolated_user_data / "runs"
    assert runs_folder(network_template(DEFAULT)) == isolated_user_data / "runs"


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


def refused_before_training(argv, capsys, *fragments):
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert "step" not in out and err.startswith("error: ") and err.count("\n") == 1
    for fragment in fragments:
        assert fragment in err


def test_a_run_that_cannot_be_kept_is_refused_before_it_trains(tmp_path, capsys, monkeypatch):
    a_file = tmp_path / "a file"
    a_file.write_text("")
    refused_before_training(["train", DEFAULT, "--save", str(a_file / "run.ckpt")], capsys,
                            f"Could not make the folder '{a_file}' to keep the run in",
                            "choose another place with --save")
    refused_before_training(["train", DEFAULT, "--save", str(tmp_path)], capsys,
                            f"Could not save the run '{tmp_path}': Is a directory")
    monkeypatch.setenv("CONVNET_DESIGNER_HOME", str(a_file / "home"))
    refused_before_training(["train", DEFAULT], capsys,
                            f"Could not make the folder '{a_file / 'home' / 'runs'}'")


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root may write in any folder")
def test_a_run_in_a_folder_it_may_not_write_is_refused_before_it_trains(tmp_path, capsys,
                                                                         monkeypatch):
    read_only, locked = tmp_path / "read-only", tmp_path / "locked"
    read_only.mkdir(0o555)
    locked.mkdir(0o600)
    try:
        refused_before_training(["train", DEFAULT, "--save", str(read_only / "sub" / "r.ckpt")],
                                capsys, "Permission denied")
        refused_before_training(["train", DEFAULT, "--save", str(read_only / "r.ckpt")], capsys,
                                "Permission denied")
        monkeypatch.setenv("CONVNET_DESIGNER_HOME", str(locked / "home"))
        refused_before_training(["train", DEFAULT], capsys, "Permission denied")
    finally:
        read_only.chmod(0o755)
        locked.chmod(0o755)


def test_a_log_that_cannot_be_written_is_refused_before_training(tmp_path, capsys):
    refused_before_training(["train", DEFAULT, "--save", str(tmp_path / "r.ckpt"), "--json-log",
                             str(tmp_path)], capsys,
                            f"Could not open the log '{tmp_path}': Is a directory; choose "
                            "another file with --json-log")


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


@pytest.mark.parametrize("command", ["train", "bench"])
@pytest.mark.parametrize("hidden", [
    [{"type": "fc", "name": "fc1", "units": 1_000_000}, {"type": "fc", "name": "fc2",
                                                        "units": 1_000_000}],
    [{"type": "conv", "name": "c", "filters": 65536, "size": 3, "stride": 1, "pad": 1},
     {"type": "gap", "name": "gap"}],
])
def test_a_network_too_big_for_memory_is_refused_before_allocating(tmp_path, capsys, command,
                                                                    hidden):
    import tracemalloc

    side = 4096 if hidden[0]["type"] == "conv" else 8
    layers = [{"type": "input", "name": "input", "width": side, "height": side, "depth": 3},
              *hidden, {"type": "fc", "name": "scores", "units": 10},
              {"type": "softmax", "name": "loss"}]
    net = tmp_path / "huge.json"
    net.write_text(json.dumps({"format": "convnet-designer", "version": 1, "name": "huge",
                               "layers": layers}), encoding="utf-8")
    tracemalloc.start()
    try:
        assert main([command, str(net)]) == 2
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    err = capsys.readouterr().err
    assert "GiB but only" in err and "is free" in err and err.count("\n") == 1
    assert peak < 64 * 2 ** 20


# --- kept whatever happens: runs started together, SIGTERM, a full disk ----------------------
def test_two_runs_of_a_network_started_in_the_same_second_keep_a_file_each(
        tmp_path, capsys, monkeypatch):
    """Another `train` of the same network (a sweep of learning rates started in parallel)
    starts in the same second and saves first: neither run overwrites the other's file."""
    import engine.commands.train as train_command
    import engine.run

    class SameSecond(engine.run.datetime):
        @classmethod
        def now(cls, tz=None):
            return cls(2026, 11, 30, 12, 0, 0)

    monkeypatch.setattr(engine.run, "datetime", SameSecond)
    net = tmp_path / "net.json"
    net.write_bytes(network_template(DEFAULT).read_bytes())
    argv = ["train", str(net), "--epochs", "1", "--batch-size", "128"]
    other = []

    class AnotherStartsMeanwhile(train_command.Trainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if not other:  # the other one, between this one's start and its first save
                other.append("started")
                other.append(main(argv + ["--lr", "0.02"]))

    monkeypatch.setattr(train_command, "Trainer", AnotherStartsMeanwhile)
    assert main(argv) == 0 and other == ["started", 0]
    runs = sorted((tmp_path / "runs").glob("*.ckpt"))
    assert [r.name for r in runs] == ["Default_digits_8_8-20261130-120000-2.ckpt",
                                      "Default_digits_8_8-20261130-120000.ckpt"]
    assert sorted(load_run(r).config.lr for r in runs) == [0.01, 0.02]


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="POSIX signals")
def test_sigterm_stops_after_the_current_batch_and_saves_the_run(tmp_path):
    """`kill`, `timeout` and job schedulers ask with SIGTERM: the run is saved where it
    stopped, as with Ctrl-C, not at the last epoch's end."""
    keep = tmp_path / "run.ckpt"
    child = subprocess.Popen([sys.executable, "-u", str(MAIN), "train", DEFAULT, "--epochs",
                              "1000", "--save", str(keep)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        printed = 0
        for line in child.stdout:  # plain lines: ten a epoch, "epoch 1/1000 step 5/51 …"
            if " step " in line:
                printed = int(line.split(" step ")[1].split("/")[0])
                if line.startswith("epoch 2/"):
                    break
        child.send_signal(signal.SIGTERM)
        out, _ = child.communicate(timeout=30)
    finally:
        child.kill()
    assert child.returncode == 128 + signal.SIGTERM
    assert "Stopped in epoch" in out and f"--resume {keep}" in out
    run = load_run(keep)
    assert run.epoch >= 1 and run.step >= 51 + printed


def test_a_full_disk_under_the_progress_stops_the_training_and_saves_the_run(
        tmp_path, capsys, monkeypatch):
    """`train … > log.txt` on a disk that fills up: one sentence, and the run saved as it
    was when the progress could not be written."""
    class FillsUp(io.StringIO):
        def write(self, text):
            if "step 20/51" in text:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write(text)

    monkeypatch.setattr("sys.stdout", FillsUp())
    keep = tmp_path / "run.ckpt"
    assert main(["train", DEFAULT, "--epochs", "2", "--save", str(keep)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Could not print the progress: No space left on device")
    assert f"the run was saved in {keep}" in err and err.count("\n") == 1
    assert load_run(keep).step == 20


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
def test_output_to_a_full_disk_is_one_sentence():
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, str(MAIN), "summary", DEFAULT], stdout=full,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr == "error: No space left on device.\n"


def test_suggested_commands_name_the_program_as_the_user_started_it(monkeypatch):
    from engine.commands import invocation

    monkeypatch.setattr(sys, "argv", ["/home/me/convnet-designer/main.py", "train"])
    assert invocation() == "python main.py"
    monkeypatch.setattr(sys, "argv", ["/home/me/.local/bin/convnet-designer", "train"])
    assert invocation() == "convnet-designer"
