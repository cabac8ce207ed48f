"""A training step split over the CPU's cores, by images, between this process and helpers.

NumPy runs its elementwise passes, copies and sums on one core; only the matrix products
use more (BLAS threads). On a few cores most of a small network's step is those passes, so
threads of one process cannot help, and handing work to a waiting thread costs tens of
microseconds a time, a hundred times a step. Here each core gets its own process instead,
with a single BLAS thread, and a share of the batch: the step of each share is the whole
network's step, so the processes meet once a step. The helpers' shares travel through
shared memory: this process writes the weights and their images, each helper runs the
forward and backward pass and writes back its gradient, its data loss and its scores.

The loss is a mean over the batch, so the step's gradient is the mean of the shares'
gradients weighted by their sizes. The numbers equal a one-process step's up to the order
of float additions, and a given batch size is always shared the same way.

Only layers that treat each image on its own can be shared out: a network with batch
normalisation (statistics over the batch) or dropout (masks drawn from the run's random
generator) trains in one process. The trainer's statistics that watch a step (the health
monitor) see this process's share. A helper that fails ends the team: its step and the
rest of the run are done in this process.
"""

from __future__ import annotations

import multiprocessing
from dataclasses import dataclass
from multiprocessing.shared_memory import SharedMemory
from typing import Any

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from engine.backend import NUMPY, Backend
from engine.optim import pieces
from engine.shapes import analyse
from engine.spec import NetworkSpec

MIN_SHARE = 16  # images: below this a share's matrix products are too thin to gain
# Each helper holds the weights four times (its model's, their gradients, and the two in
# shared memory): up to 64 MiB at this cap. Larger networks' steps are mostly matrix
# products, which BLAS already spreads over the cores.
MAX_PARAMETERS = 1 << 22
PER_IMAGE_ONLY = frozenset({"batchnorm", "dropout"})  # layer types that cannot be shared out
START_TIMEOUT_S = 120


def blas_threads() -> int:
    """How many threads NumPy's BLAS may use now (1 where threadpoolctl finds none)."""
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts, default=1)


