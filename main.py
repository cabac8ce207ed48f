"""ConvNet Designer: with no arguments opens the window; subcommands run headless."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from contextlib import suppress

from engine.errors import ConvNetError

# Each module has configure(parser) and run(args) -> exit status.
COMMANDS = {
    "summary": "engine.commands.summary",
    "train": "engine.commands.train",
    "lr-find": "engine.commands.lr_find",
    "bench": "engine.commands.bench",
    "data": "engine.commands.data",
    "export": "engine.commands.export",
    "import-weights": "engine.commands.import_weights",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="convnet-designer",
        description="Design, size and train convolutional networks. "
                    "Run without a command (or with a network file) to open the window.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip().splitlines()[0]
        module.configure(sub.add_parser(name, help=doc, description=doc))
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] not in COMMANDS and (argv[0].endswith(".json") or os.path.isfile(argv[0])):
        from designer.app import run_app
        return run_app(argv[:1])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from designer.app import run_app
        return run_app()
    module = importlib.import_module(COMMANDS[args.command])
    try:
        return module.run(args)
    except ConvNetError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: this machine ran out of memory; try a smaller batch size, network or "
              "data set.", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader has gone (… | head): nothing more to say, not even
        _drop_output()  # at exit's flush
        return 1
    except OSError as e:  # the output cannot be written (> a file on a full disk)
        _drop_output()
        print(f"error: {e.strerror or e}{f' ({e.filename})' if e.filename else ''}.",
              file=sys.stderr)
        return 1


def _drop_output() -> None:
    """Send what is left of the output nowhere, so that exit's flush cannot fail again."""
    with suppress(OSError, ValueError):  # an output with no file behind it (a test's)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
