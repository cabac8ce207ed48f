"""The backend choice, and the stand-in GPU backend that keeps layers honest."""

import numpy as np
import pytest

import engine.backend as backend_module
from engine.backend import NUMPY, DeviceError, get_backend, gpu_free_memory
from engine.layers.activation import ReLU
from tests.engine.layer_helpers import build_layer
from tests.engine.standin import STANDIN


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
