"""Find a learning rate: sweep it exponentially over a short training and suggest one.

The sweep trains a fresh run of the network (the one `train` would start with the same
settings) for --steps steps while the rate grows from --start to --end, prints the loss
against the rate and the suggested rate, and the `train` command that uses it. Nothing is
saved.
"""

from __future__ import annotations

import argparse
import math
import shlex

from engine.backend import DEVICES
from engine.bounded import printable, shown
from engine.commands import invocation
from engine.commands.network_arg import HELP, network_file
from engine.config import TrainConfig
from engine.insight.lr_finder import END, START, STEPS, LrSweep, check_sweep, sweep
from engine.netfile import load_network
from engine.optim import OPTIMIZERS
from engine.run import Run, check_trainable

ROWS = 20     # lines of the printed curve
BAR = 40      # characters of its widest bar


def configure(parser: argparse.ArgumentParser) -> None:
    d = TrainConfig()
    parser.add_argument("network", help=HELP)
    parser.add_argument("--data", metavar="PATH",
                        help="a data set: a folder or file on disk, or 'digits' / 'shapes' "
                             "(default: the embedded digits)")
    parser.add_argument("--optimizer", choices=OPTIMIZERS, default=d.optimizer,
                        help=f"update rule (default {d.optimizer})")
    parser.add_argument("--momentum", type=float, default=d.momentum,
                        help=f"momentum μ (default {d.momentum:g})")
    parser.add_argument("--weight-decay", type=float, default=d.weight_decay,
                        help=f"L2 strength λ (default {d.weight_decay:g})")
    parser.add_argument("--batch-size", type=int, default=d.batch_size,
                        help=f"images per step (default {d.batch_size})")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    parser.add_argument("--device", choices=DEVICES, default=d.device,
                        help=f"where to train (default {d.device})")
    parser.add_argument("--steps", type=int, default=STEPS,
                        help=f"steps of the sweep (default {STEPS})")
    parser.add_argument("--start", type=float, default=START,
                        help=f"first learning rate (default {START:g})")
    parser.add_argument("--end", type=float, default=END,
                        help=f"last learning rate (default {END:g})")


def run(args: argparse.Namespace) -> int:
    from engine.data import data_source, load_data

    check_sweep(args.start, args.end, args.steps)
    network = network_file(args.network)
    spec = load_network(network)
    config = TrainConfig(optimizer=args.optimizer, momentum=args.momentum,
                         weight_decay=args.weight_decay, batch_size=args.batch_size,
                         seed=args.seed, device=args.device)
    check_trainable(spec, config)  # before a data set is loaded for nothing
    source = data_source(args.data)
    data = load_data(source, volume=spec.input_volume)
    trial = Run.start(spec, data, config, source)
    print(f"{shown(spec.name)}: {shown(data.name)}; {config.optimizer}, batch {config.batch_size}, "
          f"learning rate {args.start:g} → {args.end:g} over {args.steps} steps")
    found = sweep(trial, data, args.start, args.end, args.steps)
    print(curve(found))
    if found.suggestion is None:
        print(f"The loss diverged after {len(found.rates)} steps, too soon to suggest a rate; "
              f"start the sweep lower than {args.start:g}.")
        return 1
    ended = (f"the loss diverged at {found.rates[-1]:.2g}" if found.diverged
             else f"it reached {found.rates[-1]:.2g}")
    print(f"The smoothed loss was lowest at learning rate {found.minimum:.2g}; {ended}.")
    print(f"Suggested learning rate: {found.suggestion:.2g}")
    print(f"Train with it: {train_command(args, config, found.suggestion)}")
    return 0


def train_command(args: argparse.Namespace, config: TrainConfig, lr: float) -> str:
    """The `train` command for the run the sweep tried, at learning rate `lr`: every setting
    the sweep was given that `train` would otherwise take at its default."""
    words = [*invocation().split(), "train", args.network]
    if args.data is not None:
        words += ["--data", args.data]
    words += ["--optimizer", config.optimizer, "--batch-size", str(config.batch_size)]
    default = TrainConfig()
    for option, value, usual in (("--momentum", config.momentum, default.momentum),
                                 ("--weight-decay", config.weight_decay, default.weight_decay),
                                 ("--seed", config.seed, default.seed),
                                 ("--device", config.device, default.device)):
        if value != usual:
            words += [option, str(value)]
    return printable(shlex.join(words + ["--lr", f"{lr:.2g}"]))


def curve(found: LrSweep) -> str:
    """The smoothed loss against the rate, one line per row of rates, as bars."""
    if not len(found.rates):
        return "(no step finished)"
    every = max(1, math.ceil(len(found.rates) / ROWS))
    low, high = float(found.smoothed.min()), float(found.smoothed.max())
    lines = [f"{'rate':>9}  {'loss':>7}  {'smoothed':>8}"]
    printed = list(range(0, len(found.rates) - 1, every)) + [len(found.rates) - 1]
    for i in printed:
        width = 1 + round((BAR - 1) * (found.smoothed[i] - low) / max(high - low, 1e-12))
        lines.append(f"{found.rates[i]:9.2e}  {found.losses[i]:7.3f}  {found.smoothed[i]:8.3f}  "
                     + "#" * width)
    return "\n".join(lines)
