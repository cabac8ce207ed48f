"""Describe a data set: its format, image counts, image size, classes and validation split."""

from __future__ import annotations

import argparse

import numpy as np

from engine.bounded import shown
from engine.commands.network_arg import network_file
from engine.data import EMBEDDED, DataError, DataSet, load_data
from engine.data.load import SPLIT_SEED, VAL_FRACTION
from engine.netfile import load_network
from engine.shapes import format_bytes


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help=f"a data set folder or .npz file, or an embedded set: "
                                       f"{', '.join(EMBEDDED)}")
    parser.add_argument("--network", help="a network file or template: read the images at its "
                                          "input volume (image folders are resized to it)")
    parser.add_argument("--val-fraction", type=float, default=VAL_FRACTION,
                        help="fraction of the training images kept for validation "
                             f"(default {VAL_FRACTION:g})")
    parser.add_argument("--seed", type=int, default=SPLIT_SEED,
                        help=f"seed of the validation split (default {SPLIT_SEED})")


def run(args: argparse.Namespace) -> int:
    if args.seed < 0:
        raise DataError(f"The seed of the validation split must be 0 or more, not {args.seed}.")
    volume = None
    if args.network:
        volume = load_network(network_file(args.network)).input_volume
        if volume is None:
            raise DataError(f"{args.network} has no input layer to size the images by.")
    data = load_data(args.source, volume, args.val_fraction, args.seed)
    print(describe(data, args.val_fraction, args.seed))
    return 0


def describe(data: DataSet, val_fraction: float, seed: int) -> str:
    stored_y = np.concatenate([data.train_y, data.val_y])
    n_stored, n_test = len(stored_y), 0 if data.test_y is None else len(data.test_y)
    arrays = [a for a in (data.train_x, data.val_x, data.test_x) if a is not None]
    names = [shown(name) for name in data.class_names]
    lines = [
        shown(data.name),
        f"format:      {data.format}",
        f"image size:  {data.volume} (W×H×D, uint8)",
        f"stored:      {n_stored:,} training images, "
        + (f"{n_test:,} test images (the official test split)" if data.test_y is not None
           else "no test split"),
        f"validation:  {len(data.val_y):,} images ({val_fraction * 100:g}% of each class, "
        f"seed {seed}) taken from the training images, leaving {len(data.train_y):,} "
        f"for training",
        f"in memory:   {format_bytes(sum(a.nbytes for a in arrays))} as uint8 "
        f"(float32 only per batch)",
        f"classes:     {len(names)}",
    ]
    train_counts = np.bincount(stored_y, minlength=len(names))
    test_counts = None if data.test_y is None else np.bincount(data.test_y, minlength=len(names))
    width = max(len(n) for n in names + ["name"])
    lines.append(f"  {'#':>3}  {'name':<{width}}  {'train':>7}  {'test':>7}")
    for i, name in enumerate(names):
        test = "—" if test_counts is None else f"{test_counts[i]:,}"
        lines.append(f"  {i:>3}  {name:<{width}}  {train_counts[i]:>7,}  {test:>7}")
    lines += [f"note:        {note}" for note in data.notes]
    return "\n".join(lines)
