"""The CPU side of tests/benchmarks/gpu_check.py, run with the stand-in GPU backend: the same
comparisons, reports and memory plumbing that run against CuPy on a machine with a GPU."""

import sys

import numpy as np
import pytest

from engine.backend import NUMPY
from engine.spec import make_layer as L, network
from tests.benchmarks import gpu_check
from tests.engine.standin import STANDIN

TINY = network("tiny", (8, 8, 2), L("conv", "c", filters=4, size=3, stride=1, pad=1),
               L("relu", "r"), L("pool", "p", mode="max", size=2, stride=2, pad=0),
               L("fc", "f", units=3), L("softmax", "loss"))


def test_every_layer_and_a_whole_step_agree_on_the_standin():
    lines = []
    assert gpu_check.check_layers(STANDIN, lines.append)
    assert len(lines) == len(gpu_check.LAYER_CASES) + 2
    assert lines[-1].startswith("(a) layers: largest relative error")


def test_every_layer_type_is_checked():
    from engine.spec import CATALOGUE

    checked = {type_ for _, type_, _ in gpu_check.LAYER_CASES}
    assert checked == set(CATALOGUE) - {"input", "softmax", "svm"}
    assert {l.type for l in gpu_check.EVERY_LAYER.layers} >= checked


def test_a_wrong_device_result_fails_the_layer_check(monkeypatch):
    real = gpu_check.layer_errors
    monkeypatch.setattr(gpu_check, "layer_errors",
                        lambda *args: {**real(*args), "dx": float("nan")})
    lines = []
    assert not gpu_check.check_layers(STANDIN, lines.append)
    assert "ABOVE" in lines[-1]


def test_relative_error():
    assert gpu_check.relative_error(np.array([1.0, 2.0]), np.array([1.0, 2.0])) == 0
    assert gpu_check.relative_error(np.array([3.0, 4.0]), np.zeros(2)) == 5
    assert gpu_check.relative_error(np.array([1.1, 0.0]), np.array([1.0, 0.0])) == pytest.approx(0.1)


def test_training_on_the_standin_reaches_the_cpu_accuracy():
    lines = []
    assert gpu_check.check_training(STANDIN, epochs=1, report=lines.append)
    assert "within 1%" in lines[0]


def test_peak_bytes_follows_allocations_and_frees():
    peak = gpu_check.PeakBytes()
    peak.allocated(1, 512)
    peak.allocated(2, 1024)
    peak.freed(1)
    peak.allocated(3, 256)
    peak.freed(7)  # allocated before the hook was installed: ignored
    assert (peak.current, peak.peak) == (1280, 1536)


def test_memory_check_compares_the_step_with_the_plan():
    from engine.netfile import load_network

    lines = []
    reference = load_network(gpu_check.HERE / "reference_net.json")
    assert gpu_check.check_memory(STANDIN, lines.append, batch=16, specs=(reference,))
    assert "predicted" in lines[0] and "within ±5%" in lines[0]


def test_speed_without_pytorch_cuda_reports_our_time_and_no_ratio(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # as in CI: import torch fails
    lines = []
    assert gpu_check.compare_speed(STANDIN, lines.append, repeats=2, cases=((TINY, 8),)) is None
    assert "PyTorch CUDA is not available here" in lines[0]
    assert gpu_check.our_step_time(TINY, NUMPY, 8, 2) > 0
