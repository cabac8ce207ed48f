"""NumPy .npz archives read without pickle and without trusting their sizes.

Each member's .npy header is read first and checked against what the zip directory says the
member holds, and the directory against the archive, before its array is allocated: a header
announcing 10¹² bytes or a member that would unpack 1 MB into 1 GB is refused, not allocated.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from typing import BinaryIO

import numpy as np

from engine.bounded import read_into, shown, unpack_problem
from engine.errors import ConvNetError

# np.savez stores, np.savez_compressed deflates; anything else was not written by NumPy.
_METHODS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED)
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0,
                   (2, 0): np.lib.format.read_array_header_2_0}
# What a damaged zip or .npy member raises while it is read (NotImplementedError: a zip
# feature flag that zipfile does not read).
_DAMAGED = (OSError, EOFError, ValueError, zipfile.BadZipFile, zlib.error, NotImplementedError)
_ENCRYPTED = 0x1


class NpzArchive:
    """The arrays of an .npz archive by name (`files`, `archive[name]`); use it in a `with`.

    Every problem raises `error` with one sentence that names the archive as `where` and ends
    with `remedy` (what to do about a damaged archive).
    """

    def __init__(self, file: BinaryIO, size: int, where: str, error: type[ConvNetError],
                 remedy: str):
        self.where, self.size, self.error, self.remedy = where, size, error, remedy
        try:
            self._zip = zipfile.ZipFile(file)
        except _DAMAGED as e:
            raise error(f"{where} cannot be read as a NumPy .npz file ({shown(str(e))}); "
                        f"{remedy}.") from None
        self.files = [n[:-4] for n in self._zip.namelist() if n.endswith(".npy")]

    def __enter__(self) -> "NpzArchive":
        return self

    def __exit__(self, *exc) -> None:
        self._zip.close()

    def __getitem__(self, key: str) -> np.ndarray:
        where = f"{key} in {self.where}"
        info = self._zip.getinfo(f"{key}.npy")
        problem = self._directory_problem(info)
        if problem:
            raise self.error(f"{where} was not read: {problem}; {self.remedy}.")
        try:
            with self._zip.open(info) as member:
                return self._read(member, info.file_size, where)
        except _DAMAGED as e:
            raise self.error(f"{where} is damaged ({shown(str(e))}); {self.remedy}.") from None

    def _directory_problem(self, info: zipfile.ZipInfo) -> str | None:
        if info.compress_type not in _METHODS:
            return "it is packed in a way NumPy never packs arrays"
        if info.flag_bits & _ENCRYPTED:
            return "it is encrypted, which NumPy never does"
        if info.compress_size > self.size:
            return (f"the archive's directory gives it {info.compress_size:,} bytes, more "
                    f"than the whole archive holds")
        if info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size:
            return "the archive's directory gives it two different sizes"
        return unpack_problem(info.file_size, info.compress_size)

    def _read(self, member: BinaryIO, member_size: int, where: str) -> np.ndarray:
        version = np.lib.format.read_magic(member)
        if version not in _HEADER_READERS:
            raise self.error(f"{where} is a .npy array of format version {version[0]}."
                             f"{version[1]}, which this app does not read; {self.remedy}.")
        shape, fortran, dtype = _HEADER_READERS[version](member)
        if dtype.hasobject:
            raise self.error(f"{where} is an array of Python objects (of mixed sizes?), "
                             f"which only pickle can read; store one plain array.")
        held = member_size - member.tell()
        if any(n < 0 for n in shape) or math.prod(shape) * dtype.itemsize != held:
            raise self.error(f"{where} is damaged: the shape and type in its header do not "
                             f"match the {held:,} bytes of data it holds; {self.remedy}.")
        data = np.empty(held, np.uint8)
        if read_into(member, data) < held:
            raise self.error(f"{where} is truncated: it holds less than its {held:,} bytes; "
                             f"{self.remedy}.")
        array = data.view(dtype)
        return array.reshape(shape[::-1]).T if fortran else array.reshape(shape)
