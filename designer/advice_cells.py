"""The inspector's columns of measured time and of the notes' advice: each layer's measured
forward and backward time and GFLOP/s, its share of compute, memory and parameters, and a
conv layer's filters × positions."""

from __future__ import annotations

from dataclasses import dataclass

from engine.advice import ConvStage, LayerShare, conv_stages, shares
from engine.bench import LayerTiming, total
from engine.shapes import Analysis

ADVICE_COLUMNS = (  # header, tooltip
    ("Fwd ms", "Measured forward time of the whole batch (median of a few steps)"),
    ("Bwd ms", "Measured backward time of the whole batch: the weight gradient and, above the "
               "first trained layer, the input gradient"),
    ("GFLOP/s", "Achieved rate, forward / backward: 2 × multiply-adds ÷ measured time"),
    ("Compute", "Share of the network's multiply-adds"),
    ("Mem.", "Share of the network's activation memory"),
    ("Par.", "Share of the network's parameters"),
    ("K·W2·H2", "A conv layer's filters × positions, and its ratio to the first conv's: the "
                "notes keep this product roughly constant"),
)
TIMING_COLUMNS = range(3)  # of ADVICE_COLUMNS: the ones measured, greyed when stale


@dataclass(frozen=True)
class Advice:
    """The figures of one analysis the advice columns show."""

    shares: dict[str, LayerShare]
    stages: dict[str, ConvStage]

    @classmethod
    def of(cls, analysis: Analysis) -> "Advice":
        return cls(shares(analysis), conv_stages(analysis))


def _ms(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds * 1e3:.3g}"  # µs-fast layers stay nonzero


def _rates(forward: float | None, backward: float | None) -> str:
    if forward is None and backward is None:
        return ""
    return " / ".join("—" if r is None else f"{r:.1f}" for r in (forward, backward))


def _percent(value: float) -> str:
    return f"{value:.1f} %" if value else ""


def _count(n: int) -> str:
    for prefix, scale in (("M", 10 ** 6), ("k", 10 ** 3)):
        if n >= scale:
            return f"{n / scale:.3g} {prefix}"
    return str(n)


def _timed(timing: LayerTiming | None) -> tuple[str, str, str]:
    if timing is None:
        return "", "", ""
    return (_ms(timing.forward_s), _ms(timing.backward_s),
            _rates(timing.forward_gflops, timing.backward_gflops))


def advice_cells(layer_id: str, advice: Advice, timing: LayerTiming | None) -> tuple[str, ...]:
    share = advice.shares.get(layer_id)
    shared = ("—", "—", "—") if share is None else (
        _percent(share.compute), _percent(share.memory), _percent(share.parameters))
    stage = advice.stages.get(layer_id)
    product = "" if stage is None else f"{_count(stage.product)} ({stage.ratio:.2g}×)"
    return (*_timed(timing), *shared, product)


def advice_totals(advice: Advice, timings: list[LayerTiming]) -> tuple[str, ...]:
    whole = "100 %" if advice.shares else ""
    return (*_timed(total(timings) if timings else None), whole, whole, whole, "")
