"""A stand-in GPU backend for machines without one: NumPy does the arithmetic, but the
arrays are a separate type that refuses to mix with NumPy arrays, the way CuPy's do.

A layer that calls `numpy` directly on a device array, converts one implicitly, or
mixes in a NumPy array fails with TypeError under this backend.
"""

from __future__ import annotations

import operator
from typing import Any

import numpy as np

from engine.backend import Backend


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
        return _wrap(getattr(self._a, name))

    def __getitem__(self, key):
        return _wrap(self._a[_unwrap(key)])

    def __setitem__(self, key, value) -> None:
        self._a[_unwrap(key)] = _unwrap(value)

    def __len__(self) -> int:
        return len(self._a)

    def __float__(self) -> float:
        return float(self._a)

    def __int__(self) -> int:
        return int(self._a)

    def __bool__(self) -> bool:
        return bool(self._a)

    def __repr__(self) -> str:
        return f"DeviceArray({self._a!r})"

    __hash__ = None


def _binary(name: str):
    def method(self, other):
        return _wrap(getattr(self._a, name)(_unwrap(other)))
    return method


def _inplace(name: str):
    def method(self, other):
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
    if isinstance(value, tuple):
        return tuple(_wrap(v) for v in value)
    if callable(value) and not isinstance(value, type):
        return lambda *args, **kwargs: _wrap(value(*_unwrap(args), **_unwrap(kwargs)))
    return value


class _DeviceNumpy:
    """The `xp` of the stand-in: NumPy's namespace, taking and giving device arrays."""

    def __getattr__(self, name: str) -> Any:
        return _wrap(getattr(np, name))


def _to_host(a: Any) -> np.ndarray:
    if not isinstance(a, DeviceArray):
        raise TypeError(f"to_numpy expects a device array, not {type(a).__name__}")
    return a._a.copy()


def _as_strided(a: DeviceArray, shape: tuple[int, ...], strides: tuple[int, ...]) -> DeviceArray:
    return DeviceArray(np.lib.stride_tricks.as_strided(_unwrap(a), shape, strides))


_XP = _DeviceNumpy()
STANDIN = Backend("stand-in", _XP, lambda a: DeviceArray(a.copy()), _to_host,
                  _as_strided=_as_strided, _take=_XP.take)  # as CuPy's: no `mode`
