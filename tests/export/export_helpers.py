"""Networks covering every layer type and every reshape the export makes, runs of them
trained a little (so batch-norm statistics are not trivial), and model.py imported."""

import importlib.util
import sys
from pathlib import Path

import numpy as np

from engine.config import TrainConfig
from engine.data import DataSet
from engine.netfile import load_network
from engine.resources import network_template
from engine.run import Run
from engine.spec import make_layer as L, network
from engine.trainer import Trainer


def every_layer():
    """Softmax head; an FC after a volume, batch norm on a volume and after an FC, LRN after
    an FC (back to 4-D), max pooling padded wider than half its window and average pooling
    padded as wide as its window (windows wholly in the padding)."""
    return network(
        "every layer", (11, 9, 3),
        L("conv", "c1", filters=6, size=3, stride=2, pad=1), L("batchnorm", "bn"),
        L("leaky_relu", "lr", slope=0.1), L("pool", "p1", mode="max", size=3, stride=1, pad=2),
        L("lrn", "n", size=3), L("conv", "c2", filters=5, size=2, stride=1, pad=0),
        L("tanh", "t"), L("pool", "p2", mode="avg", size=2, stride=1, pad=1),
        L("sigmoid", "s"), L("pool", "p3", mode="avg", size=1, stride=1, pad=1),
        L("fc", "f", units=7), L("batchnorm", "bn2"), L("lrn", "n2", size=5),
        L("relu", "r"), L("dropout", "d", p=0.3), L("fc", "f2", units=4),
        L("softmax", "loss"))


def every_layer_svm():
    """SVM head after global average pooling (the scores flattened at the end); max
    pooling padded as wide as its window; layer names that are no Python identifiers."""
    return network(
        "every layer, SVM", (8, 8, 2),
        L("conv", "conv 1", filters=4, size=3, stride=1, pad=1), L("batchnorm", "class"),
        L("relu", "forward"), L("pool", "1st pool", mode="max", size=1, stride=1, pad=1),
        L("conv", "c2", filters=3, size=3, stride=1, pad=0), L("gap", "gap"),
        L("svm", "svm", margin=0.5))


NETWORKS = {
    "default": lambda: load_network(network_template("default")),
    "lenet5": lambda: load_network(network_template("lenet5")),
    "cifar10": lambda: load_network(network_template("cifar10")),
    "every layer": every_layer,
    "every layer, SVM": every_layer_svm,
}
NORMALIZATION = {"cifar10": "image", "every layer": "image"}


def random_images(spec, n: int, seed: int = 0) -> np.ndarray:
    v = spec.input_volume
    return np.random.default_rng(seed).integers(0, 256, (n, v.height, v.width, v.depth),
                                                dtype=np.uint8)


def trained_run(name: str, steps: int = 3) -> Run:
    """A run of NETWORKS[name] after `steps` steps on random images."""
    spec = NETWORKS[name]()
    classes = spec.layers[-2]["units"] if spec.layers[-2].type == "fc" else 3
    rng = np.random.default_rng(1)
    x, val = random_images(spec, 16 * steps, 2), random_images(spec, 8, 3)
    data = DataSet("random", "generated", [f"class {i}" for i in range(classes)],
                   x, rng.integers(0, classes, len(x)), val, rng.integers(0, classes, len(val)))
    config = TrainConfig(batch_size=16, epochs=1, lr=0.01,
                         normalization=NORMALIZATION.get(name, "channel"))
    run = Run.start(spec, data, config, None)
    for _ in Trainer(run, data).train():
        pass
    return run


def relative_error(a, b) -> float:
    return float(np.abs(np.asarray(a, np.float64) - b).max() / np.abs(b).max())


def import_model_py(folder: Path):
    """The model module of an exported project, imported under a name of its own."""
    name = f"exported_model_{abs(hash(str(folder)))}"
    spec = importlib.util.spec_from_file_location(name, folder / "model.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def torch_net(folder: Path, weights: str = "weights.pt"):
    """model.py's Net with the weights (a state dict or train.py's checkpoint) loaded."""
    import torch

    net = import_model_py(folder).Net()
    state = torch.load(folder / weights, weights_only=True)
    net.load_state_dict(state.get("model", state))
    return net.eval()
