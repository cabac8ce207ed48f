"""An ONNX model (opset 13) of a design or a run, with our layer names (Netron shows the
design) and the normalisation built in, so it takes raw pixel values.

Input: the Input layer's name, float32 (batch, C, H, W), pixel values 0–255.
Outputs: "scores" (batch, classes) — the raw scores for an SVM head too — and, if asked,
"probabilities", their softmax (what the designer's Classify shows).
"""

from __future__ import annotations

import json
import os

import numpy as np

from engine.atomic import atomic_write
from engine.export.errors import ExportError, require
from engine.export.layout import NORMALIZE, Step, layer_arrays, normalizer_arrays, plan
from engine.export.source import Source

OPSET = 13
SCORES, PROBABILITIES = "scores", "probabilities"


def onnx_model(source: Source, probabilities: bool = False):
    """The ONNX ModelProto of `source`; checked by onnx's checker before it is returned."""
    require("onnx")
    import onnx
    from onnx import TensorProto, helper

    graph = _Graph(source)
    steps, flatten_scores = plan(source.analysis)
    x = graph.normalize()
    for i, step in enumerate(steps):
        last = i == len(steps) - 1 and not flatten_scores
        x = graph.layer(step, x, SCORES if last else step.layer.name)
    loss = source.spec.layers[-1]
    if flatten_scores:
        x = graph.node("Flatten", [x], SCORES, f"{loss.name}/flatten", axis=1)
    outputs = [(SCORES, "class scores" + (" (SVM: raw scores, no softmax)"
                                          if loss.type == "svm" else ""))]
    if probabilities:
        graph.node("Softmax", [SCORES], PROBABILITIES, loss.name, axis=1)
        outputs.append((PROBABILITIES, "softmax of the class scores"))
    classes = len(source.class_names)
    v = source.spec.input_volume
    image = helper.make_tensor_value_info(source.spec.layers[0].name, TensorProto.FLOAT,
                                          ["batch", v.depth, v.height, v.width],
                                          "raw pixel values 0–255, NCHW")
    graph_proto = helper.make_graph(
        graph.nodes, source.spec.name, [image],
        [helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", classes], doc)
         for name, doc in outputs],
        [onnx.numpy_helper.from_array(a, name) for name, a in graph.initializers.items()])
    opsets = [helper.make_opsetid("", OPSET)]
    model = helper.make_model(graph_proto, opset_imports=opsets,
                              ir_version=helper.find_min_ir_version_for(opsets),
                              producer_name="ConvNet Designer",
                              doc_string=f"{source.spec.name}: {v} images, raw pixel values.")
    helper.set_model_props(model, {
        "class_names": json.dumps(source.class_names, ensure_ascii=False),
        "normalization": source.normalizer.mode if source.fitted else "none (not trained)",
    })
    onnx.checker.check_model(model, full_check=True)
    return model


def save_onnx(source: Source, path: str | os.PathLike, probabilities: bool = False) -> None:
    data = onnx_model(source, probabilities).SerializeToString()
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as e:
        raise ExportError(f"Could not write '{path}': {e.strerror or e}; choose another "
                          "folder or file name.") from None


