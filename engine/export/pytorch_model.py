"""The source of an exported project's model.py: an nn.Module (NCHW) whose attributes carry
the designer's layer names, one line per layer, with the conventions that differ said
where they apply."""

from __future__ import annotations

import json

from engine.export.layout import NORMALIZE, Step, normalizer_shapes, plan
from engine.export.source import Source

_HEADER = '''"""{name}, exported from ConvNet Designer: an nn.Module with the designer's layer names.

Input: raw pixel values 0–255, float32 (N, {c}, {h}, {w}) — NCHW. The normalisation the run
was trained with is built in (`{normalize}`), so nothing needs preparing. Output: the class
scores (N, {classes}){svm_note}.
"""

import torch
from torch import nn

CLASS_NAMES = {class_names}
INPUT_SHAPE = ({c}, {h}, {w})  # C, H, W
LOSS = {loss}  # "softmax" (cross-entropy) or "svm" (multiclass hinge)
MARGIN = {margin!r}  # the SVM's Δ
# The weights L2 weight decay acts on: not biases, nor batch norm's scales and shifts.
DECAYED = {decayed}


class Normalize(nn.Module):
    """(x − mean) / std, the designer's mean subtraction, fitted on the training images
    (per channel, or a mean image with one std)."""

    def __init__(self, mean_shape, std_shape):
        super().__init__()
        self.register_buffer("mean", torch.zeros(mean_shape))
        self.register_buffer("std", torch.ones(std_shape))

    def forward(self, x):
        return (x - self.mean) * (1.0 / self.std)
'''

_PADDED_POOL = '''

class PaddedPool(nn.Module):
    """Pooling with padding wider than half the window, which nn.MaxPool2d and
    nn.AvgPool2d refuse: pad first (−inf for max, 0 for average); a window wholly in the
    padding gives 0, as in the designer."""

    def __init__(self, mode, size, stride, pad):
        super().__init__()
        self.mode, self.size, self.stride, self.pad = mode, size, stride, pad

    def forward(self, x):
        if self.mode == "avg":
            return nn.functional.avg_pool2d(nn.functional.pad(x, [self.pad] * 4), self.size,
                                            self.stride)
        x = nn.functional.pad(x, [self.pad] * 4, value=float("-inf"))
        y = nn.functional.max_pool2d(x, self.size, self.stride)
        return y.masked_fill(y == float("-inf"), 0.0)
'''


def model_source(source: Source, names: dict[str, str]) -> str:
    """model.py for `source`; `names` maps layer ids to attribute names."""
    steps, flatten_scores = plan(source.analysis)
    v, loss = source.spec.input_volume, source.spec.layers[-1]
    decayed = [f"{names[s.layer.id]}.weight" for s in steps if s.layer.type in ("conv", "fc")]
    text = _HEADER.format(
        name=source.spec.name, c=v.depth, h=v.height, w=v.width, normalize=NORMALIZE,
        classes=len(source.class_names),
        svm_note=" — raw SVM scores, no softmax" if loss.type == "svm" else "",
        class_names=json.dumps(source.class_names, ensure_ascii=False), loss=json.dumps(loss.type),
        margin=float(loss["margin"]) if loss.type == "svm" else 1.0,
        decayed="(" + "".join(f"{json.dumps(d)}, " for d in decayed).rstrip() + ")")
    if any(_padded_pool(s) for s in steps):
        text += _PADDED_POOL
    shapes = normalizer_shapes(source.normalizer.mode, v)
    init = [f"self.{NORMALIZE} = Normalize({shapes['mean']}, {shapes['std']})"]
    forward = ["if not normalized:", f"    x = self.{NORMALIZE}(x)"]
    for step in steps:
        attr = names[step.layer.id]
        module, why = _module(step)
        if attr != step.layer.name:
            why = f"'{step.layer.name}' in the designer" + (f"; {why}" if why else "")
        init.append(f"self.{attr} = {module}" + (f"  # {why}" if why else ""))
        if step.flatten:
            forward.append("x = torch.flatten(x, 1)  # C, H, W order")
        if step.unflatten:
            forward.append("x = x.reshape(x.shape[0], -1, 1, 1)")
        forward.append(f"x = self.{attr}(x)")
    if flatten_scores:
        forward.append("x = torch.flatten(x, 1)")
    forward.append("return x")
    indent = "\n" + " " * 8
    return text + f'''

class Net(nn.Module):
    """{source.spec.name}: {v} images in, {len(source.class_names)} class scores out."""

    def __init__(self):
        super().__init__(){indent}{indent.join(init)}

    def forward(self, x, normalized=False):
        """Class scores for raw pixel values x (N, C, H, W); `normalized`: x is normalised
        already (train.py normalises before it augments, as the designer does)."""{indent}{indent.join(forward)}
'''


def _padded_pool(step: Step) -> bool:
    s = step.layer
    return s.type == "pool" and 2 * s["pad"] > s["size"]


def _module(step: Step) -> tuple[str, str]:
    """The module's constructor and, where a convention differs, why it reads so."""
    s, v = step.layer, step.info.input
    t = s.type
    if t == "conv":
        return (f"nn.Conv2d({v.depth}, {s['filters']}, kernel_size={s['size']}, "
                f"stride={s['stride']}, padding={s['pad']})", "")
    if t == "pool":
        f, st, p = s["size"], s["stride"], s["pad"]
        if _padded_pool(step):
            return f"PaddedPool({s['mode']!r}, {f}, {st}, {p})", ""
        if s["mode"] == "max":
            return f"nn.MaxPool2d({f}, stride={st}, padding={p})", ""
        return (f"nn.AvgPool2d({f}, stride={st}, padding={p}, count_include_pad=True)",
                "divides by F·F, padding included")
    if t == "fc":
        return (f"nn.Linear({v.size}, {s['units']})",
                "" if v.size == v.depth else "rows in C, H, W order (the designer's: H, W, D)")
    if t == "batchnorm":
        kind = "1d" if step.flat else "2d"
        momentum = round(1 - s["momentum"], 12)
        return (f"nn.BatchNorm{kind}({v.depth}, eps={s['eps']!r}, momentum={momentum!r})",
                f"PyTorch's momentum is 1 − the designer's {s['momentum']!r}")
    if t == "lrn":
        return (f"nn.LocalResponseNorm({s['size']}, alpha={s['alpha']!r}, beta={s['beta']!r}, "
                f"k={s['k']!r})", "")
    if t == "dropout":
        return f"nn.Dropout({s['p']!r})", ""
    if t == "leaky_relu":
        return f"nn.LeakyReLU({s['slope']!r})", ""
    return {"gap": "nn.AdaptiveAvgPool2d(1)", "relu": "nn.ReLU()", "tanh": "nn.Tanh()",
            "sigmoid": "nn.Sigmoid()"}[t], ""
