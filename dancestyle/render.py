"""How results look: rich tables on stdout, JSON Lines on stdout, messages and progress on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import DanceStyleError

out = Console(highlight=False, soft_wrap=True)  # results
err = Console(stderr=True, highlight=False)  # people: progress, warnings, errors


def error_record(path: str, error: BaseException) -> dict:
    """The JSON Lines object for an input that failed."""
    message = str(error) if isinstance(error, DanceStyleError) else f"{type(error).__name__}: {error}"
    return {"path": path, "error": {"type": type(error).__name__, "message": message}}


def json_line(record: dict) -> None:
    """One JSON object per line on stdout, flushed so a pipe sees it at once."""
    sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def error_message(error: BaseException, path: str | None = None) -> None:
    """A short red line (plus what to do next) on stderr; never a traceback."""
    if isinstance(error, DanceStyleError):
        text, hint = error.message, error.hint
    else:
        text, hint = f"{type(error).__name__}: {error}", "Run again with --debug to see the traceback."
    if path and path not in text:
        text = f"{path}: {text}"
    err.print(f"[bold red]error:[/] {text}" + (f" [dim]{hint}[/]" if hint else ""), markup=True)


def warning(text: str) -> None:
    err.print(f"[yellow]warning:[/] {text}")


def progress() -> Progress:
    """A progress bar on stderr that disappears when done."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


def predictions_table(predictions: Iterable, top_k: int) -> Table:
    table = Table(title="Dance style", title_justify="left")
    table.add_column("video", overflow="fold")
    table.add_column("style", style="bold green")
    table.add_column("score", justify="right")
    if top_k > 1:
        table.add_column("next best")
    table.add_column("frames", justify="right")
    table.add_column("people", justify="right")
    table.add_column("seconds", justify="right")
    table.add_column("note", style="yellow")
    for prediction in predictions:
        row = [prediction.path, prediction.label, f"{prediction.score:.2f}"]
        if top_k > 1:
            row.append(", ".join(f"{entry['label']} {entry['score']:.2f}" for entry in prediction.top_k[1:]))
        notes = []
        if prediction.people_max == 0:
            notes.append("no person found: pose stream saw zeros")
        if prediction.windows > 1:
            notes.append(f"mean of {prediction.windows} windows of 10 s")
        if prediction.random_weights:
            notes.append("random weights")
        row += [str(prediction.frames), str(prediction.people_max), f"{prediction.seconds:.1f}", "; ".join(notes)]
        table.add_row(*row)
    return table


def models_table(rows: list[dict]) -> Table:
    table = Table(title="Models", title_justify="left")
    for column in ("name", "streams", "stride", "frames / 10 s", "parameters", "weights", "cached", "about"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(row["name"], ",".join(row["streams"]), str(row["stride"]), str(row["frames_per_window"]),
                      f"{row['parameters']:,}", row["weights"], "yes" if row["cached"] else "no", row["summary"])
    return table
