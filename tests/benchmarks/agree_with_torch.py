"""Check that our engine and PyTorch agree on every layer type: the same network, the same
initial weights and batch give the same loss and the same weight gradients.

    .venv/bin/python tests/benchmarks/agree_with_torch.py      (needs the `bench` extra)

Prints one line per network and exits 1 if any relative difference exceeds 1e-4.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from compare_torch import torch_model  # noqa: E402
from engine.backend import NUMPY  # noqa: E402
from engine.model import build  # noqa: E402
from engine.spec import make_layer as L, network  # noqa: E402

NETWORKS = {
    "every layer, non-square, stride 2, padded pools": network(
        "a", (11, 9, 3), L("conv", "c1", filters=6, size=3, stride=2, pad=1),
        L("batchnorm", "bn"), L("leaky_relu", "lr", slope=0.1),
        L("pool", "p1", mode="max", size=3, stride=1, pad=1), L("lrn", "n", size=3),
        L("conv", "c2", filters=5, size=2, stride=1, pad=0), L("tanh", "t"),
        L("pool", "p2", mode="avg", size=2, stride=1, pad=1), L("sigmoid", "s"),
        L("fc", "f", units=7), L("relu", "r"), L("dropout", "d", p=0.0),
        L("fc", "f2", units=4), L("softmax", "sm")),
    "global average pool, SVM loss": network(
        "b", (8, 8, 2), L("conv", "c1", filters=4, size=3, stride=1, pad=1), L("relu", "r"),
        L("gap", "g"), L("fc", "f", units=5), L("svm", "svm")),
    "deep 3×3 convolutions through Winograd's F(2, 3), window order and NHWC": network(
        "c", (16, 16, 32), L("conv", "c1", filters=32, size=3, stride=1, pad=1),
        L("relu", "r1"), L("pool", "p", mode="max", size=2, stride=2, pad=0),
        L("conv", "c2", filters=64, size=3, stride=1, pad=1), L("relu", "r2"), L("gap", "g"),
        L("fc", "f", units=5), L("softmax", "sm")),
}


def compare(spec) -> tuple[float, float]:
    """Relative differences of the loss and of the largest weight-gradient difference."""
    import torch

    model = build(spec, NUMPY, 0)
    net, loss_fn = torch_model(model)
    rng = np.random.default_rng(1)
    v = spec.input_volume
    x = rng.standard_normal((6, v.height, v.width, v.depth)).astype(np.float32)
    y = rng.integers(0, model.analysis.output.depth, 6)
    ours, _ = model.train_step(x, y)
    net.train()
    loss = loss_fn(net(torch.from_numpy(x.transpose(0, 3, 1, 2).copy())), torch.from_numpy(y))
    loss.backward()
    theirs = [m.weight.grad.numpy() for m in net if isinstance(m, torch.nn.Conv2d)]
    mine = [l.grads["W"].transpose(3, 2, 0, 1) for l in model.layers if l.spec.type == "conv"]
    grad_error = max(float(np.abs(a - b).max() / np.abs(b).max()) for a, b in zip(mine, theirs))
    return abs(ours - loss.item()) / abs(loss.item()), grad_error


def main() -> int:
    worst = 0.0
    for name, spec in NETWORKS.items():
        loss_error, grad_error = compare(spec)
        worst = max(worst, loss_error, grad_error)
        print(f"{name}: loss differs by {loss_error:.1e}, conv weight gradients by {grad_error:.1e}")
    print("agree with PyTorch" if worst < 1e-4 else "DISAGREE with PyTorch")
    return 0 if worst < 1e-4 else 1


if __name__ == "__main__":
    sys.exit(main())
