"""Compare one training step of this engine with PyTorch on the CPU, and check the memory model.

    .venv/bin/python tests/benchmarks/compare_torch.py [NETWORK] [--batch-size 64]

Builds NETWORK (default: reference_net.json next to this script) in both engines with
the same initial weights, the same batch and the same loss, on the same number of CPU
threads, then times full training steps (forward, loss, backward, SGD update) of the
two and reports medians. PyTorch runs twice: on a contiguous NCHW copy of the batch, and
on our NHWC batch through `permute`, where it runs channels-last; the ratio is against
the faster of the two. Our step is timed as the trainer takes it: in two shares of the
batch, the second in a helper process, where the network allows (`engine.step_team`).
It also measures with tracemalloc the peak memory of one of our training steps in one
process (parameters and optimizer state included) and compares it with
`engine.shapes.analyse(spec).memory(batch, "sgd")`.

The steps run in blocks, the two engines' blocks alternating so that both see the same
drift of this machine's speed. Each block starts after a pause: when a step ends, both
OpenBLAS's threads (ours) and OpenMP's (PyTorch's) keep spinning for a while, and a step
of the other engine right after it runs with a core taken. Step for step interleaving
made both engines slower, PyTorch more than us (LeNet-5: ours 12-16 → 21 ms, PyTorch
17 → 37 ms), which flattered the ratio. Twelve blocks of ten steps, not four: with four,
the reference network's ratio ranged over 0.86-0.99 in one afternoon, with twelve over
0.86-0.93.

Needs PyTorch (the optional extra "bench": pip install torch==2.13.0).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

THREADS = 2
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, str(THREADS))  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.backend import NUMPY, blas_threads  # noqa: E402
from engine.errors import ConvNetError  # noqa: E402
from engine.model import Model, build  # noqa: E402
from engine.netfile import load_network  # noqa: E402
from engine.optim import Optimizer  # noqa: E402
from engine.rollback import LastGood  # noqa: E402
from engine.shapes import analyse, format_bytes  # noqa: E402
from engine.step_team import StepTeam, step_shares  # noqa: E402

LR = 0.01


def torch_model(model: Model):
    """The same layers in PyTorch (NCHW), with our initial weights copied in."""
    import torch
    from torch import nn

    modules = []
    for layer in model.layers:
        s, t = layer.spec, layer.spec.type
        if t == "conv":
            m = nn.Conv2d(layer.input.depth, s["filters"], s["size"], s["stride"], s["pad"])
            m.weight.data = torch.from_numpy(layer.params["W"].transpose(3, 2, 0, 1).copy())
            m.bias.data = torch.from_numpy(layer.params["b"].copy())
        elif t == "pool":
            kind = nn.MaxPool2d if s["mode"] == "max" else nn.AvgPool2d
            m = kind(s["size"], s["stride"], s["pad"])
        elif t == "fc":
            v = layer.input
            m = nn.Linear(v.size, s["units"])
            # our rows follow (H, W, D); PyTorch flattens (C, H, W)
            w = layer.params["W"].reshape(v.height, v.width, v.depth, -1).transpose(3, 2, 0, 1)
            m.weight.data = torch.from_numpy(w.reshape(s["units"], -1).copy())
            m.bias.data = torch.from_numpy(layer.params["b"].copy())
            modules.append(nn.Flatten())
        elif t == "batchnorm":
            m = nn.BatchNorm2d(layer.input.depth, s["eps"], 1 - s["momentum"])
        else:
            m = {
                "gap": lambda: nn.AdaptiveAvgPool2d(1), "relu": nn.ReLU, "tanh": nn.Tanh,
                "sigmoid": nn.Sigmoid, "dropout": lambda: nn.Dropout(s["p"]),
                "leaky_relu": lambda: nn.LeakyReLU(s["slope"]),
                "lrn": lambda: nn.LocalResponseNorm(s["size"], s["alpha"], s["beta"], s["k"]),
            }[t]()
        modules.append(m)
    if model.layers[-1].spec.type != "fc":
        modules.append(nn.Flatten())
    if model.loss_layer.type == "svm":
        classes = model.analysis.output.depth
        hinge = nn.MultiMarginLoss(margin=model.loss_layer["margin"])
        loss = lambda scores, y: hinge(scores, y) * classes  # PyTorch divides by C
    else:
        loss = nn.CrossEntropyLoss()
    return nn.Sequential(*modules), loss


def measure_memory(spec, batch: int, x: np.ndarray, y: np.ndarray) -> int:
    """Peak bytes NumPy allocates to build the model and run one training step on x."""
    tracemalloc.start()
    model = build(spec, NUMPY, 0)
    optimizer = Optimizer("sgd", NUMPY)
    last_good = LastGood(model, optimizer)
    batch_x = x.copy()  # the input batch counts too
    model.train_step(batch_x, y)
    last_good.save()
    optimizer.step(model.store.values, model.store.grads, LR)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


PAUSE_S = 0.5  # longer than the BLAS and OpenMP threads of either engine spin when idle


def timed_block(step, steps: int) -> list[float]:
    """Seconds of each of `steps` calls of `step`, after a pause and one untimed call (the
    caches and the allocator after the other engine's block)."""
    time.sleep(PAUSE_S)
    step()
    took = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        took.append(time.perf_counter() - start)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", nargs="?", default=str(Path(__file__).with_name("reference_net.json")))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--blocks", type=int, default=12,
                        help="blocks of steps per engine, alternating (default 12)")
    parser.add_argument("--steps", type=int, default=10,
                        help="timed steps per block (default 10)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(THREADS)
    try:
        spec = load_network(args.network)
        ours = build(spec, NUMPY, 0)
    except ConvNetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    n = args.batch_size
    net, loss_fn = torch_model(ours)
    rng = np.random.default_rng(0)
    v = spec.input_volume
    x = rng.standard_normal((n, v.height, v.width, v.depth), dtype=np.float32)
    y = rng.integers(0, ours.analysis.output.depth, n)
    # PyTorch gets the batch two ways: its usual contiguous NCHW copy, and our NHWC memory
    # seen through permute, which makes it run channels-last (the faster of the two here)
    inputs = {"NCHW": torch.from_numpy(x.transpose(0, 3, 1, 2).copy()),
              "NHWC": torch.from_numpy(x).permute(0, 3, 1, 2)}
    ty = torch.from_numpy(y)

    our_loss = ours.loss(ours.scores(x), y)[0]
    with torch.no_grad():
        their_loss = float(loss_fn(net.eval()(inputs["NCHW"]), ty))
    net.train()
    print(f"{spec.name}: batch {n}, {THREADS} threads; initial loss ours {our_loss:.5f}, "
          f"PyTorch {their_loss:.5f}")
    if abs(our_loss - their_loss) > 1e-3 * max(1.0, abs(their_loss)):
        print("the two networks disagree before training; the comparison would be meaningless")
        return 1

    optimizer = Optimizer("sgd", NUMPY)
    last_good = LastGood(ours, optimizer)
    torch_optimizer = torch.optim.SGD(net.parameters(), lr=LR)

    # our step as the trainer takes it: in two shares, one per core, where the network allows
    team = StepTeam(spec, ours, n, blas_threads()) if step_shares(spec, NUMPY, n) > 1 else None
    train_step = ours.train_step if team is None else team.train_step

    def our_step():
        train_step(x, y)
        last_good.save()  # the trainer's NaN guard copies the weights before each update
        optimizer.step(ours.store.values, ours.store.grads, LR)

    def their_step(tx):
        def step():
            torch_optimizer.zero_grad()
            loss_fn(net(tx), ty).backward()
            torch_optimizer.step()
        return step

    steps = {"ours": our_step, **{f"PyTorch {layout}": their_step(tx)
                                  for layout, tx in inputs.items()}}
    times = {name: [] for name in steps}
    for block in range(args.blocks):
        order = list(steps) if block % 2 else list(reversed(steps))
        for name in order:
            times[name] += timed_block(steps[name], args.steps)
    medians = {name: statistics.median(took) for name, took in times.items()}
    print("median training step: " + ", ".join(f"{name} {t * 1e3:.1f} ms"
                                               for name, t in medians.items())
          + f" ({args.blocks} blocks of {args.steps} steps each, alternating)")
    if team is not None:
        print("ours: each step in two shares" + (", the second in a helper process"
                                                  if team.helped else "") + " (engine.step_team)")
        team.close()
    mine = medians.pop("ours")
    fastest = min(medians, key=medians.get)
    theirs = medians[fastest]

    measured = measure_memory(spec, n, x, y)
    estimate = analyse(spec).memory(n, "sgd")
    print(f"peak memory of one step: measured {format_bytes(measured)}, "
          f"predicted {format_bytes(estimate.total)}")
    for part, value in estimate.as_dict().items():
        if part not in ("batch_size", "bytes"):
            print(f"  {part:<20}{format_bytes(value):>12}")
    print(f"step time ratio (ours/PyTorch): {mine / theirs:.2f} (against {fastest})")
    print(f"memory ratio (predicted/measured): {estimate.total / measured:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
