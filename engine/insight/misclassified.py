"""The validation images a run gets wrong, the most confidently wrong first."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.run import Run


@dataclass(frozen=True)
class Mistake:
    index: int          # of the image among the validation images
    true: int           # its class
    predicted: int      # the class the network gives it
    confidence: float   # the probability of that class


def misclassified(run: Run, x: np.ndarray, y: np.ndarray) -> list[Mistake]:
    """Every image of uint8 (N, H, W, D) `x` whose predicted class is not its label `y`,
    by confidence, highest first (on a tie, by index); predicted in the run's batches."""
    probabilities = run.predict(x)
    predicted = probabilities.argmax(axis=1) if len(x) else np.zeros(0, np.int64)
    confidence = probabilities[np.arange(len(x)), predicted]
    wrong = np.flatnonzero(predicted != np.asarray(y))
    order = wrong[np.lexsort((wrong, -confidence[wrong]))]
    return [Mistake(int(i), int(y[i]), int(predicted[i]), float(confidence[i])) for i in order]
