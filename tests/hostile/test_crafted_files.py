"""The hostile files of the issue: each is refused with one plain sentence, within the time
and memory bounds of tests/hostile/bounds.py, through the public readers and the CLI."""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from engine.bounded import INFLATION_ALLOWANCE
from engine.data import load_data
from engine.netfile import MAX_FILE_BYTES, MAX_LAYERS, load_network
from main import main
from tests.data.data_files import (
    py2_pickle, random_images, write_cifar10_python, write_idx, write_image_folder,
)
from tests.hostile.bounds import TIME_LIMIT_S, check, no_hang

ROOT = Path(__file__).resolve().parents[2]
needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")


def refused(read, path: Path, *fragments: str) -> str:
    """`read(path)` refuses it in one sentence holding every fragment, within the bounds."""
    size = path.stat().st_size if path.is_file() else sum(
        p.stat().st_size for p in path.rglob("*") if p.is_file())
    with no_hang():
        outcome = check(lambda _: read(path), b"", size=size)
    assert outcome.message is not None, f"{path} was read"
    for fragment in fragments:
        assert fragment in outcome.message
    return outcome.message


def network_file(tmp_path: Path, text: str, name: str = "net.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def network_text(layers: list[dict], name: str = "deep") -> str:
    """A network of 8×8×1 images, `layers`, and 10 class scores."""
    return json.dumps({"format": "convnet-designer", "version": 1, "name": name, "layers": [
        {"type": "input", "name": "in", "width": 8, "height": 8, "depth": 1}, *layers,
        {"type": "fc", "name": "scores", "units": 10}, {"type": "softmax", "name": "loss"}]})


# --- network files -------------------------------------------------------------------------

def test_lone_surrogate_in_a_name_is_one_line_under_a_strict_utf8_locale(tmp_path):
    text = json.dumps({"format": "convnet-designer", "version": 1, "name": "\ud800 net",
                       "layers": [{"type": "input", "name": "in"}]})
    path = network_file(tmp_path, text)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8:strict", "LC_ALL": "C.UTF-8"}
    done = subprocess.run([sys.executable, str(ROOT / "main.py"), "summary", str(path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "its name '\\ud800 net' is not valid Unicode text" in done.stderr


def test_the_largest_file_of_the_smallest_layers_is_refused_by_their_count(tmp_path):
    """1 MiB of {"type":"relu"} is 65,000 layers: refused before any is built."""
    head, layer = '{"format": "convnet-designer", "version": 1, "layers": [{"type": "input"}', \
        ',{"type":"relu"}'
    count = (MAX_FILE_BYTES - len(head) - 2) // len(layer)
    path = network_file(tmp_path, head + layer * count + "]}")
    refused(load_network, path, f"it has {count + 1:,} layers",
            f"a network file holds at most {MAX_LAYERS:,}")


def test_a_network_of_the_most_layers_allowed_is_summarised_within_the_time_limit(tmp_path,
                                                                                   capsys):
    convs = [{"type": "conv", "name": f"c{i}", "filters": 16} for i in range(MAX_LAYERS - 3)]
    path = network_file(tmp_path, network_text(convs))
    start = time.perf_counter()
    assert main(["summary", str(path)]) == 0
    assert time.perf_counter() - start < TIME_LIMIT_S
    assert f"c{MAX_LAYERS - 4}" in capsys.readouterr().out


def test_network_file_over_the_size_limit_is_not_read(tmp_path):
    path = tmp_path / "huge.json"
    with open(path, "wb") as f:
        f.truncate(MAX_FILE_BYTES + 1)  # sparse: nothing is written
    refused(load_network, path, "too large to be a network file")


@needs_fifo
def test_fifo_as_network_file_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "net.json")
    refused(load_network, tmp_path / "net.json", "device, pipe or socket")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_endless_device_as_network_file_is_not_read(device):
    if not Path(device).exists():
        pytest.skip(f"no {device} here")
    refused(load_network, Path(device), "device, pipe or socket")


# --- CIFAR pickles -------------------------------------------------------------------------

@pytest.fixture
def cifar_py(tmp_path):
    x = random_images(np.random.default_rng(1), 10)
    return write_cifar10_python(tmp_path / "cifar-10-batches-py", x, np.arange(10),
                                x[:5], np.arange(5))


def ndarray_call_pickle(rows: int) -> bytes:
    """{b"data": numpy.ndarray((rows, 3072), "u1"), b"labels": [0] * rows}: REDUCE asks for
    an array far larger than the file, which is a few bytes per label."""
    labels = pickle.dumps([0] * rows, protocol=2)[2:-1]
    return (b"\x80\x02}(U\x04datacnumpy\nndarray\n(J" + struct.pack("<i", rows)
            + b"M\x00\x0c\x86U\x02u1tRU\x06labels" + labels + b"u.")


RECONSTRUCT = b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"


@pytest.mark.parametrize("payload, fragment", [
    (ndarray_call_pickle(100_000), "calls numpy.ndarray to allocate an array"),
    (b"\x80\x02}U\x04data" + RECONSTRUCT + b"\x8a\x06\x00\x00\x00\x00\x00\x01\x85U\x01b\x87Rs.",
     "an array that is not empty"),
    (b"\x80\x02}U\x04data" + RECONSTRUCT + b"K\x00\x85U\x01b\x87R(K\x01\x8a\x05\x00\x00\x00\x00"
     b"\x01K\x01\x86cnumpy\ndtype\nU\x02u1K\x00K\x01\x87R\x89U\x03abctbs.",
     "more or fewer bytes than its shape holds"),
    (b"\x80\x04\x8e" + struct.pack("<Q", 10**12) + b"abc.", "damaged or truncated"),
    (b"\x80\x02}U\x04dataK\x01r\xff\xff\xff\x7fs.", "should be a dict with the keys"),  # memo 2**31
    (py2_pickle({b"data": np.zeros((2, 3072), np.uint8), b"labels": [np.zeros(3072)] * 2000}),
     "labels"),
])
def test_crafted_cifar_pickle_allocates_nothing_large(cifar_py, payload, fragment):
    path = cifar_py / "data_batch_1"
    path.write_bytes(payload)
    refused(load_data, cifar_py, str(path), fragment)


@needs_fifo
def test_fifo_as_cifar_batch_does_not_block(cifar_py):
    (cifar_py / "data_batch_2").unlink()
    os.mkfifo(cifar_py / "data_batch_2")
    refused(load_data, cifar_py, "data_batch_2 is a device, pipe or socket")


# --- MNIST IDX -----------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_idx_header_announcing_a_billion_images_is_not_allocated(tmp_path, gz):
    x = random_images(np.random.default_rng(3), 4, 28, 28, 1)[..., 0]
    folder = write_idx(tmp_path / "mnist", x, np.arange(4), x, np.arange(4), gz=gz)
    header = struct.pack(">4I", 2051, 10**9, 28, 28) + bytes(1000)
    name = "train-images-idx3-ubyte" + (".gz" if gz else "")
    (folder / name).write_bytes(gzip.compress(header) if gz else header)
    refused(load_data, folder, name, "would unpack into 730.2 GiB" if gz else "truncated")


# --- NumPy .npz ----------------------------------------------------------------------------

def npy_header(shape: tuple, descr: str = "|u1") -> bytes:
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": descr, "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def test_npy_header_announcing_a_terabyte_is_not_allocated(tmp_path):
    path = tmp_path / "huge.npz"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("x.npy", npy_header((10**6, 1000, 1000, 1)) + bytes(100))
        archive.writestr("y.npy", npy_header((10**6,)) + bytes(100))
    refused(load_data, path, "x in", "do not match the 100 bytes of data it holds")


def test_zip_bomb_is_not_unpacked(tmp_path):
    """40 MiB of zeros deflate into 40 KiB: over the allowance and 1,000 times the packing."""
    path = tmp_path / "bomb.npz"
    zeros = 40 * 1024 * 1024
    assert zeros > INFLATION_ALLOWANCE
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("x.npy", "w") as member:
            member.write(npy_header((zeros // 64, 8, 8, 1)))
            for _ in range(40):
                member.write(bytes(1024 * 1024))
        archive.writestr("y.npy", npy_header((zeros // 64,), "<i8") + bytes(zeros // 8))
    assert path.stat().st_size < zeros // 50
    refused(load_data, path, "x in", "would unpack into 40.0 MiB", "decompression bomb")


@needs_fifo
def test_fifo_named_like_an_npz_does_not_block(tmp_path):
    os.mkfifo(tmp_path / "set.npz")
    refused(load_data, tmp_path / "set.npz", "device, pipe or socket")


def test_device_as_data_source_is_not_read():
    if not Path("/dev/zero").exists():
        pytest.skip("no /dev/zero here")
    refused(load_data, Path("/dev/zero"), "/dev/zero is not a data set file")


# --- image folders -------------------------------------------------------------------------

def test_image_that_decodes_to_far_more_than_its_file_is_not_decoded(tmp_path):
    folder = write_image_folder(tmp_path / "p", {"cat": [np.zeros((8, 8, 3), np.uint8)],
                                                 "dog": [np.zeros((8, 8, 3), np.uint8)]})
    Image.new("RGB", (3000, 3000)).save(folder / "dog" / "flat.png")  # 27 MB from ~30 KB
    refused(load_data, folder, "flat.png was not decoded", "would unpack into 25.7 MiB")


# --- the command line ----------------------------------------------------------------------

@needs_fifo
@pytest.mark.parametrize("command", [
    ["summary", "{fifo}.json"],
    ["data", "{fifo}.npz"],
    ["train", "lenet5", "--data", "{fifo}.npz"],
])
def test_cli_refuses_a_fifo_in_one_line(tmp_path, capsys, command):
    for suffix in (".json", ".npz"):
        os.mkfifo(tmp_path / f"fifo{suffix}")
    argv = [arg.format(fifo=tmp_path / "fifo") for arg in command]
    with no_hang():
        assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1
    assert "device, pipe or socket" in err



# --- names the commands print ---------------------------------------------------------------

def test_names_from_files_reach_the_terminal_escaped(tmp_path, capsys):
    escape = "\x1b[31mred\nline"
    digits = load_data("digits")
    data = tmp_path / f"digits{escape}.npz"
    np.savez(data, x=digits.train_x, y=digits.train_y,
             class_names=np.array([f"{i}{escape}" for i in range(10)]))
    net = network_file(tmp_path, network_text([{"type": "conv", "name": "c", "filters": 4}]))
    for argv in (["data", str(data)], ["train", str(net), "--data", str(data), "--epochs", "0"],
                 ["lr-find", str(net), "--data", str(data), "--steps", "10"]):
        assert main(argv) in (0, 1)  # lr-find: 1 if the loss diverged too soon to suggest
        # lr-find's closing line echoes the --data typed, as a command to copy
        out = capsys.readouterr().out.replace(f" --data {data}", "")
        assert "\x1b" not in out and "\\x1b[31mred\\nline" in out, argv
    # a network file's own names may not hold control characters at all
    hostile = network_file(tmp_path, network_text([{"type": "conv", "name": f"c{escape}",
                                                    "filters": 4}], name=f"net{escape}"), "h.json")
    for argv in (["summary", str(hostile)], ["bench", str(hostile), "--repeats", "1"]):
        assert main(argv) == 2
        error = capsys.readouterr().err
        assert "\x1b" not in error and "control characters" in error, argv
