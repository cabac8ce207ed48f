"""A stand-in GPU backend for machines without one: NumPy does the arithmetic, but the
arrays are a separate type that refuses to mix with NumPy arrays, the way CuPy's do.

A layer that calls `numpy` directly on a device array, converts one implicitly, or
mixes in a NumPy array fails with TypeError under this backend. As on CuPy, a reduction
gives a 0-d device array, not a NumPy scalar.

What CuPy allows but pays for where NumPy does not is counted in `COSTS` (`costs()`):
values read back into Python (each waits for all queued device work) and inputs that
CuPy copies before an operation because they overlap its output without being it.
"""

from __future__ import annotations

import contextlib
import operator
from typing import Any, Iterator

import numpy as np

from engine.backend import Backend


class Costs:
    """What a real GPU pays for and NumPy does not: `reads`, device values read into Python
    (float(), int(), bool(), item(), a boolean mask's count, to_numpy), each a wait for all
    queued work; `copies`, inputs that CuPy copies first because they overlap the output
    they are written to without being that very array (its `_copy_in_args_if_needed`)."""

    def __init__(self) -> None:
        self.reads = self.copies = 0


COSTS = Costs()


@contextlib.contextmanager
def costs() -> Iterator[Costs]:
    """The costs of the work done inside the block."""
    COSTS.reads = COSTS.copies = 0
    yield COSTS


def _read() -> None:
    COSTS.reads += 1


def _count_overlaps(inputs: tuple, outputs: tuple) -> None:
    """CuPy's rule for an elementwise operation: an input that may share memory with an
    output, and is not that same array object, is copied first."""
    for a in inputs:
        if isinstance(a, DeviceArray) and any(
                isinstance(o, DeviceArray) and a is not o and np.may_share_memory(a._a, o._a)
                for o in outputs):
            COSTS.copies += 1


class DeviceArray:
    """An array "on the device": NumPy storage that only `xp` functions and operators touch."""

    __slots__ = ("_a",)
    __array_ufunc__ = None  # NumPy operators and ufuncs refuse device arrays

    def __init__(self, a: np.ndarray):
        self._a = a

    def __array__(self, *args, **kwargs):
        raise TypeError("implicit conversion of a device array to NumPy; use backend.to_numpy")

    def __array_function__(self, func, types, args, kwargs):
        raise TypeError(f"numpy.{func.__name__} called on a device array; use backend.xp")

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__array"):  # no buffer or interface NumPy could read directly
            raise AttributeError(name)
        if name in ("item", "tolist"):
            _read()
        return _wrap(getattr(self._a, name))

    def __getitem__(self, key):
        _read_if_masked(key)
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value) -> None:
        _read_if_masked(key)
        key, value = _unwrap(key), _unwrap(value)
        target = self._a[key]
        if (isinstance(value, np.ndarray) and np.may_share_memory(target, value)
                and not _same_view(target, value)):
            COSTS.copies += 1  # CuPy skips a copy onto the very same view, copies otherwise
        self._a[key] = value

    def __len__(self) -> int:
        return len(self._a)

    def __float__(self) -> float:
        _read()
        return float(self._a)

    def __int__(self) -> int:
        _read()
        return int(self._a)

    def __bool__(self) -> bool:
        _read()
        return bool(self._a)

    def __format__(self, spec: str) -> str:
        _read()
        return format(self._a, spec)

    def __repr__(self) -> str:
        return f"DeviceArray({self._a!r})"

    __hash__ = None


def _binary(name: str):
    def method(self, other):
        return _wrap(getattr(self._a, name)(_unwrap(other)))
    return method


def _inplace(name: str):
    def method(self, other):
        _count_overlaps((other,), (self,))
        getattr(self._a, name)(_unwrap(other))
        return self
    return method


for _op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
            "xor"):
    setattr(DeviceArray, f"__{_op}__", _binary(f"__{_op}__"))
    setattr(DeviceArray, f"__r{_op}__", _binary(f"__r{_op}__"))
    setattr(DeviceArray, f"__i{_op}__", _inplace(f"__i{_op}__"))
for _op in ("lt", "le", "gt", "ge", "eq", "ne"):
    setattr(DeviceArray, f"__{_op}__", _binary(f"__{_op}__"))
for _op in ("neg", "pos", "abs", "invert"):
    setattr(DeviceArray, f"__{_op}__", lambda self, f=getattr(operator, _op): _wrap(f(self._a)))


def _read_if_masked(key: Any) -> None:
    """CuPy counts a boolean mask's True entries on the host to size the result."""
    for k in key if isinstance(key, tuple) else (key,):
        if isinstance(k, DeviceArray) and k._a.dtype == bool:
            _read()


def _same_view(a: np.ndarray, b: np.ndarray) -> bool:
    return (a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
            and a.shape == b.shape and a.strides == b.strides)


def _unwrap(value: Any) -> Any:
    if isinstance(value, DeviceArray):
        return value._a
    if isinstance(value, np.ndarray):
        raise TypeError("a NumPy array was mixed with device arrays; move it with "
                        "backend.asarray first")
    if isinstance(value, (list, tuple)):
        return type(value)(_unwrap(v) for v in value)
    if isinstance(value, dict):
        return {k: _unwrap(v) for k, v in value.items()}
    return value


def _wrap(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return DeviceArray(value)
    if isinstance(value, np.generic):  # CuPy's reductions and indexing give 0-d arrays
        return DeviceArray(np.asarray(value))
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if callable(value) and not isinstance(value, type):
        return lambda *args, **kwargs: _wrap(value(*_unwrap(args), **_unwrap(kwargs)))
    return value


class _Ufunc:
    """A NumPy ufunc on device arrays, counting the inputs CuPy would copy (`Costs`)."""

    def __init__(self, ufunc: np.ufunc):
        self._ufunc = ufunc

    def __call__(self, *args, **kwargs):
        outputs = kwargs.get("out", args[self._ufunc.nin:])
        _count_overlaps(args[:self._ufunc.nin],
                        outputs if isinstance(outputs, tuple) else (outputs,))
        return _wrap(self._ufunc(*_unwrap(args), **_unwrap(kwargs)))

    def __getattr__(self, name: str) -> Any:
        return _wrap(getattr(self._ufunc, name))


class _DeviceNumpy:
    """The `xp` of the stand-in: NumPy's namespace, taking and giving device arrays."""

    def __getattr__(self, name: str) -> Any:
        value = getattr(np, name)
        return _Ufunc(value) if isinstance(value, np.ufunc) else _wrap(value)


def _to_host(a: Any) -> np.ndarray:
    if not isinstance(a, DeviceArray):
        raise TypeError(f"to_numpy expects a device array, not {type(a).__name__}")
    _read()
    return a._a.copy()


def _as_strided(a: DeviceArray, shape: tuple[int, ...], strides: tuple[int, ...]) -> DeviceArray:
    return DeviceArray(np.lib.stride_tricks.as_strided(_unwrap(a), shape, strides))


_XP = _DeviceNumpy()
STANDIN = Backend("stand-in", _XP, lambda a: DeviceArray(a.copy()), _to_host,
                  _as_strided=_as_strided, _take=_XP.take,  # as CuPy's: no `mode`
                  _column_dots=lambda a, b: _XP.einsum("ij,ij->j", a, b))
