"""Export a network or a run: an ONNX model, or a PyTorch project to train on many GPUs.

From a run file (.ckpt) the export carries its trained weights, batch-norm statistics and
normalisation; from a network file or template, fresh initial weights. The ONNX model takes
raw pixel values (0–255) in NCHW with the normalisation built in. The PyTorch project holds
model.py, weights.pt, a torchrun-ready train.py and a README; `import-weights` brings what
it trains back.
"""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from engine.checkpoint import EXTENSION, load_run
from engine.commands.network_arg import HELP, network_file
from engine.export.errors import require
from engine.export.source import Source
from engine.netfile import load_network

FORMATS = ("onnx", "pytorch")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", metavar="NETWORK|RUN",
                        help=f"a run file (*{EXTENSION}), or {HELP}")
    parser.add_argument("--format", choices=FORMATS, required=True,
                        help="onnx: one model file; pytorch: a project folder")
    parser.add_argument("-o", "--output", required=True, metavar="PATH",
                        help="the .onnx file, or the new (or empty) project folder")
    parser.add_argument("--probabilities", action="store_true",
                        help="onnx: a second output with the softmax of the scores")


def read_source(text: str) -> Source:
    """The run file or the network file or template that `text` names."""
    if Path(text).suffix == EXTENSION:
        return Source.of_run(load_run(Path(text).expanduser(), "cpu"))
    return Source.of_network(load_network(network_file(text)))


def run(args: argparse.Namespace) -> int:
    require(args.format)  # before a run is loaded for nothing
    source = read_source(args.source)
    if args.format == "onnx":
        from engine.export.onnx_model import save_onnx

        save_onnx(source, args.output, args.probabilities)
        print(f"Wrote {args.output}: input '{source.spec.layers[0].name}' "
              f"(batch, {source.spec.input_volume.depth}, {source.spec.input_volume.height}, "
              f"{source.spec.input_volume.width}) raw pixel values 0–255, output 'scores'"
              + (" and 'probabilities'" if args.probabilities else "") + ".")
        return 0
    from engine.export.project import write_project

    folder = write_project(source, args.output)
    script = shlex.quote(str(folder / "train.py"))
    print(f"Wrote the PyTorch project {folder}; train it with:\n"
          f"  torchrun --standalone --nproc_per_node=gpu {script}\n"
          f"or, on a machine without a CUDA GPU:\n"
          f"  torchrun --standalone --nproc_per_node=2 {script} --device cpu\n"
          f"and bring it back with:\n"
          f"  convnet-designer import-weights {shlex.quote(str(folder / 'checkpoint.pt'))} "
          f"-o trained{EXTENSION}")
    return 0