class _Graph:
    """Nodes and initializers under unique names: a layer named like a value the export
    adds itself is refused in a sentence rather than breaking the graph."""

    def __init__(self, source: Source):
        self.source = source
        self.nodes: list = []
        self.initializers: dict[str, np.ndarray] = {}
        self.values = {source.spec.layers[0].name}

    def _claim(self, name: str) -> str:
        if name in self.values or name in self.initializers:
            raise ExportError(f"The ONNX graph needs the name '{name}' twice; rename the "
                              "layer that has it.")
        self.values.add(name)
        return name

    def constant(self, name: str, value: np.ndarray) -> str:
        self._claim(name)
        self.initializers[name] = value
        return name

    def node(self, op: str, inputs: list[str], output: str, name: str, **attributes) -> str:
        from onnx import helper

        self.nodes.append(helper.make_node(op, inputs, [self._claim(output)], name,
                                           **attributes))
        return output

    def normalize(self) -> str:
        """(x − mean) · (1/std), in float32 as the engine's normaliser computes it."""
        arrays = normalizer_arrays(self.source.normalizer)
        mean = self.constant(f"{NORMALIZE}.mean", arrays["mean"])
        scale = self.constant(f"{NORMALIZE}.scale", (1.0 / arrays["std"]).astype(np.float32))
        centred = self.node("Sub", [self.source.spec.layers[0].name, mean],
                            f"{NORMALIZE}/centred", f"{NORMALIZE}/subtract mean")
        return self.node("Mul", [centred, scale], NORMALIZE, f"{NORMALIZE}/divide by std")

    def layer(self, step: Step, x: str, out: str) -> str:
        s, name = step.layer, step.layer.name
        if step.flatten:
            x = self.node("Flatten", [x], f"{name}/flatten", f"{name}/flatten", axis=1)
        if step.unflatten:
            shape = self.constant(f"{name}/shape", np.array([0, -1, 1, 1], np.int64))
            x = self.node("Reshape", [x, shape], f"{name}/unflatten", f"{name}/unflatten")
        arrays = {k: self.constant(f"{name}.{k}", a) for k, a in layer_arrays(
            step.info, self.source.params[s.id], self.source.buffers[s.id]).items()}
        t = s.type
        if t == "conv":
            f, st, p = s["size"], s["stride"], s["pad"]
            return self.node("Conv", [x, arrays["weight"], arrays["bias"]], out, name,
                             kernel_shape=[f, f], strides=[st, st], pads=[p] * 4)
        if t == "pool":
            return self._pool(s, x, out)
        if t == "fc":
            return self.node("Gemm", [x, arrays["weight"], arrays["bias"]], out, name, transB=1)
        if t == "batchnorm":
            # ONNX's momentum is ours: running = momentum·running + (1 − momentum)·batch
            return self.node("BatchNormalization",
                             [x, arrays["weight"], arrays["bias"], arrays["running_mean"],
                              arrays["running_var"]], out, name,
                             epsilon=s["eps"], momentum=s["momentum"])
        if t == "lrn":
            if s["size"] % 2 == 0:
                raise ExportError(f"ONNX runtimes need an odd LRN size but '{name}' has "
                                  f"n={s['size']}; set it to {s['size'] + 1} or "
                                  f"{s['size'] - 1}.")
            # ONNX divides alpha by the size as we do, and its bias is our k
            return self.node("LRN", [x], out, name, size=s["size"], alpha=s["alpha"],
                             beta=s["beta"], bias=s["k"])
        if t == "dropout":  # inactive: ONNX's dropout is the identity outside training
            ratio = self.constant(f"{name}.ratio", np.array(s["p"], np.float32))
            return self.node("Dropout", [x, ratio], out, name)
        if t == "leaky_relu":
            return self.node("LeakyRelu", [x], out, name, alpha=s["slope"])
        op = {"gap": "GlobalAveragePool", "relu": "Relu", "tanh": "Tanh",
              "sigmoid": "Sigmoid"}[t]
        return self.node(op, [x], out, name)

    def _pool(self, s, x: str, out: str) -> str:
        f, st, p, name = s["size"], s["stride"], s["pad"], s.name
        window = {"kernel_shape": [f, f], "strides": [st, st]}
        is_max = s["mode"] == "max"
        if p < f:  # what runtimes accept as padding of their own
            if is_max:
                return self.node("MaxPool", [x], out, name, pads=[p] * 4, **window)
            # our average divides by F·F, padding included
            return self.node("AveragePool", [x], out, name, pads=[p] * 4,
                             count_include_pad=1, **window)
        # Padding at least as wide as the window: pad first. Windows wholly in the padding
        # then exist, and they give 0 here, for max pooling as for average.
        pads = self.constant(f"{name}/pads", np.array([0, 0, p, p, 0, 0, p, p], np.int64))
        fill = self.constant(f"{name}/fill", np.array(-np.inf if is_max else 0, np.float32))
        padded = self.node("Pad", [x, pads, fill], f"{name}/padded", f"{name}/pad")
        if not is_max:
            return self.node("AveragePool", [padded], out, name, **window)
        pooled = self.node("MaxPool", [padded], f"{name}/pooled", name, **window)
        empty = self.node("IsInf", [pooled], f"{name}/empty", f"{name}/empty windows",
                          detect_positive=0)
        zero = self.constant(f"{name}/zero", np.array(0, np.float32))
        return self.node("Where", [empty, zero, pooled], out, f"{name}/zero empty windows")
