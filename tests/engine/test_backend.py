"""The backend choice, and the stand-in GPU backend that keeps layers honest."""

import os
import types
from pathlib import Path

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

import engine.backend as backend_module
from engine.backend import NUMPY, DeviceError, get_backend, gpu_free_memory, host_free_memory
from engine.layers.activation import ReLU
from tests.engine.layer_helpers import build_layer
from tests.engine.standin import STANDIN, costs


def test_cpu_and_auto_without_a_gpu_give_numpy(monkeypatch):
    monkeypatch.setattr(backend_module, "cupy", None)
    assert get_backend("cpu") is NUMPY
    assert get_backend("auto") is NUMPY
    assert gpu_free_memory() is None


def test_asking_for_the_gpu_without_cupy_is_one_plain_sentence(monkeypatch):
    monkeypatch.setattr(backend_module, "cupy", None)
    with pytest.raises(DeviceError, match="needs CuPy, which is not installed") as e:
        get_backend("gpu")
    assert "\n" not in str(e.value) and str(e.value).endswith(".")


def fake_cupy(device_count):
    """A CuPy module as installed on a machine whose CUDA answers with `device_count()`."""
    module = types.ModuleType("cupy")
    module.cuda = types.SimpleNamespace(runtime=types.SimpleNamespace(getDeviceCount=device_count))
    return module


def test_installed_cupy_without_a_driver_falls_back_in_one_sentence(monkeypatch):
    def no_driver():
        raise RuntimeError("cudaErrorInsufficientDriver: CUDA driver version is insufficient")

    monkeypatch.setattr(backend_module, "cupy", fake_cupy(no_driver))
    with pytest.raises(DeviceError) as e:
        get_backend("gpu")
    assert str(e.value) == ("CuPy is installed but finds no CUDA device on this machine; "
                            "use --device cpu.")
    assert get_backend("auto") is NUMPY
    assert gpu_free_memory() is None


def test_cuda_is_asked_for_its_devices_once(monkeypatch):
    calls = []
    monkeypatch.setattr(backend_module, "cupy", fake_cupy(lambda: calls.append(1) or 0))
    for _ in range(3):
        assert get_backend("auto") is NUMPY
    assert len(calls) == 1


class FakePool:
    """CuPy's memory pool as `gpu_free_memory` asks it."""

    def __init__(self, used: int, cached: int, limit: int = 0):
        self.used, self.cached, self.limit = used, cached, limit

    def used_bytes(self) -> int:
        return self.used

    def free_bytes(self) -> int:
        return self.cached

    def get_limit(self) -> int:
        return self.limit


def test_free_gpu_memory_counts_what_cupys_pool_holds_unused(monkeypatch):
    """A finished run's arrays stay in CuPy's pool, which CUDA counts as used; the pool
    hands them out again, and frees them for an allocation that needs the room."""
    module = fake_cupy(lambda: 1)
    module.cuda.runtime.memGetInfo = lambda: (2 * MIB, 80 * MIB)
    pool = FakePool(used=10 * MIB, cached=6 * MIB)
    module.get_default_memory_pool = lambda: pool
    monkeypatch.setattr(backend_module, "cupy", module)
    assert gpu_free_memory() == 8 * MIB
    pool.limit = 13 * MIB  # CUPY_GPU_MEMORY_LIMIT: what the arrays in use leave of it
    assert gpu_free_memory() == 3 * MIB


def test_unknown_device_is_refused():
    with pytest.raises(DeviceError, match="Unknown device 'tpu'"):
        get_backend("tpu")


def test_standin_arrays_refuse_numpy():
    a = STANDIN.asarray(np.ones(3))
    host = np.ones(3)
    for mix in (lambda: a + host, lambda: host + a, lambda: np.maximum(a, 0),
                lambda: np.asarray(a), lambda: np.sum(a), lambda: STANDIN.xp.add(a, host)):
        with pytest.raises(TypeError):
            mix()
    np.testing.assert_array_equal(STANDIN.to_numpy(STANDIN.xp.maximum(a * 2, 0)), [2, 2, 2])


