"""The `dancestyle` command: parse, call the library, render. No logic lives here that a script would need.

app.py holds the app and what every command shares (options, error display); use.py the commands for using a
model (classify, watch, models), research.py those for datasets and training (fetch-dataset, train, evaluate,
demo). Importing them registers their commands, in the order `dancestyle --help` lists them.
"""

from __future__ import annotations

import gc
import os
import sys

from ..errors import OutputError
from . import use  # registers classify, watch, models: first in --help
from . import research  # registers fetch-dataset, train, evaluate, demo
from .app import app, show_error

__all__ = ["app", "main", "research", "use"]


def main() -> None:
    try:
        app()
    except OutputError as e:  # stdout failed (a full disk): one message, as click ends a closed pipe quietly
        show_error(e, debug="--debug" in sys.argv[1:])
        _discard_stdout()
        sys.exit(1)
    finally:
        # The collector's passes while the interpreter shuts down cost 0.3 s of every run once torch is loaded (its
        # many objects, measured on 2 cores); what is left now is freed with its modules without them.
        gc.freeze()


def _discard_stdout() -> None:
    """What stdout still buffers goes nowhere: Python's flush at exit would fail the same way, with a message."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):  # no file descriptor (a test's stdout): nothing is flushed at exit
        pass
