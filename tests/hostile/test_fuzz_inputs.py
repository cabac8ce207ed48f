"""Fuzzing: random and mutated network files and data files are read, or refused with one
plain sentence, within the time and memory bounds of tests/hostile/bounds.py.

FORMATS lists, per format, how many cases to run and a maker of cases: each case is a reader
of bytes and the bytes to read. Together they run over 20,000 cases, seeded (FUZZ_SEED, 0 by
default) so that a failure replays. Run files (checkpoints) are mutated from small real ones:
their bytes, their zip records, and the JSON of their training record.
"""

from __future__ import annotations

import base64
import copy
import gzip
import io
import json
import os
import pickle
import random
import re
import struct
import zipfile
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

from engine.data.cifar import binary_batch, python_batch
from engine.data.dataset import split
from engine.data.idx import IMAGES_MAGIC, LABELS_MAGIC, read_idx
from engine.data.load import load_data
from engine.data.npz import read_npz
from engine.netfile import dumps, loads
from engine.resources import network_template, templates
from engine.shapes import analyse
from engine.spec import make_layer, network
from tests.data.data_files import cifar_records, idx_bytes, planes, py2_pickle
from tests.hostile.bounds import Escaped, check, many_cases
from tests.hostile.mutate import INTERESTING, mutate_bytes

SEED = int(os.environ.get("FUZZ_SEED", "0"))
Case = tuple[Callable[[bytes], Any], bytes]


@dataclass(frozen=True)
class Format:
    cases: int
    make: Callable[[random.Random], Case]


# --- network files -------------------------------------------------------------------------

def _read_network(raw: bytes) -> None:
    analyse(loads(raw, "fuzz.json"))  # what `summary` does with a file


NETWORK_SEEDS = [network_template(name).read_bytes() for name in templates()] + [
    dumps(network("small", (8, 8, 1), make_layer("conv", "c1"), make_layer("pool", "p1"),
                  make_layer("fc", "fc"), make_layer("softmax", "sm"))).encode()]
JSON_VALUES = (0, -1, 1, 2**31, 2**63, 10**30, 1.5, -0.0, 1e308, float("nan"), float("inf"),
               "", "\ud800", "\udfff x", "a\nb", "x" * 3000, None, True, [], {}, [1, 2],
               {"type": "conv"}, "conv", "relu", "softmax", "input", "max", "avg")
# Text no json.dumps writes: a number past Python's 4,300 digits, one past float range.
NUMBER_TOKENS = ("9" * 4301, "1e999", "-1e999", "1" * 300, "0.0000001")


def _random_slot(data: Any, rng: random.Random) -> tuple[Any, Any]:
    """A container inside `data` and one of its keys (None: the container is empty)."""
    node = data
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return node, None
        key = rng.choice(keys)
        child = node[key]
        if isinstance(child, (dict, list)) and child and rng.random() < 0.7:
            node = child
            continue
        return node, key


def _mutate_json(raw: bytes, rng: random.Random) -> bytes:
    data = json.loads(raw)
    for _ in range(rng.randint(1, 3)):
        # Mostly inside the layers: a damaged header stops validation before them.
        layers = data.get("layers")
        inside = isinstance(layers, list) and rng.random() < 0.8
        node, key = _random_slot(layers if inside else data, rng)
        value = copy.deepcopy(rng.choice(JSON_VALUES))
        if key is None:
            node.append(value) if isinstance(node, list) else node.update(zzz=value)
        elif rng.random() < 0.7:
            node[key] = value
        elif rng.random() < 0.5:
            del node[key]
        elif isinstance(node, list):
            node[key:key] = [copy.deepcopy(node[key]) for _ in range(rng.randint(1, 8))]
    text = json.dumps(data, ensure_ascii=rng.random() < 0.8)
    if rng.random() < 0.2:
        digits = [i for i, c in enumerate(text) if c.isdigit()]
        if digits:
            i = rng.choice(digits)
            text = text[:i] + rng.choice(NUMBER_TOKENS) + text[i + 1:]
    if rng.random() < 0.02:
        text = "[" * 100_000 + text + "]" * 100_000
    return text.encode("utf-8", "surrogatepass")


