"""Mutations of valid files: byte flips, truncations, splices and interesting numbers written
over header fields. Each takes a file's bytes and a random generator and returns new bytes."""

from __future__ import annotations

import random
import struct

# Numbers that break size arithmetic: zero, one, sign bits, the largest of each width.
INTERESTING = (0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000,
               0xFFFFFFFF, 10**9, 3072, 3073)


def flip_bytes(raw: bytes, rng: random.Random) -> bytes:
    data = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        if data:
            data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def truncate(raw: bytes, rng: random.Random) -> bytes:
    return raw[:rng.randrange(len(raw) + 1)]


def splice(raw: bytes, rng: random.Random) -> bytes:
    """Delete, repeat or insert a random run of bytes."""
    i = rng.randrange(len(raw) + 1)
    j = min(len(raw), i + rng.randint(1, 64))
    kind = rng.randrange(3)
    if kind == 0:
        return raw[:i] + raw[j:]
    if kind == 1:
        return raw[:j] + raw[i:j] * rng.randint(1, 8) + raw[j:]
    return raw[:i] + rng.randbytes(rng.randint(1, 16)) + raw[i:]


def overwrite_number(raw: bytes, rng: random.Random) -> bytes:
    """An interesting 1-, 2-, 4- or 8-byte number, either byte order, at a random offset."""
    width = rng.choice((1, 2, 4, 8))
    if len(raw) < width:
        return raw
    i = rng.randrange(len(raw) - width + 1)
    value = rng.choice(INTERESTING) % (1 << (8 * width))
    order = rng.choice("<>")
    code = {1: "B", 2: "H", 4: "I", 8: "Q"}[width]
    return raw[:i] + struct.pack(order + code, value) + raw[i + width:]


BYTE_MUTATIONS = (flip_bytes, truncate, splice, overwrite_number)


def mutate_bytes(raw: bytes, rng: random.Random) -> bytes:
    """One to three byte-level mutations."""
    for _ in range(rng.randint(1, 3)):
        raw = rng.choice(BYTE_MUTATIONS)(raw, rng)
    return raw
