"""The one place that chooses NumPy or CuPy: a backend object carries `xp` and the
helpers that move arrays between the host and the device.

Layers, losses and optimizers receive a backend and only ever call `backend.xp`;
nothing else in the engine imports CuPy. Random numbers are drawn on the host with a
NumPy generator and moved to the device, so a seed gives the same run on every device
and the generator's state fits in a checkpoint.
"""

from __future__ import annotations

import functools
import os
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

from engine.errors import ConvNetError

try:
    import cupy
except ImportError:  # the GPU is optional
    cupy = None
try:
    import resource
except ImportError:  # not on Windows, which has no address-space limit to read
    resource = None

DEVICES = ("cpu", "gpu", "auto")
CGROUP = "/sys/fs/cgroup"  # where a container's cgroup v2 files are seen


class DeviceError(ConvNetError):
    """The requested device cannot be used on this machine."""


@dataclass(frozen=True)
class Backend:
    """Array module `xp` plus host↔device transfer; float32 unless told otherwise."""

    name: str  # "cpu" or "gpu"
    xp: Any
    _to_device: Callable[[np.ndarray], Any]
    _to_host: Callable[[Any], np.ndarray]
    _synchronize: Callable[[], None] = lambda: None
    _as_strided: Callable[..., Any] | None = None  # the layers need it; an optimizer does not
    _take: Callable[..., Any] | None = None
    _column_dots: Callable[[Any, Any], Any] | None = None
    cache_floats: int | None = None  # see batch_slices; None: the whole batch at once
    layer_floats: int | None = None  # see engine.step_team.share_chunks
    # Whether reading a result back into Python (a count, a flag) is free, so that a pass
    # may test a cheap condition to skip work; on a GPU it waits for all queued work.
    free_reads: bool = False

    def asarray(self, a: Any, dtype: Any = np.float32) -> Any:
        """A host array (or list) as a device array of `dtype`; on the CPU this is the
        array itself when it is already contiguous and of that dtype, not a copy."""
        return self._to_device(np.ascontiguousarray(a, dtype=dtype))

    def to_numpy(self, a: Any) -> np.ndarray:
        """A device array as a NumPy array (a copy when the data lives elsewhere)."""
        return self._to_host(a)

    def zeros(self, shape: tuple[int, ...], dtype: Any = np.float32) -> Any:
        return self.xp.zeros(shape, dtype=dtype)

    def empty(self, shape: tuple[int, ...], dtype: Any = np.float32) -> Any:
        return self.xp.empty(shape, dtype=dtype)

    def as_strided(self, a: Any, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
        """A view of a's memory with the given shape and strides in bytes (no copy); each
        array module has its own."""
        return self._as_strided(a, shape, strides)

    def take(self, a: Any, indices: Any, axis: int, out: Any) -> None:
        """Write a's entries at `indices` (all in range) along `axis` into `out`; NumPy's
        take buffers `out` unless told how to treat indices out of range, CuPy's cannot
        be told."""
        self._take(a, indices, axis=axis, out=out)

    def column_dots(self, a: Any, b: Any) -> Any:
        """Σ_i a[i, j]·b[i, j] for every column j of two (M, N) arrays, without a temporary
        of their size: NumPy's einsum; CuPy's einsum would copy both transposed and run a
        batched GEMM of N dot products."""
        return self._column_dots(a, b)

    def batch_slices(self, n: int, floats_per_image: int) -> list[slice]:
        """The batch of n images in slices for a chain of elementwise passes: on the CPU,
        slices whose arrays (`floats_per_image` each) stay in its cache from one pass to
        the next, instead of streaming from memory every pass; on a GPU one slice."""
        size = n if self.cache_floats is None else max(1, self.cache_floats // floats_per_image)
        return [slice(start, min(start + size, n)) for start in range(0, n, size)]

    def random(self, rng: np.random.Generator, shape: tuple[int, ...]) -> Any:
        """Uniform [0, 1) float32 numbers from the host generator `rng`, on the device."""
        return self.asarray(rng.random(shape, dtype=np.float32))

    def synchronize(self) -> None:
        """Wait for queued device work (for timing); a no-op on the CPU."""
        self._synchronize()


NUMPY = Backend("cpu", np, lambda a: a, np.asarray,
                _as_strided=np.lib.stride_tricks.as_strided,
                _take=functools.partial(np.take, mode="clip"),
                _column_dots=functools.partial(np.einsum, "ij,ij->j"),
                cache_floats=1 << 19,  # 2 MiB: a share of a 32 MiB L3, beyond a 512 KiB L2
                # 4 MiB: a layer's arrays that stay in that L3 while another core runs; on a
                # 2-core EPYC copies run at 50 GB/s up to 8 MiB, at 9-17 GB/s beyond
                layer_floats=1 << 20,
                free_reads=True)


def gpu_available() -> bool:
    """Whether CuPy is installed and sees at least one CUDA device; CUDA is asked once."""
    return cupy is not None and _device_count(cupy) > 0


@functools.lru_cache(maxsize=None)  # per CuPy module, so a test's stand-in is asked afresh
def _device_count(module: Any) -> int:
    try:
        return module.cuda.runtime.getDeviceCount()
    except Exception:  # CuPy raises driver-specific errors when CUDA is missing
        return 0


def gpu_free_memory() -> int | None:
    """Free bytes on the current CUDA device for CuPy's arrays, or None without a usable GPU:
    what CUDA has free, plus what CuPy's memory pool holds unused (the arrays of a finished
    run stay there, and the pool gives them back when an allocation needs them), within the
    pool's limit (CUPY_GPU_MEMORY_LIMIT) if one is set."""
    if not gpu_available():
        return None
    free, _total = cupy.cuda.runtime.memGetInfo()
    pool = cupy.get_default_memory_pool()
    free += pool.free_bytes()
    limit = pool.get_limit()
    if limit:
        free = min(free, max(limit - pool.used_bytes(), 0))
    return int(free)


_probe_started = threading.Event()


def probe_gpu() -> None:
    """Start CUDA's driver and context in a background thread, once: the first CUDA call of
    a process takes up to seconds, and the window asks for free GPU memory while it builds
    itself, so it calls this first and its own question finds CUDA ready."""
    if not _probe_started.is_set() and cupy is not None:
        _probe_started.set()
        threading.Thread(target=_warm_up, name="gpu probe", daemon=True).start()


def _warm_up() -> None:
    try:
        gpu_free_memory()
    except Exception:  # the window asks again and says what went wrong
        pass


def cpu_cores() -> int:
    """How many cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def blas_threads() -> int:
    """How many threads NumPy's BLAS may use now (1 where threadpoolctl finds none)."""
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts, default=1)


def leave_cores_free(cores: int) -> int:
    """Have the CPU backend's matrix products (NumPy's BLAS) use all but `cores` of this
    process's cores, and at least one; returns how many threads they use now."""
    threads = max(1, cpu_cores() - cores)
    threadpool_limits(threads, user_api="blas")
    return threads


def host_free_memory() -> int | None:
    """Bytes of RAM a new allocation of this process can take without swapping or being
    refused: the least of the system's (Linux's MemAvailable), what a cgroup v2 memory limit
    leaves and what the address-space limit (ulimit -v) leaves; None where none is known."""
    known = [b for b in (_system_free(), _cgroup_free(), _address_space_free()) if b is not None]
    return min(known, default=None)


def _small_file(path: str) -> str | None:
    """The text of a small /proc or /sys file, read within bounds; None if it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(65536).decode("ascii", "replace")
    except OSError:
        return None


def _system_free() -> int | None:
    try:
        for line in (_small_file("/proc/meminfo") or "").splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None


def _cgroup_free() -> int | None:
    limit, used = (_small_file(f"{CGROUP}/{name}") for name in ("memory.max", "memory.current"))
    try:
        return max(int(limit) - int(used), 0)
    except (TypeError, ValueError):  # no cgroup v2 here, or "max": no limit
        return None


def _address_space_free() -> int | None:
    if resource is None:
        return None
    limit, _ = resource.getrlimit(resource.RLIMIT_AS)
    if limit == resource.RLIM_INFINITY:
        return None
    try:  # the process's virtual size counts against the limit
        size = int((_small_file("/proc/self/statm") or "").split()[0]) * resource.getpagesize()
    except (ValueError, IndexError):  # no /proc: the limit is all that is known
        size = 0
    return max(limit - size, 0)


def free_memory(backend: Backend) -> int | None:
    """Free bytes where `backend` allocates: the GPU's memory or the host's RAM."""
    return gpu_free_memory() if backend.name == "gpu" else host_free_memory()


def _cupy_backend() -> Backend:
    return Backend("gpu", cupy, cupy.asarray, cupy.asnumpy,
                   lambda: cupy.cuda.get_current_stream().synchronize(),
                   cupy.lib.stride_tricks.as_strided, cupy.take,
                   functools.partial(_cupy_column_dots(cupy), axis=0))


@functools.lru_cache(maxsize=None)
def _cupy_column_dots(module: Any) -> Any:
    """One reduction over the rows of the products (compiled on its first call)."""
    # in the reduction `a` and `b` are the partial sums, in the final map `a` the sum
    return module.ReductionKernel("T x, T y", "T z", "x * y", "a + b", "z = a", "0",
                                "column_dots")


def get_backend(device: str = "cpu") -> Backend:
    """The backend for "cpu", "gpu" or "auto" (the GPU when one is usable, else the CPU)."""
    if device == "cpu":
        return NUMPY
    if device == "auto":
        return _cupy_backend() if gpu_available() else NUMPY
    if device == "gpu":
        if cupy is None:
            raise DeviceError("Training on the GPU needs CuPy, which is not installed; "
                              "install it with pip install cupy-cuda12x or use --device cpu.")
        if not gpu_available():
            raise DeviceError("CuPy is installed but finds no CUDA device on this machine; "
                              "use --device cpu.")
        return _cupy_backend()
    raise DeviceError(f"Unknown device '{device}'; use one of {', '.join(DEVICES)}.")
