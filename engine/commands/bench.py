"""Time one training step of a network, layer by layer, on this machine."""

from __future__ import annotations

import argparse
import sys

from engine.backend import DEVICES, get_backend
from engine.bench import BenchResult, benchmark, total
from engine.bounded import shown
from engine.commands.network_arg import HELP, network_file
from engine.config import MAX_BATCH_SIZE
from engine.errors import ConvNetError
from engine.layer_timings import from_bench, save_timings
from engine.netfile import load_network
from engine.runs import runs_folder

MAX_REPEATS = 1_000  # medians settle within a few dozen steps


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", help=HELP)
    parser.add_argument("--batch-size", type=int, default=64, help="images per step (default 64)")
    parser.add_argument("--repeats", type=int, default=5,
                        help="timed steps; medians are shown (default 5)")
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="cpu, gpu or auto (default cpu)")


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= MAX_BATCH_SIZE:
        raise ConvNetError(f"--batch-size must be from 1 to {MAX_BATCH_SIZE:,}.")
    if not 1 <= args.repeats <= MAX_REPEATS:
        raise ConvNetError(f"--repeats must be from 1 to {MAX_REPEATS:,}.")
    path = network_file(args.network)
    spec = load_network(path)
    result = benchmark(spec, args.batch_size, get_backend(args.device), args.repeats)
    print(f"{shown(spec.name)}: batch size {args.batch_size} on the {result.device.upper()}, "
          f"median of {args.repeats} steps")
    print(to_table(result))
    folder = runs_folder(path)
    try:
        saved = save_timings(from_bench(spec, args.batch_size, result.device, result.layers),
                             spec, folder)
    except OSError as e:
        print(f"The timings could not be saved in '{folder}' ({e.strerror or e}), so the "
              "window's inspector will not show them.", file=sys.stderr)
    else:
        print(f"Saved for the window's inspector in {saved}")
    return 0


def to_table(result: BenchResult) -> str:
    header = ("layer", "type", "output", "forward ms", "GFLOP/s", "backward ms", "GFLOP/s")
    rows = [(shown(t.name), t.type, t.output, f"{t.forward_s * 1e3:.2f}", _rate(t.forward_gflops),
             "—" if t.backward_s is None else f"{t.backward_s * 1e3:.2f}",
             _rate(t.backward_gflops))
            for t in result.layers]
    whole = total(result.layers)
    rows.append(("total", "", "", f"{whole.forward_s * 1e3:.2f}", _rate(whole.forward_gflops),
                 f"{whole.backward_s * 1e3:.2f}", _rate(whole.backward_gflops)))
    widths = [max(len(r[c]) for r in rows + [header]) for c in range(len(header))]

    def line(r):
        return "  ".join(v.rjust(w) if c >= 3 else v.ljust(w)
                         for c, (v, w) in enumerate(zip(r, widths))).rstrip()

    out = [line(header), line(tuple("-" * w for w in widths))]
    out += [line(r) for r in rows]
    out.append(f"\nfull training step (forward, loss, backward, SGD update): "
               f"{result.step_s * 1e3:.1f} ms = {result.images_per_s:,.0f} images/s")
    out.append("GFLOP/s: 2 × multiply-adds (engine.shapes) / time; backward counts the weight "
               "gradient and, above the first trained layer, the input gradient.")
    return "\n".join(out)


def _rate(gflops: float | None) -> str:
    return "—" if not gflops else f"{gflops:.1f}"
