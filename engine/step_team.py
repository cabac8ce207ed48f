"""A training step in two shares of its images, which run at once in two processes.

NumPy runs its elementwise passes, copies and sums on one core; only the matrix products
use more (BLAS threads). On a few cores most of a small network's step is those passes, so
threads of one process cannot help, and handing work to a waiting thread costs tens of
microseconds a time, a hundred times a step. Here a helper process with its own cores
takes the second share of every step: the step of each share is the whole network's
step, so the two processes meet once a step. The share travels through shared memory:
this process writes the weights and the images, the helper runs the forward and backward
pass and writes back its gradient, its data loss and its scores.

The loss is a mean over the batch, so the step's gradient is the mean of the shares'
gradients weighted by their sizes, summed in the same order whoever computed them. How a
step is shared depends only on the network and the batch size, never on the machine:
without a second core (a window that leaves one to the GUI on a 2-core machine) this
process computes both shares in turn, with the same numbers as with a helper. (BLAS's
sums, and so the last bits of a step, depend on how many threads it runs; that was so
before.)

Each process takes its share in chunks of images small enough that the arrays each layer
of a chunk writes and reads stay in the processor's cache (`share_chunks`), adding up the
chunks' gradients the same way: a pass over an array that has left the cache waits on
memory, and here memory, not arithmetic, bounds most of a large share's passes. The
memory model (`Analysis.memory`) is that of a step taken whole in one process, as on a
GPU; on the CPU a chunked step holds less.

Only layers that treat each image on its own can be shared out: a network with batch
normalisation (statistics over the batch) or dropout (masks drawn from the run's random
generator) takes its steps whole. The trainer's statistics that watch a step (the health
monitor) see the first chunk of the first share. A helper that fails leaves its share, and
the rest of the run's, to this process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import ThreadpoolController, threadpool_limits

from engine.backend import NUMPY, Backend
from engine.optim import pieces
from engine.shapes import Analysis, analyse
from engine.spec import NetworkSpec

SHARES = 2
MIN_SHARE = 16  # images: below this a share's matrix products are too thin to gain
# Multiply-adds of one image's forward pass below which a step is mostly Python's cost
# per layer, which two shares pay twice: the default network (84K) gained nothing with a
# helper and lost half its speed without one; LeNet-5 (417K) and cifar10.json (362K)
# gained 1.4-1.7 times with one and lost nothing without.
MIN_MULTIPLY_ADDS = 200_000
# The helper holds the weights four times (its model's, their gradients, and the two in
# shared memory): up to 64 MiB at this cap. Larger networks' steps are mostly matrix
# products, which BLAS already spreads over the cores.
MAX_PARAMETERS = 1 << 22
PER_IMAGE_ONLY = frozenset({"batchnorm", "dropout"})  # layer types that cannot be shared out
MIN_CHUNK = 8  # images: thinner chunks pay Python's cost per layer more often than they gain


def step_shares(spec: NetworkSpec, backend: Backend, batch: int) -> int:
    """Into how many shares a step of `batch` images is split: SHARES on the CPU where the
    network treats each image on its own, is neither too small nor too large, and each
    share gets at least MIN_SHARE images; otherwise 1, the whole batch."""
    if (backend is not NUMPY or batch < SHARES * MIN_SHARE
            or any(layer.type in PER_IMAGE_ONLY for layer in spec.layers)):
        return 1
    analysis = analyse(spec)
    if (analysis.total_macs < MIN_MULTIPLY_ADDS
            or analysis.total_params > MAX_PARAMETERS):
        return 1
    return SHARES


def share_chunks(analysis: Analysis, images: int) -> int:
    """Into how many chunks a share of `images` images is split: as few as keep the arrays
    of each chunk's busiest layer (`Plan.busiest_layer`: its input, output, kept arrays and
    scratch, which its passes write and then read) within the CPU's `layer_floats`, each
    of at least MIN_CHUNK images; 1 where the network's parameters outnumber a chunk's
    floats (adding up the chunks' gradients would cost more than the cache saves).
    Measured here with two processes stepping at once, as a team does, against the share
    whole: the reference network's share of 32 images (its second convolution's arrays
    17 MiB) in four chunks took 0.91-0.96 of the time (in three, 1.00 of four's);
    cifar10.json's (its convolution's 5.8 MiB) in two, 0.81-0.90. LeNet-5's (3.2 MiB)
    stays whole: in two chunks it took 1.11-1.12. The step's arrays as a whole (6.6 and
    6.5 MiB) cannot tell those two apart."""
    plan = analysis.plan
    count = min(-(-images * plan.busiest_layer // NUMPY.layer_floats), images // MIN_CHUNK)
    if count <= 1 or analysis.total_params > images // count * plan.floats:
        return 1
    return count


def shares(n: int, count: int) -> list[slice]:
    """The images range(n) in `count` consecutive shares, the first the largest."""
    bounds = [n - n * (count - k) // count for k in range(count + 1)]
    return [slice(bounds[k], bounds[k + 1]) for k in range(count)]


class _WeightedSum:
    """A step's data loss, gradient and scores put together from its parts' (shares or
    chunks): the loss and the gradient are means over the images, so each part's counts by
    its part of the images. `total` receives the gradient."""

    def __init__(self, total: np.ndarray, n: int):
        self.total, self.n = total, n
        self.loss = 0.0
        self.scores: np.ndarray | None = None

    def add(self, part: slice, loss: float, grads: np.ndarray, scores: np.ndarray) -> None:
        size = part.stop - part.start
        weight = np.float32(size / self.n)
        if self.scores is None:
            np.multiply(grads, weight, out=self.total)
            self.scores = np.empty((self.n, scores.shape[1]), scores.dtype)
        else:
            for piece in pieces(len(self.total)):
                self.total[piece] += grads[piece] * weight
        self.loss += loss * size / self.n
        self.scores[part] = scores


def train_share(model: Any, x: np.ndarray, labels: np.ndarray, total: np.ndarray,
                observer: Any = None) -> tuple[float, np.ndarray]:
    """`model.train_step` on a share of a step, in `share_chunks` chunks; `total`, shaped
    like the gradients, holds their sum meanwhile. `observer` sees the first chunk."""
    n = len(x)
    parts = shares(n, share_chunks(model.analysis, n))
    if len(parts) == 1:
        return model.train_step(x, labels, observer)
    share = _WeightedSum(total, n)
    for k, part in enumerate(parts):
        loss, scores = model.train_step(x[part], labels[part], observer if k == 0 else None)
        share.add(part, loss, model.store.grads, scores)
    model.store.grads[...] = total
    return share.loss, share.scores


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
        size = _layout_bytes(floats, image_shape, classes)
        memory = SharedMemory(name=name, create=name is None, size=size if name is None else 0)
        arrays, offset = [], 0
        for shape, dtype in _layout(floats, image_shape, classes):
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


def _layout_bytes(floats: int, image_shape: tuple[int, ...], classes: int) -> int:
    return sum(int(np.prod(shape)) * np.dtype(dtype).itemsize
               for shape, dtype in _layout(floats, image_shape, classes))


def _shared_memory_free() -> float:
    """Bytes free where POSIX shared memory lives (/dev/shm on Linux, 64 MiB by default in
    a container); unbounded where that cannot be asked."""
    try:
        stats = os.statvfs("/dev/shm")
    except (AttributeError, OSError):
        return float("inf")
    return stats.f_bavail * stats.f_frsize


HELPER_MAIN = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
               "from engine.step_team import serve; sys.exit(serve(sys.argv[1:]))")


class _Helper:
    """A helper process, started with `python -c HELPER_MAIN` (not through
    multiprocessing, which would import the trainer's main script into it again), and its
    shared memory. It is told the share sizes one line at a time on its standard input and
    answers each with its data loss; the end of its input ends it."""

    def __init__(self, network: str, shared: _Shared, threads: int):
        self.shared = shared
        home = str(Path(__file__).resolve().parents[1])  # where this `engine` is imported from
        images = shared.images.shape
        # -P: a folder `engine` where the user stands must not stand in for this one
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-c", HELPER_MAIN, home, shared.memory.name,
             str(shared.weights.size), *map(str, images), str(shared.scores.shape[1]),
             str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        text = network.encode()
        self._say(b"%d\n" % len(text) + text)

    def _say(self, message: bytes) -> bool:
        try:
            self.process.stdin.write(message)
            self.process.stdin.flush()
        except (OSError, ValueError):
            return False
        return True

    def _answer(self) -> bytes:
        try:
            return self.process.stdout.readline().strip()
        except (OSError, ValueError):
            return b""

    def started(self) -> bool:
        return self._answer() == b"ready"

    def hand(self, weights: np.ndarray, images: np.ndarray, labels: np.ndarray) -> bool:
        """Start the step of a share; False if the helper is gone."""
        m = len(images)
        self.shared.weights[...] = weights
        self.shared.images[:m] = images
        self.shared.labels[:m] = labels
        return self._say(b"%d\n" % m)

    def result(self, m: int) -> tuple[float, np.ndarray, np.ndarray] | None:
        """The share's data loss, gradient and scores, or None if the helper failed."""
        try:
            loss = float(self._answer())
        except ValueError:  # an empty answer: it ended; "error": its step raised
            return None
        return loss, self.shared.grads, self.shared.scores[:m]

    def close(self) -> None:
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.shared.close()
        self.shared.memory.unlink()


class StepTeam:
    """Takes training steps in SHARES shares of their images: the first here, the second in
    a helper process where there is a second core, else here too. The two processes split
    `cores` (BLAS's thread count): during a step each runs its matrix products on its half
    of them. `close()` ends the helper (as does this process's end)."""

    def __init__(self, spec: NetworkSpec, model: Any, batch: int, cores: int):
        from engine.netfile import dumps

        self.model = model
        self._sum = np.empty_like(model.store.grads)
        self._chunks_sum = np.empty_like(model.store.grads)
        self._threads = max(1, cores // SHARES)
        self._blas = ThreadpoolController().select(user_api="blas")
        self._helper: _Helper | None = None
        if cores < SHARES:
            return
        v = spec.input_volume
        biggest = shares(batch, SHARES)[1]
        image_shape = (biggest.stop - biggest.start, v.height, v.width, v.depth)
        floats, classes = model.store.values.size, model.analysis.output.depth
        if _layout_bytes(floats, image_shape, classes) > _shared_memory_free():
            return  # a full shared-memory disk would kill this process on a write
        shared = _Shared.create(floats, image_shape, classes)
        try:
            self._helper = _Helper(dumps(spec), shared, self._threads)
        except BaseException:
            shared.close()
            shared.memory.unlink()
            raise
        if not self._helper.started():
            self.close()
            raise RuntimeError("the training helper did not start")

    @property
    def helped(self) -> bool:
        """Whether a helper process takes the second shares."""
        return self._helper is not None

    def train_step(self, x: np.ndarray, labels: np.ndarray,
                   observer: Any = None) -> tuple[float, np.ndarray]:
        """`Model.train_step` on x in shares; fills the model's gradients the same way."""
        model, n = self.model, len(x)
        if n < SHARES:  # an epoch's last batch may be that small
            return model.train_step(x, labels, observer)
        with self._blas.limit(limits=self._threads):
            try:
                return self._shared_step(x, labels, observer)
            except BaseException:
                self.close()  # a helper amid a step would answer the next with this one
                raise

    def _shared_step(self, x: np.ndarray, labels: np.ndarray,
                     observer: Any) -> tuple[float, np.ndarray]:
        model, n = self.model, len(x)
        first, second = shares(n, SHARES)
        helper = self._helper
        handed = helper is not None and helper.hand(model.store.values, x[second],
                                                    labels[second])
        step = _WeightedSum(self._sum, n)
        loss, scores = train_share(model, x[first], labels[first], self._chunks_sum, observer)
        step.add(first, loss, model.store.grads, scores)
        result = helper.result(second.stop - second.start) if handed else None
        if helper is not None and result is None:
            self.close()
        if result is None:
            loss, scores = train_share(model, x[second], labels[second], self._chunks_sum)
            step.add(second, loss, model.store.grads, scores)
        else:
            their_loss, their_grads, their_scores = result
            step.add(second, their_loss, their_grads, their_scores)
        model.store.grads[...] = self._sum
        return step.loss, step.scores

    def close(self) -> None:
        """End the helper and give its memory back."""
        if self._helper is not None:
            self._helper.close()
            self._helper = None


def serve(arguments: list[str]) -> int:
    """A helper: build the network it is sent, then run the steps it is sent until its input
    ends (the trainer closed it, or the trainer's process is gone)."""
    from engine.model import build
    from engine.netfile import loads

    memory, floats, *images, classes, threads = arguments
    threadpool_limits(int(threads), user_api="blas")
    read, write = sys.stdin.buffer, sys.stdout.buffer
    model = build(loads(read.read(int(read.readline()))), NUMPY, 0)
    shared = _Shared.create(int(floats), tuple(map(int, images)), int(classes), name=memory)
    if os.name == "posix":  # attaching registered it, and this process's tracker would
        resource_tracker.unregister(shared.memory._name, "shared_memory")  # unlink it
    total = np.empty_like(model.store.grads)
    write.write(b"ready\n")
    write.flush()
    try:
        for line in read:
            m = int(line)
            model.store.values[...] = shared.weights
            try:
                with np.errstate(over="ignore", invalid="ignore"):  # the trainer's guard says
                    loss, scores = train_share(model, shared.images[:m], shared.labels[:m], total)
            except Exception:  # the trainer takes the share itself, and meets the error there
                write.write(b"error\n")
                write.flush()
                return 1
            shared.grads[...] = model.store.grads
            shared.scores[:m] = scores
            write.write(b"%r\n" % float(loss))
            write.flush()
    finally:
        shared.close()
    return 0