def _mutate_text(raw: bytes, rng: random.Random) -> bytes:
    """Byte mutations, kept valid UTF-8 half of the time so that they reach the JSON."""
    raw = mutate_bytes(raw, rng)
    return raw.decode("utf-8", "ignore").encode() if rng.random() < 0.5 else raw


def network_case(rng: random.Random) -> Case:
    seed = rng.choice(NETWORK_SEEDS)
    mutate = _mutate_json if rng.random() < 0.6 else _mutate_text
    return _read_network, mutate(seed, rng)


# --- NumPy .npz ----------------------------------------------------------------------------

def _npz(compressed: bool = False, **arrays) -> bytes:
    buffer = io.BytesIO()
    (np.savez_compressed if compressed else np.savez)(buffer, **arrays)
    return buffer.getvalue()


def _read_npz(raw: bytes) -> None:
    split(read_npz(io.BytesIO(raw), len(raw), Path("fuzz.npz")), 0.25, 0)


_x = np.random.default_rng(0).integers(0, 256, (6, 4, 4, 1), dtype=np.uint8)
NPZ_SEEDS = [
    _npz(x=_x, y=np.arange(6) % 3),
    _npz(True, x=_x, y=np.arange(6) % 3),
    _npz(x=_x[..., 0], y=np.arange(6.0) % 2, x_test=_x[:2, ..., 0], y_test=np.array([0, 1]),
         class_names=np.array(["cat", "dog"])),
    _npz(True, x=(_x / 255).astype(np.float32).transpose(0, 3, 1, 2), y=np.arange(6) % 2,
         class_names=np.array([b"a", b"b"])),
]
DESCRS = ("|u1", "<i8", ">f4", "<f2", "|O", "<U3", "|S5", "|V0", "|V3", "|b1", "<c16", "<M8[s]",
          "(2,)u1", "[('a', '<i4')]", "'<u1'", "nonsense")
SHAPES = ("()", "(0,)", "(-1, 4)", "(1099511627776,)", "(1000000000000, 1000000000000)",
          "(6, 4, 4, 1)", "(6, 1, 4, 4)", "(2, 3, 4, 5, 6)", "(6,)", "(5,)", "(7,)", "(1,) * 32",
          "(" + "9" * 30 + ",)", "'6'", "(6.0,)")


def _npy_members(raw: bytes) -> list[tuple[str, dict[str, str], bytes]]:
    """An .npz's members as (name, header fields as text, data)."""
    members = []
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        for name in archive.namelist():
            member = io.BytesIO(archive.read(name))
            np.lib.format.read_magic(member)
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(member)
            fields = {"descr": repr(np.lib.format.dtype_to_descr(dtype)),
                      "fortran_order": repr(fortran), "shape": repr(shape)}
            members.append((name, fields, member.read()))
    return members


NPZ_MEMBERS = [_npy_members(raw) for raw in NPZ_SEEDS]


def _npy(fields: dict[str, str], data: bytes, version: int) -> bytes:
    """An .npy member written by hand, so that its header may say anything."""
    text = "{" + ", ".join(f"'{k}': {v}" for k, v in fields.items()) + ", }"
    width = 2 if version == 1 else 4
    pad = -(6 + 2 + width + len(text) + 1) % 64
    header = (text + " " * pad + "\n").encode("latin-1")
    size = struct.pack("<H" if width == 2 else "<I", len(header) % (1 << (8 * width)))
    return b"\x93NUMPY" + bytes([version, 0]) + size + header + data


def _rebuilt_npz(rng: random.Random) -> bytes:
    members = [list(m) for m in rng.choice(NPZ_MEMBERS)]
    for _ in range(rng.randint(1, 3)):
        member = rng.choice(members)
        fields, data = dict(member[1]), member[2]
        what = rng.randrange(6)
        if what == 0:
            fields["shape"] = rng.choice(SHAPES)
        elif what == 1:
            fields["descr"] = rng.choice(DESCRS)
        elif what == 2:
            fields["fortran_order"] = rng.choice(("True", "False", "1", "None"))
        elif what == 3:
            data = data[:rng.randrange(len(data) + 1)] + rng.randbytes(rng.choice((0, 0, 1, 8)))
        elif what == 4:
            member[0] = rng.choice(("x.npy", "y.npy", "x_test.npy", "class_names.npy", "x"))
        else:
            del fields[rng.choice(list(fields))]
        member[1], member[2] = fields, data
    buffer = io.BytesIO()
    method = rng.choice((zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED))
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, fields, data in members:
            archive.writestr(name, _npy(fields, data, rng.choice((1, 1, 2, 3))))
    return buffer.getvalue()


