"""The exported project under torchrun: two CPU processes (gloo) train an epoch of the
embedded digits; one DDP step on 2 × 32 images is one step on 64; the trained weights come
back as a run with PyTorch's activations and the validation accuracy torchrun reported."""

import importlib.util
import os
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from engine.checkpoint import load_run  # noqa: E402
from engine.config import TrainConfig  # noqa: E402
from engine.data import load_data  # noqa: E402
from engine.export.project import write_project  # noqa: E402
from engine.export.source import Source  # noqa: E402
from engine.run import Run  # noqa: E402
from engine.trainer import StepEvent, TrainControl, Trainer  # noqa: E402
from export_helpers import NETWORKS, relative_error, torch_net  # noqa: E402
from main import main  # noqa: E402
from test_pytorch_project import torch_outputs  # noqa: E402


def train(folder, *args, processes: int = 2) -> str:
    """train.py's output under torchrun with `processes`."""
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                           f"--nproc_per_node={processes}", "train.py", "--device", "cpu", *args],
                          cwd=folder,
                          capture_output=True, text=True, timeout=100,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The default network exported fresh: train.py fits the normalisation itself."""
    return write_project(Source.of_network(NETWORKS["default"]()),
                         tmp_path_factory.mktemp("export") / "project")


def test_an_epoch_on_two_processes_comes_back_as_the_same_run(project, tmp_path):
    out = train(project, "--epochs", "1", "--out", str(tmp_path))
    reported = re.search(r"epoch 1/1: .* validation accuracy ([\d.]+)%", out)
    assert reported, out
    checkpoint = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert main(["import-weights", str(tmp_path / "checkpoint.pt"), "--network",
                 str(project / "network.json"), "-o", str(tmp_path / "back.ckpt")]) == 0
    run = load_run(tmp_path / "back.ckpt")
    assert run.epoch == 1 and run.history["val_acc"] == checkpoint["history"]["val_acc"]
    data = load_data(run.data_source, run.spec.input_volume)
    _, accuracy = run.evaluate(data.val_x, data.val_y)
    assert accuracy == checkpoint["history"]["val_acc"][-1]
    assert f"{accuracy:.1%}" == f"{reported.group(1)}%"
    images = data.val_x[:4]
    tmp_path.joinpath("model.py").write_text((project / "model.py").read_text())
    pytorch = torch_outputs(torch_net(tmp_path, "checkpoint.pt"), images, torch.float32)
    for i, image in enumerate(images):
        for ours, theirs in zip(run.layer_outputs(image)[1:-1], pytorch):
            assert relative_error(theirs[i], ours) < 1e-5


def test_one_ddp_step_on_two_times_32_images_is_one_step_on_64(project, tmp_path, monkeypatch):
    steps = ["--device", "cpu", "--max-steps", "1", "--batch-size", "64", "--out"]
    train(project, *steps[2:], str(tmp_path / "ddp"))
    # the single process in this one, which has torch loaded already
    monkeypatch.setattr(sys, "path", list(sys.path))  # train.py puts its folder first
    monkeypatch.delitem(sys.modules, "model", raising=False)
    script = importlib.util.spec_from_file_location("exported_train", project / "train.py")
    module = importlib.util.module_from_spec(script)
    script.loader.exec_module(module)
    assert module.main([*steps, str(tmp_path / "single")]) == 0
    del sys.modules["model"]
    ddp_saved, single_saved = (torch.load(tmp_path / p / "checkpoint.pt", weights_only=True)
                               for p in ("ddp", "single"))
    ddp, single = ddp_saved["model"], single_saved["model"]
    # the step's loss is over the whole batch, not the first process's share
    assert ddp_saved["history"]["loss"] == pytest.approx(single_saved["history"]["loss"],
                                                         rel=1e-5)
    initial = torch.load(project / "weights.pt", weights_only=True)
    for key, value in single.items():
        if value.is_floating_point() and not key.startswith("normalize"):
            assert not torch.equal(value, initial[key]), key  # the step changed it
            assert relative_error(ddp[key].numpy(), value.numpy().astype(np.float64)) < 1e-6, key


def test_an_exported_run_goes_on_where_it_was(tmp_path):
    """Exported from a run, checkpoint.pt holds its optimizer's cache, updates, epochs and
    curves, and train.py --resume trains on from there."""
    from engine.export.layout import our_arrays
    from export_helpers import trained_run

    run = trained_run("default")
    folder = write_project(Source.of_run(run), tmp_path / "project")
    saved = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert (saved["epoch"], saved["history"]) == (run.epoch, run.history)
    assert saved["optimizer"]["steps"] == run.optimizer.steps == run.step
    cache = run.optimizer.state(run.model.store)
    conv = run.model.analysis.layers[1]
    ours, _ = our_arrays(conv, {k: saved["optimizer"]["slots"][f"conv1.{k}"][0].numpy()
                                for k in ("weight", "bias")})
    np.testing.assert_array_equal(ours["W"], cache[f"{conv.layer.id}/W/0"])
    out = train(folder, "--resume", "checkpoint.pt", "--epochs", str(run.epoch + 1),
                "--max-steps", str(run.step + 2), "--out", str(tmp_path), processes=1)
    assert f"epoch {run.epoch + 1}/{run.epoch + 1}" in out
    after = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert after["epoch"] == run.epoch + 1 and after["optimizer"]["steps"] == run.step + 2
    assert after["history"]["step"] == list(range(1, run.step + 3))
    assert after["history"]["loss"][:run.step] == run.history["loss"]


def test_a_run_stopped_within_an_epoch_goes_on_with_the_rest_of_it(tmp_path):
    """Stopped after 5 of its second epoch's 13 steps, an exported run takes the other 8 on
    two processes: its steps, learning rates and curves go on as the designer's would."""
    spec = NETWORKS["default"]()
    digits = load_data(None, spec.input_volume)  # the run's data, and the project's
    run = Run.start(spec, digits, TrainConfig(batch_size=128, epochs=2, schedule="cosine"), None)
    control = TrainControl()
    for event in Trainer(run, digits, control).train():
        if isinstance(event, StepEvent) and event.step == 13 + 5:
            control.stop()
    assert (run.epoch, run.offset) == (1, 5 * 128)
    folder = write_project(Source.of_run(run), tmp_path / "project")
    saved = torch.load(folder / "checkpoint.pt", weights_only=True)
    assert (saved["offset"], saved["sums"][2]) == (5 * 128, 5 * 128)
    assert "trains only the rest of that epoch" in (folder / "README.md").read_text()
    for _ in Trainer(run, digits).train():  # the designer takes the rest too
        pass
    out = train(folder, "--resume", "checkpoint.pt", "--out", str(tmp_path))
    assert "epoch 2/2" in out and "epoch 1/2" not in out
    after = torch.load(tmp_path / "checkpoint.pt", weights_only=True)
    assert after["epoch"] == 2 and after["optimizer"]["steps"] == run.step == 2 * 13
    assert after["history"]["step"] == run.history["step"]
    assert after["history"]["lr"] == run.history["lr"]  # the cosine schedule, step by step
    assert len(after["history"]["train_acc"]) == 2
