"""Mean subtraction and scaling fitted on the training split, and batch augmentation."""

from __future__ import annotations

from typing import Callable

import numpy as np

from engine.data.dataset import DataError, chunk_rows

MODES = ("channel", "image")


class Normalizer:
    """x ↦ (x − mean) / std, the notes' mean subtraction, fitted on training images only.

    "channel": one mean and std per colour channel. "image": the mean image (H, W, C), and
    one std over all pixels of the mean-subtracted images, so both modes give unit scale.
    """

    def __init__(self, mode: str, mean: np.ndarray, std: np.ndarray):
        if mode not in MODES:
            raise DataError(f"The normalisation must be one of {', '.join(MODES)}, not {mode!r}.")
        self.mode = mode
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self._scale = (1.0 / self.std).astype(np.float32)

    @classmethod
    def fit(cls, train_x: np.ndarray, mode: str = "channel",
            check: Callable[[], None] = lambda: None) -> "Normalizer":
        """Fitted on `train_x`; `check()` runs between chunks, to stop a long fit by raising."""
        if mode not in MODES:
            raise DataError(f"The normalisation must be one of {', '.join(MODES)}, not {mode!r}.")
        if len(train_x) == 0:
            raise DataError("There are no training images to compute the normalisation from.")
        if mode == "channel":
            total, squares = _sums(train_x, (0, 1, 2), 0.0, check)
            count = train_x[..., 0].size
            mean = total / count
            var = squares / count - mean ** 2
        else:
            total, _ = _sums(train_x, 0, 0.0, check)
            mean = total / len(train_x)
            _, squares = _sums(train_x, None, mean, check)
            var = np.array([squares / train_x.size])
        std = np.sqrt(np.maximum(var, 0.0))
        # A constant channel (e.g. a blank border) would divide by zero; leave it unscaled.
        return cls(mode, mean, np.where(std < 1e-3, 1.0, std))

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """uint8 NHWC images → float32 NHWC, normalised."""
        expected = self.mean.shape
        if x.shape[-len(expected):] != expected:
            raise DataError(f"These images are {x.shape[1:]} (H, W, C) but the normalisation "
                            f"was fitted on images ending in {expected}.")
        out = x.astype(np.float32)
        out -= self.mean
        out *= self._scale
        return out

    def to_state(self) -> dict[str, np.ndarray]:
        return {"mode": np.array(self.mode), "mean": self.mean.copy(), "std": self.std.copy()}

    @classmethod
    def from_state(cls, state: dict[str, np.ndarray]) -> "Normalizer":
        try:
            return cls(str(state["mode"]), state["mean"], state["std"])
        except KeyError as e:
            raise DataError(f"The saved normalisation has no {e.args[0]!r} entry.") from None


def _sums(x: np.ndarray, axis, centre, check: Callable[[], None]
          ) -> tuple[np.ndarray, np.ndarray]:
    """Sum and sum of squares of (x − centre) over `axis`, in float64, a chunk at a time, so
    that no float copy of the whole set is made."""
    total = squares = 0.0
    step = chunk_rows(x, np.dtype(np.float64).itemsize)
    for start in range(0, len(x), step):
        check()
        chunk = x[start:start + step].astype(np.float64) - centre
        total = total + chunk.sum(axis=axis)
        squares = squares + np.square(chunk).sum(axis=axis)
    return np.asarray(total), np.asarray(squares)


def augment(x: np.ndarray, rng: np.random.Generator, flip: bool, crop_pad: int) -> np.ndarray:
    """A randomly flipped and shifted copy of a (N, H, W, C) batch, with no loop over images.

    flip: each image is mirrored left-right with probability 1/2.
    crop_pad: each image is zero-padded by this many pixels on every side and a window of
    its original size is cut at a random offset (the standard CIFAR random crop).
    """
    if crop_pad < 0:
        raise DataError(f"The crop padding must be 0 or more pixels, not {crop_pad}.")
    out = x.copy()
    if flip:
        mirrored = rng.random(len(x)) < 0.5
        out[mirrored] = x[mirrored, :, ::-1]
    if crop_pad:
        n, height, width, _ = x.shape
        p = crop_pad
        padded = np.pad(out, ((0, 0), (p, p), (p, p), (0, 0)))
        dy = rng.integers(0, 2 * p + 1, n)
        dx = rng.integers(0, 2 * p + 1, n)
        rows = dy[:, None, None] + np.arange(height)[None, :, None]
        cols = dx[:, None, None] + np.arange(width)[None, None, :]
        out = padded[np.arange(n)[:, None, None], rows, cols]
    return out
