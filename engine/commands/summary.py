"""Print a network's per-layer volumes, parameters, multiply-adds and training memory."""

from __future__ import annotations

import argparse
import json

from engine.bounded import shown
from engine.commands.network_arg import HELP, network_file
from engine.config import MAX_BATCH_SIZE
from engine.errors import ConvNetError
from engine.netfile import load_network
from engine.shapes import (
    BUDGET_PRESETS_GIB, BYTES_PER_FLOAT, GIB, OPTIMIZER_STATE_COPIES, Analysis, Fix, LayerInfo,
    analyse, format_bytes,
)

MAX_BUDGET_GIB = 1 << 20  # a pebibyte, beyond any machine's memory


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", help=HELP)
    parser.add_argument("--batch-size", type=int, default=32,
                        help="batch size for the training memory (default 32)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZER_STATE_COPIES), default="momentum",
                        help="optimizer whose step cache is counted (default: momentum)")
    parser.add_argument("--budget-gib", type=float, default=None,
                        help="memory budget in GiB for the largest batch size "
                             "(default: the 4, 6 and 12 GiB presets)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= MAX_BATCH_SIZE:
        raise ConvNetError(f"--batch-size must be from 1 to {MAX_BATCH_SIZE:,}.")
    if args.budget_gib is not None and not 0 < args.budget_gib <= MAX_BUDGET_GIB:
        raise ConvNetError(f"--budget-gib must be above 0 and at most {MAX_BUDGET_GIB:,} GiB, "
                           f"not {args.budget_gib:g}.")
    analysis = analyse(load_network(network_file(args.network)))
    budgets = [args.budget_gib] if args.budget_gib is not None else list(BUDGET_PRESETS_GIB)
    if args.json:
        print(json.dumps(to_json(analysis, args.batch_size, args.optimizer, budgets), indent=2,
                         ensure_ascii=False))
    else:
        print(to_table(analysis, args.batch_size, args.optimizer, budgets))
    return 0 if analysis.valid else 1


def _params_text(info: LayerInfo) -> str:
    if not info.params:
        return "0"
    return f"{info.params:,} ({info.weights:,}+{info.biases:,})"


def to_table(analysis: Analysis, batch_size: int, optimizer: str, budgets: list[float]) -> str:
    header = ("#", "name", "type", "output", "params (w+b)", "activations", "multiply-adds", "RF")
    rows = []
    for info in analysis.layers:
        if info.output is None:
            rows.append((str(info.index), shown(info.layer.name), info.layer.type)
                        + ("—",) * 5)
            continue
        rows.append((
            str(info.index), shown(info.layer.name), info.layer.type,
            str(info.output),
            _params_text(info),
            f"{info.activations:,}" + (" (in place)" if info.in_place else ""),
            f"{info.macs:,}",
            f"{info.receptive_field}×{info.receptive_field}",
        ))
    widths = [max(len(r[c]) for r in rows + [header]) for c in range(len(header))]
    right = {0, 4, 5, 6}

    def line(r):
        return "  ".join(v.rjust(w) if c in right else v.ljust(w)
                         for c, (v, w) in enumerate(zip(r, widths))).rstrip()

    out = [shown(analysis.spec.name), line(header), line(tuple("-" * w for w in widths))]
    for info, r in zip(analysis.layers, rows):
        out.append(line(r))
        if info.error:
            out.append(f"    error: {info.error}")
            out += [f"    fix:   {fix.text}" for fix in info.fixes]
    if analysis.network_error:
        out.append(f"error: {analysis.network_error}")
        out += [f"fix:   {fix.text}" for fix in analysis.network_fixes]
    out += [
        "",
        f"total parameters:          {analysis.total_params:,}",
        f"total activations / image: {analysis.total_activations:,} "
        f"({format_bytes(analysis.total_activations * BYTES_PER_FLOAT)} forward)",
        f"total multiply-adds/image: {analysis.total_macs:,}",
    ]
    if analysis.valid:
        m = analysis.memory(batch_size, optimizer)
        out += ["", f"training memory at batch size {batch_size} (float32, {optimizer}):"]
        for label, value in (
            ("input batch", m.input_batch), ("kept activations", m.activations),
            ("activation gradients", m.gradients), ("parameters", m.parameters),
            ("parameter gradients", m.parameter_gradients),
            ("optimizer state", m.optimizer_state), ("workspace (im2col…)", m.workspace),
            ("last good copy", m.last_good), ("temporaries", m.temporaries),
        ):
            out.append(f"  {label:<22}{format_bytes(value):>12}")
        out.append(f"  {'total':<22}{format_bytes(m.total):>12}")
        out.append(f"  (the notes' rule of thumb — every volume twice, plus parameters, their "
                   f"gradients and the optimizer cache — gives "
                   f"{format_bytes(analysis.notes_rule_bytes(batch_size, optimizer))})")
        for gib in budgets:
            n = analysis.largest_batch(int(gib * GIB), optimizer)
            out.append(f"largest batch size in {gib:g} GiB: {n}")
    else:
        count = len(analysis.errors) + (1 if analysis.network_error else 0)
        out.append(f"\n{count} error{'s' if count != 1 else ''} — fix the network to estimate memory.")
    return "\n".join(out)


def _fixes_json(fixes: tuple[Fix, ...]) -> dict:
    """The texts of the fixes, best first, and the best alone as "fix" (None if none)."""
    texts = [fix.text for fix in fixes]
    return {"fix": texts[0] if texts else None, "fixes": texts}


def to_json(analysis: Analysis, batch_size: int, optimizer: str, budgets: list[float]) -> dict:
    volume = analysis.spec.input_volume
    data = {
        "name": analysis.spec.name,
        "valid": analysis.valid,
        "input": {"width": volume.width, "height": volume.height, "depth": volume.depth}
        if volume else None,
        "layers": [
            {
                "id": i.layer.id, "name": i.layer.name, "type": i.layer.type,
                "width": i.output.width if i.output else None,
                "height": i.output.height if i.output else None,
                "depth": i.output.depth if i.output else None,
                "params": i.params, "weights": i.weights, "biases": i.biases,
                "activations": i.activations, "in_place": i.in_place, "macs": i.macs,
                "receptive_field": i.receptive_field if i.output else None,
                "error": i.error, **_fixes_json(i.fixes),
            }
            for i in analysis.layers
        ],
        "totals": {"params": analysis.total_params, "activations": analysis.total_activations,
                   "macs": analysis.total_macs},
        "memory": None,
        "error": analysis.network_error, **_fixes_json(analysis.network_fixes),
    }
    if analysis.valid:
        m = analysis.memory(batch_size, optimizer)
        data["memory"] = {
            **m.as_dict(), "optimizer": optimizer,
            "notes_rule_bytes": analysis.notes_rule_bytes(batch_size, optimizer),
            "largest_batch": {f"{gib:g}GiB": analysis.largest_batch(int(gib * GIB), optimizer)
                              for gib in budgets},
        }
    return data
