"""The headless commands of `main.py`, one module each."""

from __future__ import annotations

import sys
from pathlib import Path


def invocation() -> str:
    """How the user started this program, for the commands its sentences suggest: `python
    main.py` from a checkout, `convnet-designer` where it is installed."""
    return "python main.py" if Path(sys.argv[0]).name == "main.py" else "convnet-designer"