# Offsets and widths of the numbers in a zip's local headers, central directory and its end.
ZIP_FIELDS = {b"PK\x03\x04": ((6, 2), (8, 2), (14, 4), (18, 4), (22, 4), (26, 2), (28, 2)),
              b"PK\x01\x02": ((8, 2), (10, 2), (16, 4), (20, 4), (24, 4), (28, 2), (30, 2),
                              (32, 2), (42, 4)),
              b"PK\x05\x06": ((8, 2), (10, 2), (12, 4), (16, 4), (20, 2))}


def _patched_zip(raw: bytes, rng: random.Random) -> bytes:
    """An interesting number written over one field of one of the zip's records."""
    signature = rng.choice(list(ZIP_FIELDS))
    starts = [m.start() for m in re.finditer(re.escape(signature), raw)]
    offset, width = rng.choice(ZIP_FIELDS[signature])
    at = rng.choice(starts) + offset
    value = rng.choice(INTERESTING + (8, 12, 14)) % (1 << (8 * width))
    return raw[:at] + value.to_bytes(width, "little") + raw[at + width:]


def npz_case(rng: random.Random) -> Case:
    kind = rng.random()
    if kind < 0.35:
        return _read_npz, mutate_bytes(rng.choice(NPZ_SEEDS), rng)
    if kind < 0.55:
        return _read_npz, _patched_zip(rng.choice(NPZ_SEEDS), rng)
    return _read_npz, _rebuilt_npz(rng)


# --- MNIST IDX -----------------------------------------------------------------------------

IDX_SEEDS = {(IMAGES_MAGIC, 3): idx_bytes(_x[:3, ..., 0]),
             (LABELS_MAGIC, 1): idx_bytes(np.arange(3, dtype=np.uint8))}


def _read_idx(raw: bytes, magic: int, dims: int, gzipped: bool) -> None:
    name = "train-images-idx3-ubyte" if dims == 3 else "train-labels-idx1-ubyte"
    read_idx(io.BytesIO(raw), len(raw), Path(name + (".gz" if gzipped else "")), magic, dims)


def idx_case(rng: random.Random) -> Case:
    (magic, dims), raw = rng.choice(list(IDX_SEEDS.items()))
    gzipped = rng.random() < 0.5
    if rng.random() < 0.5:  # a header field: the magic number or a dimension
        field = rng.randrange(1 + dims)
        value = rng.choice(INTERESTING + (IMAGES_MAGIC, LABELS_MAGIC))
        raw = raw[:4 * field] + struct.pack(">I", value) + raw[4 * field + 4:]
    if rng.random() < 0.5:
        raw = mutate_bytes(raw, rng)
    if gzipped:
        raw = gzip.compress(raw, mtime=0)
        if rng.random() < 0.5:
            raw = mutate_bytes(raw, rng)
    return partial(_read_idx, magic=magic, dims=dims, gzipped=gzipped), raw


# --- CIFAR: pickled batches and binary records ---------------------------------------------

def _read_python_batch(raw: bytes) -> None:
    python_batch(raw, Path("data_batch_1"), b"labels", 10)


_images = np.random.default_rng(1).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
_batch = {b"batch_label": b"training batch 1 of 5", b"labels": [1, 2, 3],
          b"data": planes(_images), b"filenames": [b"a.png", b"b.png", b"c.png"]}
