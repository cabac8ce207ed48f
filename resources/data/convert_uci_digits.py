"""Convert the UCI optical handwritten digits, as shipped inside scikit-learn, to uci_digits.npz.

Run once with a throwaway environment (scikit-learn is not a dependency of the app):
    python3.11 -m venv /tmp/skl && /tmp/skl/bin/pip install scikit-learn
    /tmp/skl/bin/python resources/data/convert_uci_digits.py

The 8×8 images count "on" pixels in 4×4 blocks (0..16); they are scaled to uint8 0..255.
"""

import io
import sys
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parents[1]))
from engine.atomic import atomic_write  # noqa: E402


def main() -> None:
    digits = load_digits()
    x = np.rint(digits.images * (255 / 16)).astype(np.uint8)[..., None]
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x=x, y=digits.target.astype(np.uint8),
                        class_names=np.array([str(d) for d in range(10)]))
    atomic_write(HERE / "uci_digits.npz", buffer.getvalue())
    print(f"wrote {HERE / 'uci_digits.npz'}: {x.shape} images, "
          f"{np.bincount(digits.target).tolist()} per class")


if __name__ == "__main__":
    main()
