"""The export and import-weights commands: files written, and every failure one sentence."""

import pytest

from engine.export import errors
from main import main

pytest.importorskip("onnx")
pytest.importorskip("torch")


def test_a_template_exports_to_onnx_and_a_project(tmp_path, capsys):
    assert main(["export", "lenet5", "--format", "onnx", "-o", str(tmp_path / "n.onnx"),
                 "--probabilities"]) == 0
    assert "output 'scores' and 'probabilities'" in capsys.readouterr().out
    assert main(["export", "default", "--format", "pytorch", "-o", str(tmp_path / "p")]) == 0
    out = capsys.readouterr().out
    train = tmp_path / "p" / "train.py"
    assert f"torchrun --standalone --nproc_per_node=gpu {train}\n" in out
    assert f"--nproc_per_node=2 {train} --device cpu\n" in out  # "gpu" needs a CUDA GPU
    assert main(["import-weights", str(tmp_path / "p" / "weights.pt"),
                 "-o", str(tmp_path / "r.ckpt")]) == 0  # network.json beside it
    assert (tmp_path / "n.onnx").is_file() and (tmp_path / "r.ckpt").is_file()


def test_a_run_exports_its_weights(tmp_path):
    assert main(["train", "default", "--epochs", "1", "--save", str(tmp_path / "r.ckpt")]) == 0
    assert main(["export", str(tmp_path / "r.ckpt"), "--format", "onnx",
                 "-o", str(tmp_path / "r.onnx")]) == 0


@pytest.mark.parametrize("fmt, package", [("onnx", "onnx"), ("pytorch", "torch")])
def test_without_the_package_the_command_says_so_in_one_sentence(fmt, package, tmp_path,
                                                                  capsys, monkeypatch):
    monkeypatch.setattr(errors.importlib.util, "find_spec",
                        lambda name: None if name == package else object())
    assert main(["export", "default", "--format", fmt, "-o", str(tmp_path / "x")]) == 2
    assert capsys.readouterr().err == (
        f"error: {'Exporting to ONNX' if fmt == 'onnx' else 'Exporting a PyTorch project'} "
        f"needs the {package} package, which is not installed; install it with "
        "pip install 'convnet-designer[export]'.\n")


def test_weights_without_a_network_beside_them_ask_for_one(tmp_path, capsys):
    (tmp_path / "w.pt").write_bytes(b"")
    assert main(["import-weights", str(tmp_path / "w.pt"), "-o", str(tmp_path / "r.ckpt")]) == 2
    assert capsys.readouterr().err == ("error: There is no network.json beside 'w.pt'; name "
                                       "the network with --network.\n")
