"""Check the engine on a CUDA GPU in one go (a few minutes; CuPy needed, PyTorch for (d)):

    .venv/bin/python tests/benchmarks/gpu_check.py

(a) every layer's forward and backward on CuPy against NumPy, and one training step of a
    network with every layer type (the buffer plan, the ReLU left to a max pool):
    relative error ‖gpu − cpu‖ / ‖cpu‖ at most 1e-4, with TF32 off;
(b) the default network trained 5 epochs on the digits on the GPU and on the CPU: the
    validation accuracies within 1 point;
(c) CuPy's peak pool memory while the model is built and trains one step (a memory hook
    on every allocation) against `analyse(spec).memory(batch, "sgd")`;
(d) the step time against PyTorch CUDA on the reference network (batch 64) and on a
    VGG-style 32×32 network (64-128-256 channels, batch 128); the last line is
    `gpu step time ratio (ours/PyTorch CUDA): X`, the worse of the two.

Exits 1 if (a), (b) or (c) fails. Each check is a function of the device backend, so that
tests/engine/test_gpu_check.py runs them on the stand-in GPU backend without a GPU.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("CUPY_TF32", "0")  # before CuPy loads: float32 GEMMs stay float32

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from engine.backend import NUMPY, Backend  # noqa: E402
from engine.config import TrainConfig  # noqa: E402
from engine.data import load_data  # noqa: E402
from engine.layers import make_layer  # noqa: E402
from engine.model import build  # noqa: E402
from engine.netfile import load_network  # noqa: E402
from engine.optim import Optimizer  # noqa: E402
from engine.resources import network_template  # noqa: E402
from engine.rollback import LastGood  # noqa: E402
from engine.run import Run  # noqa: E402
from engine.shapes import analyse, format_bytes  # noqa: E402
from engine.spec import NetworkSpec, make_layer as L, network  # noqa: E402
from engine.trainer import Trainer  # noqa: E402

MAX_ERROR = 1e-4
MAX_ACCURACY_GAP = 0.01
MAX_MEMORY_GAP = 0.05
HERE = Path(__file__).resolve().parent

# (W, H, D) input, layer type, hyperparameters: thin inputs (tap-major im2col) and deep
# ones (pixel-major), a deep 3×3 one through Winograd's F(2, 3), stride 2, padding, tiled
# and overlapping pools.
LAYER_CASES = [
    ((9, 7, 3), "conv", dict(filters=8, size=3, stride=1, pad=1)),
    ((16, 16, 32), "conv", dict(filters=32, size=3, stride=1, pad=1)),
    ((9, 9, 16), "conv", dict(filters=12, size=3, stride=2, pad=1)),
    ((12, 12, 1), "conv", dict(filters=6, size=5, stride=1, pad=0)),
    ((8, 6, 4), "pool", dict(mode="max", size=2, stride=2, pad=0)),
    ((7, 7, 4), "pool", dict(mode="max", size=3, stride=2, pad=1)),
    ((8, 6, 4), "pool", dict(mode="avg", size=2, stride=2, pad=0)),
    ((7, 7, 4), "pool", dict(mode="avg", size=3, stride=1, pad=1)),
    ((5, 3, 6), "gap", {}),
    ((4, 3, 5), "fc", dict(units=7)),
    ((6, 5, 4), "relu", {}),
    ((6, 5, 4), "leaky_relu", dict(slope=0.1)),
    ((6, 5, 4), "tanh", {}),
    ((6, 5, 4), "sigmoid", {}),
    ((6, 5, 4), "batchnorm", {}),
    ((6, 5, 8), "lrn", dict(size=5)),
    ((6, 5, 4), "dropout", dict(p=0.3)),
]
EVERY_LAYER = network(
    "every layer", (12, 10, 3), L("conv", "c1", filters=8, size=3, stride=1, pad=1),
    L("relu", "r1"), L("pool", "p1", mode="max", size=2, stride=2, pad=0),
    L("batchnorm", "bn"), L("lrn", "n", size=3), L("conv", "c2", filters=6, size=3, stride=1,
                                                   pad=1),
    L("leaky_relu", "lr", slope=0.1), L("pool", "p2", mode="avg", size=2, stride=1, pad=0),
    L("tanh", "t"), L("dropout", "d", p=0.2), L("gap", "g"), L("fc", "f", units=9),
    L("sigmoid", "s"),
    L("fc", "scores", units=5), L("softmax", "loss"))
VGG_STYLE = network(
    "VGG-style 32×32", (32, 32, 3),
    *[layer for i, k in enumerate((64, 128, 256)) for layer in (
        L("conv", f"conv{i}a", filters=k, size=3, stride=1, pad=1), L("relu", f"relu{i}a"),
        L("conv", f"conv{i}b", filters=k, size=3, stride=1, pad=1), L("relu", f"relu{i}b"),
        L("pool", f"pool{i}", mode="max", size=2, stride=2, pad=0))],
    L("fc", "fc", units=10), L("softmax", "loss"))


def relative_error(ours: np.ndarray, reference: np.ndarray) -> float:
    """‖ours − reference‖ / ‖reference‖ in float64 (the plain difference if the reference
    is zero); NaN anywhere gives NaN, which fails every comparison."""
    ours, reference = np.asarray(ours, np.float64), np.asarray(reference, np.float64)
    scale = np.linalg.norm(reference)
    difference = np.linalg.norm(ours - reference)
    return float(difference / scale if scale else difference)


# --- (a) layers -------------------------------------------------------------------------
def layer_errors(device: Backend, volume: tuple[int, int, int], type_: str,
                 params: dict) -> dict[str, float]:
    """Relative errors of one layer on `device` against NumPy: its output ("forward"), its
    input gradient ("dx") and each parameter gradient ("dW", "db", …), for 8 random
    images and a random output gradient."""
    spec = network("check", volume, L(type_, type_, **params))
    info = analyse(spec).layers[1]
    rng = np.random.default_rng(0)
    w, h, d = volume
    x = rng.standard_normal((8, h, w, d), dtype=np.float32)
    dy = rng.standard_normal((8, info.output.height, info.output.width, info.output.depth),
                             dtype=np.float32)
    results = []
    for backend in (NUMPY, device):
        layer = make_layer(info, backend, np.random.default_rng(1), relu_follows=False)
        for value in layer.params.values():  # random biases and scales too, not zeros and ones
            value[...] = backend.asarray(np.random.default_rng(2).normal(0, 0.5, value.shape))
        layer.rng = np.random.default_rng(3)  # dropout draws the same mask on both
        y, backprop = layer.forward(backend.asarray(x.copy()), True)
        out = {"forward": backend.to_numpy(y).copy()}
        out["dx"] = backend.to_numpy(backprop(backend.asarray(dy.copy())))  # it may overwrite dy
        out.update({f"d{name}": backend.to_numpy(g) for name, g in layer.grads.items()})
        results.append(out)
    cpu, gpu = results
    return {key: relative_error(gpu[key], cpu[key]) for key in cpu}


def step_errors(device: Backend, spec: NetworkSpec = EVERY_LAYER) -> dict[str, float]:
    """Relative errors of a whole training step on `device` against NumPy: the loss and
    every parameter gradient, with the model's buffer plan and fused layers."""
    rng = np.random.default_rng(4)
    v = spec.input_volume
    x = rng.standard_normal((16, v.height, v.width, v.depth), dtype=np.float32)
    labels = rng.integers(0, analyse(spec).output.depth, 16)
    results = []
    for backend in (NUMPY, device):
        model = build(spec, backend, 0)
        for layer in model.layers:
            layer.rng = np.random.default_rng(5)
        loss, _ = model.train_step(backend.asarray(x.copy()), backend.asarray(labels, np.int64))
        results.append({"loss": np.array(loss),
                        **{key: backend.to_numpy(g) for key, _, g in model.parameters()}})
    cpu, gpu = results
    return {key: relative_error(gpu[key], cpu[key]) for key in cpu}


