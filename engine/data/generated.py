"""A generated CIFAR-shaped set (32×32×3, 10 classes), the same on every machine.

Five shape classes (disk, square, triangle, ring, cross) at a random position, size and angle,
and five texture classes (stripes at four orientations, a checkerboard) at a random period and
phase. Colours are random — foreground and background differ in brightness but say nothing
about the class — and every pixel gets uniform noise of up to ±NOISE. Position, phase and
colour vary, so no fixed pixel weighting (a linear classifier) can tell the classes apart
well, while local filters with pooling (a conv net) can.
"""

from __future__ import annotations

import numpy as np

SIDE = 32
CLASS_NAMES = ["disk", "square", "triangle", "ring", "cross",
               "horizontal stripes", "vertical stripes", "diagonal stripes",
               "anti-diagonal stripes", "checkerboard"]
TRAIN_PER_CLASS = 1000
TEST_PER_CLASS = 200
SEED = 20_260_601
NOISE = 20
MIN_CONTRAST = 70.0
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_STRIPE_ANGLES = {5: 0.0, 6: 90.0, 7: 45.0, 8: 135.0}


def make_shapes(per_class: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`per_class` images of each class, uint8 (N, 32, 32, 3), and labels int64 (N,)."""
    y = np.repeat(np.arange(len(CLASS_NAMES)), per_class)
    rng.shuffle(y)
    n = len(y)
    coords = np.arange(SIDE, dtype=np.float32) + 0.5
    gy, gx = coords[None, :, None], coords[None, None, :]
    mask = np.empty((n, SIDE, SIDE), bool)
    for label in range(len(CLASS_NAMES)):
        rows = np.flatnonzero(y == label)
        mask[rows] = _mask(label, len(rows), gx, gy, rng)
    fg, bg = _colours(n, rng)
    # int16 throughout: the noise may leave 0..255 before the clip, and it is the fastest type.
    images = rng.integers(-NOISE, NOISE + 1, (n, SIDE, SIDE, 3), dtype=np.int16)
    for c in range(3):
        images[..., c] += np.where(mask, fg[:, c, None, None], bg[:, c, None, None])
    return np.clip(images, 0, 255, out=images).astype(np.uint8), y.astype(np.int64)


def _uniform(rng, n, low, high) -> np.ndarray:
    return rng.uniform(low, high, n).astype(np.float32)[:, None, None]


def _mask(label: int, n: int, gx: np.ndarray, gy: np.ndarray, rng) -> np.ndarray:
    if label in _STRIPE_ANGLES:
        angle = np.deg2rad(_STRIPE_ANGLES[label] + _uniform(rng, n, -12, 12))
        period, phase = _uniform(rng, n, 4, 9), _uniform(rng, n, 0, 2 * np.pi)
        # Distance across the stripes, for stripes running at `angle` to the horizontal.
        across = gy * np.cos(angle) - gx * np.sin(angle)
        return np.sin(2 * np.pi * across / period + phase) > 0
    if label == 9:
        angle = np.deg2rad(_uniform(rng, n, -12, 12))
        period = _uniform(rng, n, 6, 12)
        u = (gx * np.cos(angle) + gy * np.sin(angle)) / period + _uniform(rng, n, 0, 1)
        v = (gy * np.cos(angle) - gx * np.sin(angle)) / period + _uniform(rng, n, 0, 1)
        return (np.floor(2 * u) + np.floor(2 * v)) % 2 == 0
    r = _uniform(rng, n, 6, 12)
    cx, cy = _uniform(rng, n, 9, SIDE - 9), _uniform(rng, n, 9, SIDE - 9)
    angle = _uniform(rng, n, 0, 2 * np.pi)
    u, v = gx - cx, gy - cy
    p = u * np.cos(angle) + v * np.sin(angle)
    q = v * np.cos(angle) - u * np.sin(angle)
    radius2 = p * p + q * q
    if label == 0:
        return radius2 <= r * r
    if label == 1:
        return np.maximum(abs(p), abs(q)) <= 0.75 * r
    if label == 2:
        sides = [p * np.cos(a) + q * np.sin(a) for a in (0.0, 2 * np.pi / 3, 4 * np.pi / 3)]
        return np.maximum(np.maximum(sides[0], sides[1]), sides[2]) <= 0.5 * r
    if label == 3:
        return (radius2 <= r * r) & (radius2 >= (0.55 * r) ** 2)
    arm = 0.22 * r
    return ((abs(p) <= arm) & (abs(q) <= r)) | ((abs(q) <= arm) & (abs(p) <= r))


def _colours(n: int, rng) -> tuple[np.ndarray, np.ndarray]:
    """Random foreground and background colours at least MIN_CONTRAST apart in brightness."""
    fg = rng.uniform(0, 255, (n, 3)).astype(np.float32)
    bg = rng.uniform(0, 255, (n, 3)).astype(np.float32)
    dull = np.abs((fg - bg) @ _LUMA) < MIN_CONTRAST
    while dull.any():
        fg[dull] = rng.uniform(0, 255, (int(dull.sum()), 3))
        dull = np.abs((fg - bg) @ _LUMA) < MIN_CONTRAST
    return fg.astype(np.int16), bg.astype(np.int16)


def generate() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The fixed training and test images and labels (independent of any split seed)."""
    rng = np.random.default_rng(SEED)
    x, y = make_shapes(TRAIN_PER_CLASS, rng)
    test_x, test_y = make_shapes(TEST_PER_CLASS, rng)
    return x, y, test_x, test_y
