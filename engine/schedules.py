"""Learning-rate schedules, as functions of the position in training.

`epoch` is the completed fraction of training in epochs (e.g. 2.5 halfway through the
third epoch); step and exponential schedules change the rate once per whole epoch.
"""

from __future__ import annotations

import math

SCHEDULES = ("constant", "step", "exponential", "cosine")


def learning_rate(schedule: str, base: float, epoch: float, total_epochs: int,
                  step_epochs: int = 10, gamma: float = 0.1) -> float:
    """The learning rate at `epoch` of a run of `total_epochs`."""
    if schedule == "constant":
        return base
    if schedule == "step":
        return base * gamma ** (int(epoch) // step_epochs)
    if schedule == "exponential":
        return base * gamma ** int(epoch)
    if schedule == "cosine":
        return 0.5 * base * (1 + math.cos(math.pi * min(epoch / total_epochs, 1.0)))
    raise ValueError(f"unknown schedule {schedule!r}")