def check_layers(device: Backend, report: Callable[[str], None] = print) -> bool:
    worst = 0.0
    for volume, type_, params in LAYER_CASES:
        errors = layer_errors(device, volume, type_, params)
        worst = float(np.max([worst, *errors.values()]))  # NaN stays NaN
        shown = ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
        settings = " ".join(f"{k}={v}" for k, v in params.items())
        report(f"  {type_} {'×'.join(map(str, volume))} {settings}: {shown}")
    errors = step_errors(device)
    worst = float(np.max([worst, *errors.values()]))
    report(f"  training step of '{EVERY_LAYER.name}': largest error "
           f"{max(errors.values()):.1e} ({max(errors, key=errors.get)})")
    ok = worst <= MAX_ERROR  # False for NaN too
    report(f"(a) layers: largest relative error {worst:.1e} "
           f"{'≤' if ok else 'ABOVE'} {MAX_ERROR:g}")
    return ok


# --- (b) training -----------------------------------------------------------------------
def trained_accuracy(backend: Backend, epochs: int) -> float:
    """Validation accuracy of the default network after `epochs` on the digits, trained by
    the trainer with the default settings on `backend` (the same seed everywhere)."""
    spec = load_network(network_template("default"))
    data = load_data(None)
    config = TrainConfig(epochs=epochs)
    run = Run.start(spec, data, config, None)
    run.model = build(spec, backend, np.random.default_rng(config.seed))
    run.optimizer = Optimizer(config.optimizer, backend, config.momentum)
    for _ in Trainer(run, data).train():
        pass
    return run.history["val_acc"][-1]


