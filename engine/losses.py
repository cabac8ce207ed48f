"""The losses on the class scores (softmax cross-entropy, multiclass SVM) and L2 weight decay.

Each loss takes scores (N, C) and integer labels (N,) and returns the mean loss over
the batch as a Python float and its gradient with respect to the scores.
"""

from __future__ import annotations

from typing import Any

from engine.optim import pieces


def softmax_probabilities(xp: Any, scores: Any) -> Any:
    """exp(s) / Σ exp(s) per row, shifted by the row maximum so nothing overflows."""
    shifted = scores - scores.max(axis=1, keepdims=True)
    e = xp.exp(shifted)
    e /= e.sum(axis=1, keepdims=True)
    return e


def softmax_loss(xp: Any, scores: Any, labels: Any) -> tuple[float, Any]:
    """Cross-entropy −log p_correct, averaged over the batch."""
    n = scores.shape[0]
    rows = xp.arange(n)
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_z = xp.log(xp.exp(shifted).sum(axis=1))
    loss = float((log_z - shifted[rows, labels]).mean())
    dscores = xp.exp(shifted - log_z[:, None])
    dscores[rows, labels] -= 1
    dscores *= scores.dtype.type(1 / n)
    return loss, dscores


def svm_loss(xp: Any, scores: Any, labels: Any, margin: float = 1.0) -> tuple[float, Any]:
    """Σ over wrong classes of max(0, s_j − s_correct + Δ), averaged over the batch."""
    n = scores.shape[0]
    rows = xp.arange(n)
    margins = scores - scores[rows, labels][:, None] + scores.dtype.type(margin)
    xp.maximum(margins, 0, out=margins)
    margins[rows, labels] = 0
    loss = float(margins.sum() / n)
    dscores = (margins > 0).astype(scores.dtype)
    dscores[rows, labels] = -dscores.sum(axis=1)
    dscores *= scores.dtype.type(1 / n)
    return loss, dscores


def weight_decay(xp: Any, w: Any, g: Any, strength: float) -> float:
    """Add the L2 penalty ½·λ·Σw² to the loss: adds λ·w to the gradient g of the weights w,
    returns the penalty. Works on flat arrays a piece at a time (`engine.optim.pieces`)."""
    if strength == 0:
        return 0.0
    squares = 0.0
    for part in pieces(len(w)):
        g[part] += w[part] * w.dtype.type(strength)
        squares = squares + xp.vdot(w[part], w[part])  # on the device until the end
    return 0.5 * strength * float(squares)
