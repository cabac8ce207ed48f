"""End to end: `main.py train lenet5` for 2 epochs on an MNIST-sized set, against the same
training written in PyTorch.

    .venv/bin/python tests/benchmarks/mnist_end_to_end.py [--epochs 2] [--network lenet5]
        [--repeats 3]

The data set is synthetic, written to a temporary folder as MNIST's four IDX files: 60,000
training and 10,000 test images of 28×28, made from the embedded 8×8 UCI digits. Each image
is one of those digits upscaled to 20×20 (bilinear), placed at a random offset in the 28×28
frame (MNIST centres its digits in 20×20 boxes), with a random stroke contrast and pixel
noise. Training images come from the digits' first 1,500, test images from the other 297,
so the test accuracy measures generalisation, not memory.

Both trainings read the folder with `engine.data.load_data` (the same 10% validation split
and per-channel normaliser; the 28×28 images padded to LeNet-5's 32×32), start from the
same weights, use SGD with momentum 0.9, learning rate 0.01 and L2 decay 1e-4 on the
weights, batch 64, 2 threads, evaluate the validation split after every epoch and the test
split at the end. Each runs in its own process and is timed from start to exit: ours is
the command a user types, PyTorch's includes importing PyTorch (about 2 s here), so the
PyTorch process also reports its time from its first training step to its test accuracy.
Both use the two cores: PyTorch with two threads, ours by taking each step in two shares,
the second in a helper process with one BLAS thread (`engine.step_team`).
The two alternate, `--repeats` times each, and the medians are compared: this machine's
speed drifts by tens of percent over minutes, which one run of each can catch at
different speeds.

Needs PyTorch (the optional extra "bench": pip install torch==2.13.0).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
THREADS = 2
TRAIN_IMAGES, TEST_IMAGES, SIDE, DIGIT_SIDE = 60_000, 10_000, 28, 20
TEST_TEMPLATES_FROM = 1500  # UCI digits from here on make the test images
LR, MOMENTUM, WEIGHT_DECAY, BATCH = 0.01, 0.9, 1e-4, 64


def write_mnist_like(folder: Path, seed: int = 0) -> None:
    """The four IDX files of the synthetic MNIST-sized set described above."""
    from PIL import Image

    sys.path.insert(0, str(ROOT))
    from engine.resources import embedded_digits_file

    with np.load(embedded_digits_file()) as stored:
        images, labels = stored["x"].reshape(-1, 8, 8), stored["y"]
    big = np.stack([np.asarray(Image.fromarray(im).resize((DIGIT_SIDE, DIGIT_SIDE),
                                                          Image.BILINEAR)) for im in images])
    rng = np.random.default_rng(seed)
    for prefix, count, templates in (
            ("train", TRAIN_IMAGES, np.arange(TEST_TEMPLATES_FROM)),
            ("t10k", TEST_IMAGES, np.arange(TEST_TEMPLATES_FROM, len(images)))):
        pick = rng.choice(templates, count)
        frames = np.zeros((count, SIDE, SIDE), np.float32)
        offsets = rng.integers(0, SIDE - DIGIT_SIDE + 1, (count, 2))
        for k, (template, (r, c)) in enumerate(zip(pick, offsets)):
            frames[k, r:r + DIGIT_SIDE, c:c + DIGIT_SIDE] = big[template]
        frames *= rng.uniform(0.6, 1.0, (count, 1, 1))
        frames += rng.normal(0, 20, frames.shape)
        pixels = np.clip(frames, 0, 255).astype(np.uint8)
        _write_idx(folder / f"{prefix}-images-idx3-ubyte", 2051, pixels)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte", 2049, labels[pick].astype(np.uint8))


def _write_idx(path: Path, magic: int, array: np.ndarray) -> None:
    with open(path, "wb") as f:
        f.write(struct.pack(f">I{array.ndim}I", magic, *array.shape))
        f.write(array.tobytes())


def environment() -> dict[str, str]:
    env = dict(os.environ)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[variable] = str(THREADS)
    return env


def run_ours(folder: Path, network: str, epochs: int, keep: Path) -> tuple[float, float, str]:
    """Wall seconds of `main.py train`, its test accuracy, and its output."""
    command = [sys.executable, str(ROOT / "main.py"), "train", network, "--data", str(folder),
               "--epochs", str(epochs), "--batch-size", str(BATCH), "--lr", str(LR),
               "--momentum", str(MOMENTUM), "--weight-decay", str(WEIGHT_DECAY),
               "--save", str(keep)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment(), check=True)
    took = time.perf_counter() - start
    accuracy = re.search(r"test accuracy ([\d.]+)%", done.stdout)
    return took, float(accuracy.group(1)) / 100, done.stdout


def run_torch(folder: Path, network: str, epochs: int) -> tuple[float, dict]:
    """Wall seconds of the PyTorch process and what it reports."""
    command = [sys.executable, __file__, "--torch-worker", str(folder), "--network", network,
               "--epochs", str(epochs)]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=environment(), check=True)
    return time.perf_counter() - start, json.loads(done.stdout.splitlines()[-1])


def torch_worker(folder: Path, network: str, epochs: int) -> dict:
    """The same training in PyTorch: what `main.py train` does, step for step."""
    import torch

    torch.set_num_threads(THREADS)
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from compare_torch import torch_model
    from engine.backend import NUMPY
    from engine.commands.network_arg import network_file
    from engine.data import Normalizer, load_data
    from engine.model import build
    from engine.netfile import load_network

    spec = load_network(network_file(network))
    data = load_data(str(folder), spec.input_volume)
    normalizer = Normalizer.fit(data.train_x)
    net, loss_fn = torch_model(build(spec, NUMPY, np.random.default_rng(0)))
    weights = [p for name, p in net.named_parameters() if name.endswith("weight")]
    biases = [p for name, p in net.named_parameters() if name.endswith("bias")]
    optimizer = torch.optim.SGD([{"params": weights, "weight_decay": WEIGHT_DECAY},
                                 {"params": biases, "weight_decay": 0.0}],
                                lr=LR, momentum=MOMENTUM)

    def batch(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(normalizer(x)).permute(0, 3, 1, 2)

    def accuracy(x: np.ndarray, y: np.ndarray) -> float:
        net.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(x), BATCH):
                scores = net(batch(x[start:start + BATCH]))
                correct += int((scores.argmax(1).numpy() == y[start:start + BATCH]).sum())
        net.train()
        return correct / len(x)

    started = time.perf_counter()
    val = []
    for epoch in range(epochs):
        order = np.random.default_rng([0, epoch]).permutation(len(data.train_x))
        for start in range(0, len(order), BATCH):
            rows = order[start:start + BATCH]
            optimizer.zero_grad()
            loss = loss_fn(net(batch(data.train_x[rows])), torch.from_numpy(
                data.train_y[rows].astype(np.int64)))
            loss.backward()
            optimizer.step()
        val.append(accuracy(data.val_x, data.val_y))
    test = accuracy(data.test_x, data.test_y)
    return {"train_and_evaluate_s": time.perf_counter() - started, "val_acc": val,
            "test_acc": test}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--network", default="lenet5",
                        help="a template name or network file (default lenet5)")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each, alternating, whose medians are compared (default 3)")
    parser.add_argument("--torch-worker", metavar="FOLDER", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.torch_worker:
        print(json.dumps(torch_worker(Path(args.torch_worker), args.network, args.epochs)))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "mnist-sized"
        folder.mkdir()
        write_mnist_like(folder)
        print(f"synthetic MNIST-sized IDX set in {folder}: {TRAIN_IMAGES:,} training and "
              f"{TEST_IMAGES:,} test images of {SIDE}×{SIDE}")
        ours_s, torch_s = [], []
        for repeat in range(args.repeats):
            took, ours_acc, output = run_ours(folder, args.network, args.epochs,
                                              Path(tmp) / "run.ckpt")
            ours_s.append(took)
            if repeat == 0:
                print(output.rstrip())
            took, theirs = run_torch(folder, args.network, args.epochs)
            torch_s.append(took)
            print(f"run {repeat + 1}: ours {ours_s[-1]:.1f} s, PyTorch {took:.1f} s (its "
                  f"training and evaluation {theirs['train_and_evaluate_s']:.1f} s)", flush=True)
    print(f"PyTorch: validation accuracy {', '.join(f'{a:.1%}' for a in theirs['val_acc'])}, "
          f"test accuracy {theirs['test_acc']:.1%}")
    ours_median, torch_median = statistics.median(ours_s), statistics.median(torch_s)
    print(f"wall time, whole process, median of {args.repeats}: ours {ours_median:.1f} s, "
          f"PyTorch {torch_median:.1f} s (ratio {ours_median / torch_median:.2f})")
    print(f"test accuracy: ours {ours_acc:.1%}, PyTorch {theirs['test_acc']:.1%} "
          f"(difference {abs(ours_acc - theirs['test_acc']) * 100:.1f} points)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
