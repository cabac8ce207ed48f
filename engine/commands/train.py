"""Train a network on a data set (default: the embedded digits) and keep the run.

Without --save, the run is written to a `runs` folder beside the network file (the user's
data folder for a template), at every epoch's end and when training stops; the window lists
the same runs. Ctrl-C (or SIGTERM) stops after the current batch and saves; `--resume
FILE.ckpt --epochs N` continues exactly there, also with another batch size or learning
rate.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import signal
import sys
from contextlib import closing, suppress
from dataclasses import fields
from pathlib import Path
from typing import TextIO

from engine.backend import DEVICES
from engine.bounded import shown
from engine.checkpoint import EXTENSION, CheckpointError, load_run
from engine.commands import invocation
from engine.commands.network_arg import HELP, network_file
from engine.config import NORMALIZATIONS, TrainConfig, TrainingError
from engine.data import DataSet, data_source
from engine.errors import ConvNetError
from engine.netfile import load_network
from engine.optim import OPTIMIZERS
from engine.run import Run, check_trainable
from engine.runs import keep_new_run, runs_folder
from engine.schedules import SCHEDULES
from engine.trainer import EpochEvent, StepEvent, TrainControl, Trainer

_BAR = 24
# Ctrl-C, and the polite kill of `kill`, `timeout` and job schedulers (which send SIGKILL a
# while later): both stop after the current batch and save the run.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
# Opening a FIFO for writing waits for a reader unless non-blocking (ENXIO then says there is
# none); Windows has no FIFOs.
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_LOG_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_APPEND | _NONBLOCK | getattr(os, "O_BINARY", 0)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("network", nargs="?", help=HELP)
    parser.add_argument("--resume", metavar=f"FILE{EXTENSION}", help="continue a saved run")
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
    parser.add_argument("--save", metavar=f"FILE{EXTENSION}",
                        help="where to keep the run (default: a runs folder beside the network "
                             "file, or the run file given to --resume)")
    parser.add_argument("--json-log", metavar="FILE",
                        help="write one JSON line per step and per epoch to FILE")


def _overrides(args: argparse.Namespace) -> dict:
    names = TrainConfig.__dataclass_fields__
    return {k: v for k, v in vars(args).items() if k in names and v is not None}


def _start(args: argparse.Namespace) -> tuple[Run, DataSet, Path | None]:
    """The run to train, its data, and the file to keep it in (None: a new file in the runs
    folder of its network, named when it is first saved)."""
    from engine.data import load_data

    if args.resume and args.network:
        raise ConvNetError(f"Give either a network file or --resume FILE{EXTENSION}, not both.")
    if args.resume:
        changes = _overrides(args)
        run = load_run(args.resume, changes.pop("device", None))
        run.continued(**changes)
        run.config.check(run.spec.input_volume)
        if args.data is not None:
            run.data_source = data_source(args.data)
        return run, load_data(run.data_source, run.spec.input_volume), Path(args.save or args.resume)
    if not args.network:
        raise ConvNetError(f"Name a network file to train, or continue a run with --resume "
                           f"FILE{EXTENSION}.")
    network = network_file(args.network)
    spec = load_network(network)
    source = data_source(args.data)
    config = TrainConfig(**_overrides(args))
    check_trainable(spec, config)  # before a data set is loaded for nothing
    data = load_data(source, volume=spec.input_volume)
    run = Run.start(spec, data, config, source, network_file=str(network.resolve()))
    return run, data, Path(args.save) if args.save else None


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"Could not make the folder '{folder}' to keep the run in: "
                              f"{e.strerror or e}; choose another place with --save.") from None


def _open_log(path: str) -> TextIO:
    try:
        fd = os.open(path, _LOG_FLAGS, 0o666)
    except OSError as e:
        if e.errno == errno.ENXIO:
            raise ConvNetError(f"Nothing is reading the pipe '{path}'; start its reader first, "
                               "or give --json-log a file.") from None
        raise ConvNetError(f"Could not open the log '{path}': {e.strerror or e}; choose another "
                           "file with --json-log.") from None
    except ValueError:  # a NUL in the name
        raise ConvNetError(f"The log's name {path!r} holds a character no file name may hold; "
                           "choose another file with --json-log.") from None
    if _NONBLOCK:
        os.set_blocking(fd, True)  # the log's writes wait for a slow reader
    return os.fdopen(fd, "a", encoding="utf-8")


def run(args: argparse.Namespace) -> int:
    run, data, keep = _start(args)
    c = run.config
    print(f"{shown(run.spec.name)}: {shown(data.name)}, {len(data.train_x):,} training and "
          f"{len(data.val_x):,} validation images of {data.volume}; {c.optimizer}, lr {c.lr:g}, "
          f"{c.schedule} schedule, batch {c.batch_size}, {run.backend.name.upper()}")
    if run.finished:
        done = f"{run.epoch} epoch{'s' if run.epoch != 1 else ''}"
        print(f"Already trained for {done}; ask for more with --epochs.")
        return 0
    control = TrainControl()
    trainer = Trainer(run, data, control, keep_at=keep)
    log = _open_log(args.json_log) if args.json_log else None
    stopped_by: list[int] = []  # the signal that asked for the stop

    def stop(signum, _frame) -> None:
        stopped_by.append(signum)
        control.stop()
    previous = {signum: signal.signal(signum, stop) for signum in STOP_SIGNALS}
    try:
        # a place the run cannot be saved in is found before it trains
        if keep is None:
            folder = runs_folder(run.network_file)
            _make_folder(folder)
            keep = trainer.keep_at = keep_new_run(run, folder)
        else:
            _make_folder(keep.parent)
        print(f"The run is kept in {keep}")
        log_error = _train(trainer, sys.stdout, log)
    except TrainingError as e:
        print(file=sys.stdout)
        raise TrainingError(f"{e} The run was saved as it was then: continue it with "
                            f"{invocation()} train --resume {keep} and a smaller --lr.") from None
    except OSError as e:  # the progress cannot be printed (> a file on a full disk)
        raise ConvNetError(f"Could not print the progress: {e.strerror or e}; training stopped "
                           f"after step {run.step} and the run was saved in {keep}: continue "
                           f"it with {invocation()} train --resume {keep} --epochs {c.epochs} "
                           "and the output going elsewhere.") from None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if log:
            log.close()
    if log_error:
        print(file=sys.stdout)
        raise ConvNetError(f"Could not write to the log '{args.json_log}': "
                           f"{log_error.strerror or log_error}; training stopped after step "
                           f"{run.step} and the run was saved in {keep}: free some space or give "
                           "--json-log another file, and continue it with "
                           f"{invocation()} train --resume {keep} --epochs {c.epochs}.")
    if control.stopped:
        print(f"\nStopped in epoch {run.epoch + 1} after step {run.step}; saved {keep}. "
              f"Continue with: {invocation()} train --resume {keep} --epochs {c.epochs}")
        return 128 + (stopped_by[0] if stopped_by else signal.SIGINT)
    print(f"Saved {keep}")
    if data.test_x is not None and len(data.test_x):
        test_loss, test_acc = trainer.evaluate("test")
        print(f"test accuracy {test_acc:.1%} (loss {test_loss:.4f}) on the {len(data.test_x):,} "
              "images of the official test split")
    return 0


def _train(trainer: Trainer, out: TextIO, log: TextIO | None) -> OSError | None:
    """Train, with progress on `out` and each event a line of `log`. A log that cannot be
    written (a full disk) stops the training, which saves the run as Ctrl-C does, rather
    than train on without the record asked for; its error is returned."""
    tty = out.isatty()
    epochs = trainer.run.config.epochs
    log_error = None
    # closed as soon as anything here fails, so the trainer saves the run right then
    with closing(trainer.train()) as events:
        for event in events:
            if log:
                try:
                    _write_event(log, event)
                except OSError as e:
                    log_error = e
                    trainer.control.stop()
                    with suppress(OSError):  # closing tries the failed write again
                        log.close()
                    log = None
            if isinstance(event, StepEvent):
                _progress(event, epochs, out, tty)
            elif isinstance(event, EpochEvent):
                if tty:
                    out.write("\r\033[K")
                out.write(f"epoch {event.epoch}/{epochs}: train accuracy {event.train_acc:.1%} "
                          f"(loss {event.train_loss:.4f}), validation accuracy "
                          f"{event.val_acc:.1%} (loss {event.val_loss:.4f})\n")
                for problem in event.health.problems if event.health else ():
                    out.write(f"health: {problem}\n")
                out.flush()
    return log_error


def _write_event(log: TextIO, event: StepEvent | EpochEvent) -> None:
    kind = "step" if isinstance(event, StepEvent) else "epoch"
    record = {f.name: _finite_or_none(getattr(event, f.name)) for f in fields(event)
              if f.name != "health"}
    log.write(json.dumps({"event": kind, **record}) + "\n")
    log.flush()


def _finite_or_none(value):
    """JSON has no NaN or infinity."""
    if isinstance(value, tuple):
        return [_finite_or_none(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _progress(e: StepEvent, epochs: int, out: TextIO, tty: bool) -> None:
    eta = f"{int(e.eta_s // 60)}:{int(e.eta_s % 60):02d}"
    text = (f"epoch {e.epoch}/{epochs} step {e.batch}/{e.batches}  loss {e.loss:.4f}  "
            f"lr {e.lr:.3g}  {e.images_per_s:,.0f} images/s  ETA {eta}")
    if tty:
        filled = _BAR * e.batch // e.batches
        out.write(f"\r\033[K[{'#' * filled}{'.' * (_BAR - filled)}] {text}")
        out.flush()
    elif e.batch == e.batches or e.batch % max(1, e.batches // 10) == 0:
        out.write(text + "\n")
        out.flush()
