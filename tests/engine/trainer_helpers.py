"""A tiny learnable data set and network for trainer tests."""

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from engine.config import TrainConfig
from engine.data import DataSet
from engine.run import Run
from engine.spec import make_layer, network
from engine.trainer import TrainControl, Trainer


def quadrant_data(n_train: int = 60, n_val: int = 15, seed: int = 0) -> DataSet:
    """8×8×1 images whose class (0–2) is the quadrant that is bright."""
    rng = np.random.default_rng(seed)

    def make(n):
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 8, 8, 1))
        for i, label in enumerate(y):
            r, c = divmod(int(label), 2)
            x[i, 4 * r:4 * r + 4, 4 * c:4 * c + 4] += 150
        return x.astype(np.uint8), y.astype(np.int64)

    train_x, train_y = make(n_train)
    val_x, val_y = make(n_val)
    return DataSet("quadrants", "generated", ["top left", "top right", "bottom left"],
                   train_x, train_y, val_x, val_y)


def small_net(dropout: bool = False):
    extra = [make_layer("dropout", p=0.3)] if dropout else []
    return network("small", (8, 8, 1), make_layer("conv", "conv", filters=4, size=3),
                   make_layer("relu"), make_layer("batchnorm"),
                   make_layer("pool", "pool", mode="max", size=2, stride=2), *extra,
                   make_layer("fc", "fc", units=3), make_layer("softmax"))


def make_trainer(spec=None, data=None, control: TrainControl | None = None, keep_at=None,
                 **config) -> Trainer:
    """A trainer of a fresh run of `spec` (default: the small net) on `data` (quadrants)."""
    data = data if data is not None else quadrant_data()
    run = Run.start(spec or small_net(), data, TrainConfig(**config), "quadrants")
    return Trainer(run, data, control, keep_at)


ROOT = Path(__file__).resolve().parents[2]
HOLD = """
import sys, time
from engine.run_lock import training_lock
with training_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(120)
"""


@contextmanager
def another_process_training(run_file):
    """Another process that holds `run_file`'s training lock (`engine.run_lock`) as a
    trainer would, until the block ends or the process is killed."""
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(run_file)], cwd=ROOT,
                             stdout=subprocess.PIPE, text=True,
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert child.stdout.readline().strip() == "held"
        yield child
    finally:
        child.kill()
        child.wait()
        child.stdout.close()
