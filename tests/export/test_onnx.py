"""ONNX export: a checked opset-13 model whose onnxruntime scores on raw images are ours."""

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from engine.export.errors import ExportError  # noqa: E402
from engine.export.onnx_model import OPSET, onnx_model, save_onnx  # noqa: E402
from engine.export.source import Source  # noqa: E402
from engine.spec import make_layer as L, network  # noqa: E402
from export_helpers import NETWORKS, random_images, relative_error, trained_run  # noqa: E402


def run_onnx(model, name: str, images: np.ndarray) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {name: images.transpose(0, 3, 1, 2).astype(np.float32)})


@pytest.mark.parametrize("name", NETWORKS)
def test_onnxruntime_scores_raw_images_as_the_run_does(name):
    run = trained_run(name)
    model = onnx_model(Source.of_run(run), probabilities=True)
    onnx.checker.check_model(model, full_check=True)
    assert model.opset_import[0].version == OPSET
    images = random_images(run.spec, 7, seed=5)
    scores, probabilities = run_onnx(model, run.spec.layers[0].name, images)
    ours = run.backend.to_numpy(run.model.scores(run.normalizer(images)))
    assert relative_error(scores, ours) < 1e-4
    assert relative_error(probabilities, run.predict(images)) < 1e-4
    one, _ = run_onnx(model, run.spec.layers[0].name, images[:1])  # the batch is dynamic
    assert relative_error(one, ours[:1]) < 1e-4


def test_nodes_carry_the_layer_names():
    run = trained_run("every layer")
    nodes = {node.name for node in onnx_model(Source.of_run(run)).graph.node}
    assert {layer.name for layer in run.spec.layers[1:-1]} <= nodes


def test_a_network_file_exports_fresh_weights_and_no_normalisation(tmp_path):
    spec = NETWORKS["lenet5"]()
    source = Source.of_network(spec)
    save_onnx(source, tmp_path / "net.onnx")
    model = onnx.load(tmp_path / "net.onnx")
    images = random_images(spec, 3)
    from engine.backend import NUMPY
    from engine.model import build

    ours = build(spec, NUMPY, 0).scores(images.astype(np.float32))  # as a new run draws them
    assert relative_error(run_onnx(model, "input", images)[0], ours) < 1e-4


def test_an_even_lrn_size_is_refused_in_a_sentence():
    spec = network("even", (4, 4, 4), L("lrn", "norm", size=4), L("fc", "f", units=2),
                   L("softmax", "s"))
    with pytest.raises(ExportError, match=r"^ONNX runtimes need an odd LRN size but 'norm' has "
                                          r"n=4; set it to 5 or 3\.$"):
        onnx_model(Source.of_network(spec))


def test_a_layer_named_like_a_value_of_the_export_is_refused_in_a_sentence():
    spec = network("clash", (4, 4, 1), L("fc", "scores", units=3), L("relu", "r"),
                   L("fc", "f", units=2), L("softmax", "s"))
    with pytest.raises(ExportError, match="needs the name 'scores' twice; rename the layer"):
        onnx_model(Source.of_network(spec))