def team_size(spec: NetworkSpec, backend: Backend, batch: int, cores: int) -> int:
    """How many processes share a step of `batch` images: one per core the engine may use
    (BLAS's thread count), each with at least MIN_SHARE images; 1 means no team."""
    if (backend is not NUMPY or any(layer.type in PER_IMAGE_ONLY for layer in spec.layers)
            or analyse(spec).total_params > MAX_PARAMETERS):
        return 1
    return max(1, min(cores, batch // MIN_SHARE))


def shares(n: int, processes: int) -> list[slice]:
    """The images range(n) in `processes` consecutive shares, the first (this process's)
    the largest."""
    bounds = [n - n * (processes - k) // processes for k in range(processes + 1)]
    return [slice(bounds[k], bounds[k + 1]) for k in range(processes)]


@dataclass
class _Shared:
    """One helper's arrays in shared memory."""

    memory: SharedMemory
    weights: np.ndarray
    grads: np.ndarray
    images: np.ndarray
    labels: np.ndarray
    scores: np.ndarray

    @classmethod
    def create(cls, floats: int, image_shape: tuple[int, ...], classes: int,
               name: str | None = None) -> _Shared:
        shapes = _layout(floats, image_shape, classes)
        size = sum(int(np.prod(shape)) * np.dtype(dtype).itemsize for shape, dtype in shapes)
        memory = SharedMemory(name=name, create=name is None, size=size if name is None else 0)
        arrays, offset = [], 0
        for shape, dtype in shapes:
            array = np.ndarray(shape, dtype, buffer=memory.buf, offset=offset)
            arrays.append(array)
            offset += array.nbytes
        return cls(memory, *arrays)

    def close(self) -> None:
        self.weights = self.grads = self.images = self.labels = self.scores = None
        self.memory.close()


def _layout(floats: int, image_shape: tuple[int, ...], classes: int) -> list[tuple]:
    share = image_shape[0]
    return [((floats,), np.float32), ((floats,), np.float32), (image_shape, np.float32),
            ((share,), np.int64), ((share, classes), np.float32)]


class StepTeam:
    """Helper processes that each take a share of every training step's images; this
    process takes the first. `close()` ends them (as does this process's end)."""

    def __init__(self, spec: NetworkSpec, model: Any, batch: int, processes: int):
        from engine.netfile import dumps

        self.model = model
        self.processes = processes
        v = spec.input_volume
        image_shape = (-(-batch // processes), v.height, v.width, v.depth)  # a share at most
        classes = model.analysis.output.depth
        floats = model.store.values.size
        context = multiprocessing.get_context("spawn")  # no fork of a process with threads
        self._helpers: list[tuple[Any, Any, _Shared]] = []
        self._limits = None
        try:
            for _ in range(processes - 1):
                shared = _Shared.create(floats, image_shape, classes)
                ours, theirs = context.Pipe()
                process = context.Process(
                    target=_serve, name="training helper", daemon=True,
                    args=(theirs, dumps(spec), shared.memory.name, floats, image_shape,
                          classes))
                process.start()
                theirs.close()
                self._helpers.append((process, ours, shared))
            for process, conn, _ in self._helpers:
                if not conn.poll(START_TIMEOUT_S) or conn.recv() != "ready":
                    raise RuntimeError("a training helper did not start")
        except BaseException:
            self.close()
            raise
        # each process now runs its matrix products on one thread
        self._limits = threadpool_limits(1, user_api="blas")

    def train_step(self, x: np.ndarray, labels: np.ndarray,
                   observer: Any = None) -> tuple[float, np.ndarray]:
        """`Model.train_step` on x, shared out; fills the model's gradients."""
        model = self.model
        n = len(x)
        parts = shares(n, self.processes)
        if not self._helpers or n < self.processes:  # (an epoch's last batch may be small)
            return model.train_step(x, labels, observer)
        try:
            for (process, conn, shared), part in zip(self._helpers, parts[1:]):
                shared.weights[...] = model.store.values
                m = part.stop - part.start
                shared.images[:m] = x[part]
                shared.labels[:m] = labels[part]
                conn.send(m)
        except (OSError, ValueError):
            self.close()
            return model.train_step(x, labels, observer)
        own = parts[0]
        loss, own_scores = model.train_step(x[own], labels[own], observer)
        answers = []
        for process, conn, shared in self._helpers:
            try:
                answers.append(conn.recv())
            except (EOFError, OSError):
                answers.append(None)
        if any(not isinstance(answer, float) for answer in answers):
            self.close()
            return model.train_step(x, labels, observer)
        grads = model.store.grads
        own_weight = np.float32((own.stop - own.start) / n)
        grads *= own_weight
        loss *= (own.stop - own.start) / n
        scores = np.empty((n, own_scores.shape[1]), own_scores.dtype)
        scores[own] = own_scores
        for (_, _, shared), part, their_loss in zip(self._helpers, parts[1:], answers):
            m = part.stop - part.start
            weight = np.float32(m / n)
            for piece in pieces(len(grads)):
                grads[piece] += shared.grads[piece] * weight
            loss += their_loss * m / n
            scores[part] = shared.scores[:m]
        return loss, scores

    def close(self) -> None:
        """End the helpers and give their memory back; this process's BLAS gets its
        threads back."""
        for process, conn, shared in self._helpers:
            try:
                conn.send(None)
            except (OSError, ValueError):
                pass
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
            conn.close()
            shared.close()
            shared.memory.unlink()
        self._helpers = []
        if self._limits is not None:
            self._limits.restore_original_limits()
            self._limits = None


def _serve(conn: Any, network: str, memory: str, floats: int, image_shape: tuple[int, ...],
           classes: int) -> None:
    """A helper: build the network, then run the steps it is sent until told to stop (None)
    or until the trainer's process is gone."""
    from engine.model import build
    from engine.netfile import loads

    threadpool_limits(1, user_api="blas")
    model = build(loads(network), NUMPY, 0)
    shared = _Shared.create(floats, image_shape, classes, name=memory)
    conn.send("ready")
    try:
        while True:
            try:
                m = conn.recv()
            except (EOFError, OSError):
                return
            if m is None:
                return
            model.store.values[...] = shared.weights
            with np.errstate(over="ignore", invalid="ignore"):  # the trainer's guard reports it
                loss, scores = model.train_step(shared.images[:m], shared.labels[:m])
            shared.grads[...] = model.store.grads
            shared.scores[:m] = scores
            conn.send(float(loss))
    finally:
        shared.close()
