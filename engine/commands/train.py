"""Train a network on a data set (default: the embedded digits) and save a checkpoint.

Without --save, the checkpoint is written next to the network file with the extension
.ckpt, or in the working directory for a template or a folder that cannot be written
(a resumed run writes back to the checkpoint it came from). Ctrl-C stops after
the current batch and saves; `--resume FILE.ckpt --epochs N` continues exactly there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from engine.backend import DEVICES
from engine.commands.network_arg import HELP, network_file
from engine.errors import ConvNetError
from engine.netfile import load_network
from engine.optim import OPTIMIZERS
from engine.resources import is_bundled
from engine.schedules import SCHEDULES
from engine.trainer import (
    NORMALIZATIONS, EpochEvent, StepEvent, TrainConfig, TrainControl, Trainer,
)

_BAR = 24


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", nargs="?", help=HELP)
    parser.add_argument("--resume", metavar="FILE.ckpt", help="continue a saved run")
    parser.add_argument("--data", metavar="PATH",
                        help="a data set: a folder or file on disk, or 'digits' / 'shapes' "
                             "(default: the embedded digits)")
    d = TrainConfig()
    # Settings default to None so that a resumed run keeps the saved ones unless given.
    for flag, kind, extra, help_ in (
        ("--optimizer", str, {"choices": OPTIMIZERS}, f"update rule (default {d.optimizer})"),
        ("--lr", float, {}, f"learning rate (default {d.lr:g})"),
        ("--momentum", float, {}, f"momentum μ (default {d.momentum:g})"),
        ("--weight-decay", float, {}, f"L2 strength λ (default {d.weight_decay:g})"),
        ("--schedule", str, {"choices": SCHEDULES}, f"learning-rate schedule (default {d.schedule})"),
        ("--step-epochs", int, {}, f"epochs between step-schedule drops (default {d.step_epochs})"),
        ("--gamma", float, {}, f"step/exponential decay factor (default {d.gamma:g})"),
        ("--batch-size", int, {}, f"images per step (default {d.batch_size})"),
        ("--epochs", int, {}, f"train until this many epochs are done (default {d.epochs})"),
        ("--seed", int, {}, f"random seed; equal seeds give equal runs (default {d.seed})"),
        ("--device", str, {"choices": DEVICES}, f"where to train (default {d.device})"),
        ("--crop-pad", int, {}, "augment with random crops of images padded by N pixels"),
        ("--normalization", str, {"choices": NORMALIZATIONS},
         f"mean subtraction per channel or mean image (default {d.normalization})"),
    ):
        parser.add_argument(flag, type=kind, default=None, help=help_, **extra)
    parser.add_argument("--flip", action="store_true", default=None,
                        help="augment with random left-right flips")
    parser.add_argument("--save", metavar="FILE.ckpt", help="where to save the checkpoint")
    parser.add_argument("--json-log", metavar="FILE",
                        help="write one JSON line per step and per epoch to FILE")


def _overrides(args: argparse.Namespace) -> dict:
    names = TrainConfig.__dataclass_fields__
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def _start(args: argparse.Namespace, control: TrainControl) -> tuple[Trainer, Path]:
    from engine.data import EMBEDDED, load_data

    if args.resume and args.network:
        raise ConvNetError("Give either a network file or --resume FILE.ckpt, not both.")
    data_source = args.data
    if data_source is not None and data_source not in EMBEDDED:
        data_source = str(Path(data_source).expanduser().resolve())
    if args.resume:
        data = None
        if data_source is not None:
            from engine.checkpoint import load_checkpoint

            volume = load_checkpoint(args.resume).spec.input_volume
            data = load_data(data_source, volume=volume)
        trainer = Trainer.from_checkpoint(args.resume, data, control, **_overrides(args))
        if data_source is not None:
            trainer.data_source = data_source
        return trainer, Path(args.save or args.resume)
    if not args.network:
        raise ConvNetError("Name a network file to train, or continue a run with --resume "
                           "FILE.ckpt.")
    network = network_file(args.network)
    spec = load_network(network)
    data = load_data(data_source, volume=spec.input_volume)
    trainer = Trainer(spec, data, TrainConfig(**_overrides(args)), control)
    trainer.data_source = data_source
    return trainer, Path(args.save or default_checkpoint_path(network))


def default_checkpoint_path(network: Path) -> Path:
    """`my_net.json` → `my_net.ckpt` beside it; in the working directory when the network is
    one of the app's templates or its folder cannot be written."""
    if is_bundled(network) or not os.access(network.resolve().parent, os.W_OK):
        return Path(network.with_suffix(".ckpt").name)
    return network.with_suffix(".ckpt")


