"""Bring weights trained by an exported PyTorch project back as a run the window opens.

Reads a checkpoint.pt written by the project's train.py (with its settings, classes and
curves) or a plain state dict such as weights.pt, safely (no code in the file runs), and
checks every array against the network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from engine.checkpoint import EXTENSION, save_run
from engine.commands.network_arg import HELP, network_file
from engine.errors import ConvNetError
from engine.export.errors import require
from engine.export.project import NETWORK_FILE


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("weights", metavar="WEIGHTS.pt", help="checkpoint.pt or weights.pt")
    parser.add_argument("--network",
                        help=f"{HELP} (default: the {NETWORK_FILE} beside the weights)")
    parser.add_argument("-o", "--output", required=True, metavar=f"RUN{EXTENSION}",
                        help="the run file to write")
    parser.add_argument("--data", help="the data set the run uses in the window (default: "
                                       "the one the weights were trained on)")


def run(args: argparse.Namespace) -> int:
    require("import")
    from engine.export.weights_import import import_weights, network_beside

    network = network_file(args.network) if args.network else network_beside(args.weights)
    if network is None:
        raise ConvNetError(f"There is no {NETWORK_FILE} beside '{Path(args.weights).name}'; "
                           "name the network with --network.")
    run = import_weights(args.weights, network, args.data)
    save_run(run, args.output)
    trained = f"{run.epoch} epoch{'s' if run.epoch != 1 else ''}"
    print(f"Wrote {args.output}: '{run.spec.name}' after {trained} trained with PyTorch; "
          "open it in the window's Train workspace.")
    return 0
