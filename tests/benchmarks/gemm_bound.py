"""The GEMM-bound limit of a training step on this machine: the time of the step's matrix
products alone, with the shapes the engine gives them, on random data.

    .venv/bin/python tests/benchmarks/gemm_bound.py [NETWORK] [--batch-size 64]

For every convolution: the forward product of the patch matrix (one row per output pixel,
F·F·D1 inputs and the bias trick's 1) with the filters, the weight gradient, and, above
the first trained layer, the patch gradients; the same three for fully-connected layers,
as engine/layers/conv.py and dense.py orient them. A convolution through Winograd's F(2, 3)
(engine/layers/winograd.py) has each as a stack of four products, one row per pair of
output pixels and 3·D1 inputs (and the 1).
A step can be no faster than their sum; `main.py bench` shows how far each layer is from it.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

THREADS = 2
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, str(THREADS))  # before NumPy loads its BLAS

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from engine.netfile import load_network  # noqa: E402
from engine.plan import winograd  # noqa: E402
from engine.shapes import analyse  # noqa: E402


def products(spec, n: int) -> list[tuple[str, tuple[int, ...], tuple[int, ...]]]:
    """(name, shape of A, shape of B) of every product A @ B in a training step; a stack of
    products has a third axis in front."""
    found, trained = [], False
    for info in analyse(spec).layers:
        t = info.layer.type
        if t not in ("conv", "fc"):
            trained |= bool(info.params)
            continue
        k, name = info.output.depth, info.layer.name
        if t == "conv" and winograd(info.layer, info.input, info.output):
            rows = n * info.output.width // 2 * info.output.height
            inputs = 3 * info.input.depth
            found += [(f"{name} forward", (4, rows, inputs + 1), (4, inputs + 1, k)),
                      (f"{name} weight gradient", (4, k, rows), (4, rows, inputs + 1))]
            if trained:
                found.append((f"{name} input gradient", (4, rows, k), (4, k, inputs)))
        elif t == "conv":
            rows = n * info.output.width * info.output.height
            inputs = info.layer["size"] ** 2 * info.input.depth
            found += [(f"{name} forward", (rows, inputs + 1), (inputs + 1, k)),
                      (f"{name} weight gradient", (k, rows), (rows, inputs + 1))]
            if trained:
                found.append((f"{name} input gradient", (inputs, k), (k, rows)))
        else:
            inputs = info.input.size
            found += [(f"{name} forward", (n, inputs), (inputs, k)),
                      (f"{name} weight gradient", (inputs, n), (n, k))]
            if trained:
                found.append((f"{name} input gradient", (n, k), (k, inputs)))
        trained = True
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", nargs="?",
                        default=str(Path(__file__).with_name("reference_net.json")))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    spec = load_network(args.network)
    rng = np.random.default_rng(0)
    total, flops = 0.0, 0
    for name, a_shape, b_shape in products(spec, args.batch_size):
        a = rng.standard_normal(a_shape, dtype=np.float32)
        b = rng.standard_normal(b_shape, dtype=np.float32)
        out = np.empty((*a_shape[:-1], b_shape[-1]), np.float32)
        np.matmul(a, b, out=out)
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        work = 2 * math.prod(a_shape) * b_shape[-1]
        total, flops = total + seconds, flops + work
        stack = f"{a_shape[0]}× " if len(a_shape) == 3 else ""
        print(f"{name:<28}{stack}{a_shape[-2]:>7}×{a_shape[-1]:<5} @ {b_shape[-1]:<5}"
              f"{seconds * 1e3:8.2f} ms {work / seconds / 1e9:7.1f} GFLOP/s")
    print(f"GEMM-bound limit of a step of {spec.name}, batch {args.batch_size}, {THREADS} threads: "
          f"{total * 1e3:.1f} ms ({flops / total / 1e9:.0f} GFLOP/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