def run(args: argparse.Namespace) -> int:
    control = TrainControl()
    trainer, save_path = _start(args, control)
    c, data = trainer.config, trainer.data
    print(f"{trainer.spec.name}: {data.name}, {len(data.train_x):,} training and "
          f"{len(data.val_x):,} validation images of {data.volume}; {c.optimizer}, lr {c.lr:g}, "
          f"{c.schedule} schedule, batch {c.batch_size}, {trainer.backend.name.upper()}")
    if trainer.epoch >= c.epochs:
        done = f"{trainer.epoch} epoch{'s' if trainer.epoch != 1 else ''}"
        print(f"Already trained for {done}; ask for more with --epochs.")
        return 0
    log = open(args.json_log, "a", encoding="utf-8") if args.json_log else None
    previous = signal.signal(signal.SIGINT, lambda *_: control.stop())
    try:
        _train(trainer, save_path, sys.stdout, log)
    finally:
        signal.signal(signal.SIGINT, previous)
        if log:
            log.close()
    if control.stopped:
        trainer.save_checkpoint(save_path)
        print(f"\nStopped at epoch {trainer.epoch + 1}, step {trainer.step}; saved {save_path}. "
              f"Continue with: python main.py train --resume {save_path} --epochs {c.epochs}")
        return 130
    print(f"Saved {save_path}")
    if data.test_x is not None and len(data.test_x):
        test_loss, test_acc = trainer.evaluate("test")
        print(f"test accuracy {test_acc:.1%} (loss {test_loss:.4f}) on the {len(data.test_x):,} "
              "images of the official test split")
    return 0


def _train(trainer: Trainer, save_path: Path, out: TextIO, log: TextIO | None) -> None:
    tty = out.isatty()
    epochs = trainer.config.epochs
    for event in trainer.run():
        if log:
            kind = "step" if isinstance(event, StepEvent) else "epoch"
            record = {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                      for k, v in asdict(event).items()}
            log.write(json.dumps({"event": kind, **record}) + "\n")
            log.flush()
        if isinstance(event, StepEvent):
            _progress(event, epochs, out, tty)
        elif isinstance(event, EpochEvent):
            if tty:
                out.write("\r\033[K")
            out.write(f"epoch {event.epoch}/{epochs}: train accuracy {event.train_acc:.1%} "
                      f"(loss {event.train_loss:.4f}), validation accuracy "
                      f"{event.val_acc:.1%} (loss {event.val_loss:.4f})\n")
            out.flush()
            trainer.save_checkpoint(save_path)


def _progress(e: StepEvent, epochs: int, out: TextIO, tty: bool) -> None:
    done = (e.step - 1) % e.steps_per_epoch + 1
    eta = f"{int(e.eta_s // 60)}:{int(e.eta_s % 60):02d}"
    text = (f"epoch {e.epoch}/{epochs} step {done}/{e.steps_per_epoch}  loss {e.loss:.4f}  "
            f"lr {e.lr:.3g}  {e.images_per_s:,.0f} images/s  ETA {eta}")
    if tty:
        filled = _BAR * done // e.steps_per_epoch
        out.write(f"\r\033[K[{'#' * filled}{'.' * (_BAR - filled)}] {text}")
        out.flush()
    elif done == e.steps_per_epoch or done % max(1, e.steps_per_epoch // 10) == 0:
        out.write(text + "\n")
        out.flush()