def check_training(device: Backend, epochs: int = 5,
                   report: Callable[[str], None] = print) -> bool:
    cpu, gpu = trained_accuracy(NUMPY, epochs), trained_accuracy(device, epochs)
    ok = abs(gpu - cpu) <= MAX_ACCURACY_GAP
    report(f"(b) default network, {epochs} epochs on the digits: validation accuracy "
           f"{device.name} {gpu:.1%}, CPU {cpu:.1%} ({'within' if ok else 'NOT within'} "
           f"{MAX_ACCURACY_GAP:.0%})")
    return ok


# --- (c) memory -------------------------------------------------------------------------
class PeakBytes:
    """Live and peak bytes of the allocations it is told about, by address."""

    def __init__(self) -> None:
        self.live: dict[int, int] = {}
        self.current = self.peak = 0

    def allocated(self, address: int, size: int) -> None:
        self.live[address] = size
        self.current += size
        self.peak = max(self.peak, self.current)

    def freed(self, address: int) -> None:
        self.current -= self.live.pop(address, 0)


def cupy_pool_hook(peak: PeakBytes) -> Any:
    """A `cupy.cuda.MemoryHook` that tells `peak` about every block CuPy's memory pool
    hands out or takes back (sizes as the pool rounds them)."""
    import cupy

    class Hook(cupy.cuda.MemoryHook):
        name = "PeakBytes"

        def malloc_postprocess(self, **kwargs):
            peak.allocated(kwargs["mem_ptr"], kwargs["mem_size"])

        def free_postprocess(self, **kwargs):
            peak.freed(kwargs["mem_ptr"])

    return Hook()


def one_step(spec: NetworkSpec, backend: Backend, x: np.ndarray, labels: np.ndarray) -> None:
    """What compare_torch.py measures: the batch moved to the device, the model built, one
    step, the NaN guard's copy, an SGD update."""
    batch = backend.asarray(x.copy())  # a copy on the CPU too, as the trainer's batches are
    model = build(spec, backend, 0)
    optimizer = Optimizer("sgd", backend)
    last_good = LastGood(model, optimizer)
    model.train_step(batch, backend.asarray(labels, np.int64))
    last_good.save()
    optimizer.step(model.store.values, model.store.grads, 0.01)
    backend.synchronize()


def peak_step_memory(spec: NetworkSpec, backend: Backend, batch: int) -> int:
    """Peak bytes allocated by `one_step` on `backend`: through CuPy's pool on the GPU,
    through tracemalloc elsewhere (the stand-in's arrays are NumPy's)."""
    rng = np.random.default_rng(0)
    v = spec.input_volume
    x = rng.standard_normal((batch, v.height, v.width, v.depth), np.float32)
    labels = rng.integers(0, analyse(spec).output.depth, batch)
    if backend.name != "gpu":
        tracemalloc.start()
        try:
            one_step(spec, backend, x, labels)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    peak = PeakBytes()
    with cupy_pool_hook(peak):
        one_step(spec, backend, x, labels)
    return peak.peak