# As the official files were written (Python 2), and as Python 3 writes it (protocol 4).
PICKLERS = (py2_pickle, partial(pickle.dumps, protocol=4))
CIFAR_SEEDS = [pickle_batch(_batch) for pickle_batch in PICKLERS]
ODD_VALUES = ([], [0.5], [2**70], [True], "labels", {1: 2}, [np.zeros(3)] * 50, None,
              np.zeros((3, 100), np.uint8), np.zeros((3, 3072), np.float32),
              np.zeros(3072 * 3, np.uint8), np.zeros((0, 3072), np.uint8), [1] * 1000)
# Hand-written opcodes: a memo index of 2**31, bytes announced as 10**12 long, _reconstruct
# asked for 2**40 elements, an array state whose bytes do not match its shape.
CRAFTED_PICKLES = (
    b"\x80\x02K\x01r\xff\xff\xff\x7f.",
    b"\x80\x04\x8e" + struct.pack("<Q", 10**12) + b"abc.",
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n\x8a\x06\x00\x00"
    b"\x00\x00\x00\x01\x85U\x01b\x87R.",
    b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85U\x01b\x87R"
    b"(K\x01J\x00\x00\x00\x10\x85cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R\x89U\x03abctb.",
)


def cifar_python_case(rng: random.Random) -> Case:
    kind = rng.random()
    if kind < 0.5:
        return _read_python_batch, mutate_bytes(rng.choice(CIFAR_SEEDS), rng)
    if kind < 0.9:
        batch = dict(_batch)
        batch[rng.choice((b"labels", b"data"))] = rng.choice(ODD_VALUES)
        return _read_python_batch, rng.choice(PICKLERS)(batch)
    return _read_python_batch, mutate_bytes(rng.choice(CRAFTED_PICKLES), rng) \
        if rng.random() < 0.5 else rng.choice(CRAFTED_PICKLES)


def _read_binary_batch(raw: bytes) -> None:
    binary_batch(raw, Path("data_batch_1.bin"), 10)


BINARY_SEED = cifar_records(_images, [1, 2, 3])


def cifar_binary_case(rng: random.Random) -> Case:
    return _read_binary_batch, mutate_bytes(BINARY_SEED, rng)


# --- run files (checkpoints) ----------------------------------------------------------------

def _tiny_run_file(folder: Path, **config) -> bytes:
    from engine.checkpoint import save_run
    from engine.config import TrainConfig
    from engine.data import DataSet
    from engine.run import Run
    from engine.trainer import Trainer

    rng_np = np.random.default_rng(0)
    x, y = rng_np.integers(0, 256, (8, 4, 4, 1), dtype=np.uint8), np.arange(8) % 2
    data = DataSet("tiny", "generated", ["a", "b"], x, y, x[:2], y[:2])
    spec = network("tiny", (4, 4, 1), make_layer("conv", "c", filters=2), make_layer("relu", "r"),
                   make_layer("batchnorm", "bn"), make_layer("fc", "fc", units=2),
                   make_layer("softmax", "sm"))
    run = Run.start(spec, data, TrainConfig(epochs=1, batch_size=4, **config), None)
    list(Trainer(run, data).train())
    path = folder / f"{config.get('optimizer', 'momentum')}.ckpt"
    save_run(run, path)
    return path.read_bytes()


class RunFiles:
    """Seeds made once per session (training even a tiny run costs a little) and a folder
    where each case's bytes become the file `load_run` reads."""

    folder: Path | None = None
    seeds: list[bytes] = []

    @classmethod
    def prepare(cls, folder: Path) -> None:
        if not cls.seeds:
            cls.folder = folder
            cls.seeds = [_tiny_run_file(folder, optimizer=o) for o in ("adam", "sgd")]


def _read_run(raw: bytes) -> None:
    from engine.checkpoint import load_run

    path = RunFiles.folder / "case.ckpt"
    path.write_bytes(raw)
    load_run(path)


def _mutate_record(raw: bytes, rng: random.Random) -> bytes:
    """The run file with its training record (JSON) mutated and every other entry kept."""
    with zipfile.ZipFile(io.BytesIO(raw)) as archive:
        entries = {n[:-4]: np.load(io.BytesIO(archive.read(n)), allow_pickle=False)
                   for n in archive.namelist()}
    entries["meta"] = np.array(_mutate_json(str(entries["meta"]).encode(), rng).decode(
        "utf-8", "surrogatepass"))
    return _npz(**entries)


