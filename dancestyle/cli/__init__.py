"""The `dancestyle` command: parse, call the library, render. No logic lives here that a script would need.

app.py holds the app and what every command shares (options, error display); use.py the commands for using a
model (classify, watch, models), research.py those for datasets and training (fetch-dataset, train, evaluate,
demo). Importing them registers their commands, in the order `dancestyle --help` lists them.
"""

from __future__ import annotations

from . import use  # registers classify, watch, models: first in --help
from . import research  # registers fetch-dataset, train, evaluate, demo
from .app import app

__all__ = ["app", "main", "research", "use"]


def main() -> None:
    app()