def check_memory(device: Backend, report: Callable[[str], None] = print, batch: int = 64,
                 specs: tuple[NetworkSpec, ...] | None = None) -> bool:
    ok = True
    for spec in specs or (load_network(HERE / "reference_net.json"), VGG_STYLE):
        measured = peak_step_memory(spec, device, batch)
        predicted = analyse(spec).memory(batch, "sgd").total
        fits = abs(predicted / measured - 1) <= MAX_MEMORY_GAP
        ok &= fits
        report(f"(c) {spec.name}, batch {batch}: peak {format_bytes(measured)} measured, "
               f"{format_bytes(predicted)} predicted (ratio {predicted / measured:.3f}, "
               f"{'within' if fits else 'NOT within'} ±{MAX_MEMORY_GAP:.0%})")
    return ok


# --- (d) speed --------------------------------------------------------------------------
def our_step_time(spec: NetworkSpec, backend: Backend, batch: int, repeats: int) -> float:
    """Median seconds of a full training step (forward, loss, backward, SGD update)."""
    rng = np.random.default_rng(0)
    v = spec.input_volume
    x = backend.asarray(rng.standard_normal((batch, v.height, v.width, v.depth), np.float32))
    labels = backend.asarray(rng.integers(0, analyse(spec).output.depth, batch), np.int64)
    model = build(spec, backend, 0)
    optimizer = Optimizer("sgd", backend)

    def step():
        model.train_step(x, labels)
        optimizer.step(model.store.values, model.store.grads, 1e-4)

    return _median_time(step, backend.synchronize, repeats)


def torch_step_time(spec: NetworkSpec, batch: int, repeats: int) -> float | None:
    """The same for the same network in PyTorch on CUDA (cuDNN autotuned, TF32 off), or
    None where PyTorch or its CUDA build is missing."""
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    from compare_torch import torch_model

    torch.backends.cudnn.benchmark = True
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    net, loss_fn = torch_model(build(spec, NUMPY, 0))
    net = net.cuda().train()
    rng = np.random.default_rng(0)
    v = spec.input_volume
    x = torch.from_numpy(rng.standard_normal((batch, v.depth, v.height, v.width), np.float32))
    y = torch.from_numpy(rng.integers(0, analyse(spec).output.depth, batch))
    x, y = x.cuda(), y.cuda()
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-4)

    def step():
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()

    return _median_time(step, torch.cuda.synchronize, repeats)


def _median_time(step: Callable[[], None], synchronize: Callable[[], None], repeats: int) -> float:
    for _ in range(3):  # warm-up: kernels compiled, cuDNN tuned, pools filled
        step()
    times = []
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compare_speed(device: Backend, report: Callable[[str], None] = print, repeats: int = 30,
                  cases: tuple[tuple[NetworkSpec, int], ...] | None = None) -> float | None:
    """Step-time ratios against PyTorch CUDA; returns the worse, or None without PyTorch."""
    ratios = []
    for spec, batch in cases or ((load_network(HERE / "reference_net.json"), 64),
                                 (VGG_STYLE, 128)):
        ours = our_step_time(spec, device, batch, repeats)
        theirs = torch_step_time(spec, batch, repeats)
        if theirs is None:
            report(f"(d) {spec.name}, batch {batch}: ours {ours * 1e3:.2f} ms; PyTorch CUDA "
                   "is not available here")
            continue
        ratios.append(ours / theirs)
        report(f"(d) {spec.name}, batch {batch}: ours {ours * 1e3:.2f} ms, PyTorch CUDA "
               f"{theirs * 1e3:.2f} ms, ratio {ours / theirs:.2f}")
    return max(ratios) if ratios else None


def main() -> int:
    from engine.backend import get_backend

    started = time.perf_counter()
    device = get_backend("gpu")  # one sentence and exit 2 where there is no usable GPU
    import cupy

    print(f"CuPy {cupy.__version__} on {cupy.cuda.runtime.getDeviceProperties(0)['name'].decode()}"
          f", CUPY_TF32={os.environ['CUPY_TF32']}")
    sys.path.insert(0, str(HERE))  # compare_torch's PyTorch twin of a network
    ok = check_layers(device)
    ok &= check_training(device)
    ok &= check_memory(device)
    ratio = compare_speed(device)
    print(f"all checks {'passed' if ok else 'FAILED'} in {time.perf_counter() - started:.0f} s")
    print(f"gpu step time ratio (ours/PyTorch CUDA): "
          f"{'n/a (no PyTorch CUDA)' if ratio is None else f'{ratio:.2f}'}")
    return 0 if ok else 1


if __name__ == "__main__":
    from engine.errors import ConvNetError

    try:
        sys.exit(main())
    except ConvNetError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