def run_case(rng: random.Random) -> Case:
    seed, kind = rng.choice(RunFiles.seeds), rng.random()
    if kind < 0.35:
        return _read_run, mutate_bytes(seed, rng)
    if kind < 0.55:
        return _read_run, _patched_zip(seed, rng)
    return _read_run, _mutate_record(seed, rng)


# Counts in proportion to how cheap a case is (a traced .npz header parse costs ~1 ms).
FORMATS = {
    "network": Format(6_000, network_case),
    "npz": Format(3_000, npz_case),
    "idx": Format(5_000, idx_case),
    "cifar-python": Format(5_000, cifar_python_case),
    "cifar-binary": Format(1_500, cifar_binary_case),
    "run": Format(500, run_case),
}


def run_cases(name: str, fmt: Format) -> tuple[int, int]:
    """Run every case of `fmt`; (cases read, cases refused), or Escaped naming the first
    case that broke a bound, with its bytes to replay it."""
    rng = random.Random(f"{SEED}:{name}")
    read_ok = refused = 0
    with many_cases():
        for i in range(fmt.cases):
            read, raw = fmt.make(rng)
            try:
                outcome = check(read, raw)
            except Escaped as e:
                sample = base64.b64encode(raw[:2000]).decode()
                raise Escaped(f"{name} case {i} (FUZZ_SEED={SEED}): {e}; bytes (base64, "
                              f"first 2000): {sample}") from e.__cause__
            read_ok += outcome.message is None
            refused += outcome.message is not None
    return read_ok, refused


@pytest.mark.filterwarnings("ignore:Duplicate name")  # the mutations write such archives
@pytest.mark.parametrize("name", FORMATS)
def test_mutated_files_are_read_or_refused_in_one_sentence(name, tmp_path_factory):
    RunFiles.prepare(tmp_path_factory.mktemp("runs"))
    read_ok, refused = run_cases(name, FORMATS[name])
    assert read_ok + refused == FORMATS[name].cases
    assert refused > FORMATS[name].cases // 10  # the mutations do reach the checks


def test_fuzzing_runs_over_20000_cases_per_run():
    assert sum(f.cases for f in FORMATS.values()) >= 20_000


# --- whole data sets on disk, through load_data ---------------------------------------------

def _cifar_python_folder(folder: Path) -> dict[str, bytes]:
    return {**{f"data_batch_{i}": py2_pickle(_batch) for i in range(1, 6)},
            "test_batch": py2_pickle(_batch),
            "batches.meta": py2_pickle({b"label_names": [b"c%d" % i for i in range(10)]})}


ON_DISK = {
    "cifar-10-batches-py": _cifar_python_folder,
    "cifar-10-batches-bin": lambda folder: {
        **{f"data_batch_{i}.bin": BINARY_SEED for i in range(1, 6)},
        "test_batch.bin": BINARY_SEED, "batches.meta.txt": b"a\nb\nc\nd\n"},
    "mnist": lambda folder: {
        "train-images-idx3-ubyte.gz": gzip.compress(IDX_SEEDS[(IMAGES_MAGIC, 3)]),
        "train-labels-idx1-ubyte": IDX_SEEDS[(LABELS_MAGIC, 1)]},
    "npz": lambda folder: {"set.npz": NPZ_SEEDS[2]},
}


def test_mutated_data_sets_on_disk_are_read_or_refused_in_one_sentence(tmp_path):
    """Detection, several files and the validation split, a file of a set mutated at a time."""
    rng = random.Random(f"{SEED}:on-disk")
    with many_cases():
        for layout, files in ON_DISK.items():
            folder = tmp_path / layout
            folder.mkdir()
            valid = files(folder)
            for name, raw in valid.items():
                (folder / name).write_bytes(raw)
            for i in range(50):
                name = rng.choice(list(valid))
                (folder / name).write_bytes(mutate_bytes(valid[name], rng))
                check(lambda _: load_data(folder), b"", size=sum(
                    p.stat().st_size for p in folder.iterdir()))
                (folder / name).write_bytes(valid[name])