def test_standin_counts_what_cupy_waits_for_and_copies():
    """A reduction is a 0-d device array, read into Python only by float() and the like; a
    boolean mask is counted on the host; an elementwise input that overlaps its output is
    copied first unless it is that very array."""
    xp = STANDIN.xp
    a = STANDIN.asarray(np.arange(8.0) - 4)
    with costs() as spent:
        total = a.sum() * 2
        assert type(total) is type(a) and total.shape == ()
        assert spent.reads == 0
        assert float(total) == -8
        a[a < 0] = 0
        assert spent.reads == 2
        STANDIN.to_numpy(a)
        assert spent.reads == 3
        xp.maximum(a, 1, out=a)
        a += a
        a[...] = a
        assert spent.copies == 0
        xp.maximum(a.reshape(2, 4), 1, out=a.reshape(2, 4))
        a[1:] += a[:-1]
        a[1:] = a[:-1]
        assert spent.copies == 3


def test_column_dots_are_the_sums_of_products_down_each_column(rng):
    a, b = rng.standard_normal((2, 50, 3))
    for backend in (NUMPY, STANDIN):
        dots = backend.column_dots(backend.asarray(a, np.float64), backend.asarray(b, np.float64))
        np.testing.assert_allclose(backend.to_numpy(dots), (a * b).sum(axis=0), rtol=1e-12)


def test_a_layer_that_calls_numpy_directly_fails_on_the_standin():
    class NumpyReLU(ReLU):
        def _apply(self, x, out):
            return np.maximum(x, 0)

    good = build_layer(STANDIN, (2, 2, 1), "relu")
    bad = build_layer(STANDIN, (2, 2, 1), "relu")
    bad.__class__ = NumpyReLU
    x = STANDIN.asarray(np.ones((1, 2, 2, 1)))
    good.forward(x, True)
    with pytest.raises(TypeError):
        bad.forward(x, True)


@pytest.fixture
def blas_threads():
    """What NumPy's BLAS uses now; put back after the test."""
    def threads():
        return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    before = threads()
    yield threads
    threadpool_limits(max(before), user_api="blas")


def test_leaving_cores_free_leaves_the_others_to_blas_and_never_fewer_than_one(blas_threads):
    cores = backend_module.cpu_cores()
    assert backend_module.leave_cores_free(1) == max(1, cores - 1)
    assert blas_threads() == {max(1, cores - 1)}
    assert backend_module.leave_cores_free(cores + 3) == 1
    assert blas_threads() == {1}


MIB = 1 << 20


def limit_address_space(monkeypatch, limit: int | None) -> None:
    """host_free_memory reads `limit` as the address-space limit (ulimit -v; None: none);
    the test process's own limit stays as it is."""
    resource = pytest.importorskip("resource")
    real = resource.getrlimit
    limit = resource.RLIM_INFINITY if limit is None else limit
    monkeypatch.setattr(resource, "getrlimit", lambda which: (
        (limit, limit) if which == resource.RLIMIT_AS else real(which)))


def test_free_host_memory_is_what_the_address_space_limit_leaves(monkeypatch, tmp_path):
    statm = Path("/proc/self/statm")
    if not statm.exists():
        pytest.skip("the process's virtual size is read from /proc")
    monkeypatch.setattr(backend_module, "CGROUP", str(tmp_path))  # no cgroup limit
    size = int(statm.read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    limit_address_space(monkeypatch, size + 64 * MIB)
    assert abs(host_free_memory() - 64 * MIB) < 8 * MIB
    limit_address_space(monkeypatch, size // 2)
    assert host_free_memory() == 0


def test_free_host_memory_is_what_the_cgroup_memory_limit_leaves(monkeypatch, tmp_path):
    monkeypatch.setattr(backend_module, "CGROUP", str(tmp_path))
    limit_address_space(monkeypatch, None)
    unlimited = host_free_memory()
    (tmp_path / "memory.current").write_text(f"{1024 * MIB}\n")
    (tmp_path / "memory.max").write_text("max\n")
    assert host_free_memory() == pytest.approx(unlimited, rel=0.1)
    (tmp_path / "memory.max").write_text(f"{1024 * MIB + 48 * MIB}\n")
    assert host_free_memory() == 48 * MIB
    (tmp_path / "memory.max").write_text(f"{512 * MIB}\n")
    assert host_free_memory() == 0
