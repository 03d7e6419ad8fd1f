"""How results look: rich tables on stdout, JSON Lines on stdout, messages and progress on stderr."""

from __future__ import annotations

import errno
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from rich.color import Color
from rich.console import Console, Group
from rich.markup import escape
from rich.padding import Padding
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.style import Style
from rich import box
from rich.table import Table
from rich.text import Text

from .configs import CLASSES
from .errors import DanceStyleError, OutputError
from .evaluate import Metrics
from .timeline import clock, strip_cells



class _Stdout:
    """sys.stdout as it is now (tests swap it) whose failed writes say they were writes of results to standard
    output, which an OSError alone cannot tell (a checkpoint's write fails with the same errno)."""

    def write(self, text: str) -> int:
        return _writing(sys.stdout.write, text)

    def flush(self) -> None:
        _writing(sys.stdout.flush)

    def __getattr__(self, name: str):
        return getattr(sys.stdout, name)


def _writing(action, *args):
    try:
        return action(*args)
    except OSError as e:
        if e.errno == errno.EPIPE:  # the reader left (`| head`): click ends quietly, as other tools do
            raise
        raise OutputError.writing_stdout(e) from e


stdout = _Stdout()
out = Console(file=stdout, highlight=False, soft_wrap=True)  # results


class _Messages(Console):
    """The stderr console: on a terminal, lines wrap at its width; elsewhere (a log file, a pipe) a message stays
    on one line, not cut at rich's default 80 columns, so grep and scripts find it whole. Decided at each print:
    the stream can change after import (tests swap sys.stderr)."""

    def print(self, *objects, soft_wrap: bool | None = None, **options) -> None:
        super().print(*objects, soft_wrap=not self.is_terminal if soft_wrap is None else soft_wrap, **options)


err = _Messages(stderr=True, highlight=False)  # people: progress, warnings, errors

# C0 and C1 control characters but tab and newline (ESC starts the sequences that retitle, clear or move the
# cursor), and Unicode's bidirectional embeddings, overrides and isolates (they make text read other than it is)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def visible(text: str) -> str:
    """`text` with its control characters written out as Python writes them (ESC as \\x1b): a name from a checkpoint
    or a folder never acts on the terminal. Markup is not escaped: print it as Text, or through rich's escape."""
    return _CONTROL.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), text)


def plain(text: str, style: str = "") -> Text:
    """Untrusted text (a class, path or repo name) for a table cell: never read as markup, control characters
    shown."""
    return Text(visible(text), style=style)


def error_record(path: str, error: BaseException) -> dict:
    """The JSON Lines object for an input that failed."""
    message = str(error) if isinstance(error, DanceStyleError) else f"{type(error).__name__}: {error}"
    return {"path": path, "error": {"type": type(error).__name__, "message": message}}


def json_line(record: dict) -> None:
    """One JSON object per line on stdout, flushed so a pipe sees it at once."""
    stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
    stdout.flush()


def error_message(error: BaseException, path: str | None = None) -> None:
    """A short red line (plus what to do next) on stderr; never a traceback."""
    if isinstance(error, DanceStyleError):
        text, hint = error.message, error.hint
    else:
        text, hint = f"{type(error).__name__}: {error}", "Run again with --debug to see the traceback."
    if path and path not in text:
        text = f"{path}: {text}"
    err.print(f"[bold red]error:[/] {escape(visible(text))}" + (f" [dim]{escape(visible(hint))}[/]" if hint else ""),
              markup=True)


def warning(text: str) -> None:
    err.print(f"[yellow]warning:[/] {escape(visible(text))}")


def progress() -> Progress:
    """A progress bar on stderr that disappears when done."""
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=err, transient=True)


@contextmanager
def progress_reporter(description: str) -> Iterator[Callable[[str, int, int | None], None]]:
    """A progress bar on stderr, and the function that moves it: report(what, done, total)."""
    with progress() as bar:
        task = bar.add_task(description, total=None)

        def report(what: str, done: int, total: int | None) -> None:
            bar.update(task, description=what, completed=done, total=total)

        yield report


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
        row = [plain(prediction.path), plain(prediction.label), f"{prediction.score:.2f}"]  # "[id]" in names stays
        if top_k > 1:
            row.append(plain(", ".join(f"{entry['label']} {entry['score']:.2f}" for entry in prediction.top_k[1:])))
        notes = []
        if prediction.people_max == 0:
            notes.append("no person found: pose stream saw zeros")
        if prediction.window_count > 1:
            notes.append(f"mean of {prediction.window_count} windows of 10 s")
        if prediction.random_weights:
            notes.append("random weights")
        row += [str(prediction.frames), str(prediction.people_max), f"{prediction.seconds:.1f}", "; ".join(notes)]
        table.add_row(*row)
    return table


# ColorBrewer Paired (10): one colour per Let's Dance style, the same in every timeline
_STYLE_COLOURS = ((31, 120, 180), (227, 26, 28), (255, 127, 0), (51, 160, 44), (106, 61, 154),
                  (166, 206, 227), (251, 154, 153), (253, 191, 111), (178, 223, 138), (202, 178, 214))


def style_rgb(label: str) -> tuple[int, int, int]:
    """A style's colour (RGB), the same in the terminal's timelines and in --save-video's banner."""
    index = CLASSES.index(label) if label in CLASSES else sum(map(ord, label))
    return _STYLE_COLOURS[index % len(_STYLE_COLOURS)]


def _style_colour(label: str) -> Color:
    return Color.from_rgb(*style_rgb(label))


def timeline_view(prediction, width: int = 60) -> Group:
    """A video's timeline: a coloured strip (one cell per 1/width of the video) with time marks and a legend,
    then its segments as rows (start–end, style, mean score)."""
    segment_list = prediction.segments or []
    strip = Text()
    for label in strip_cells(segment_list, width):
        strip.append("█", Style(color=_style_colour(label)))
    start, end = (segment_list[0].start, segment_list[-1].end) if segment_list else (0.0, 0.0)
    marks = [clock(start), clock((start + end) / 2), clock(end)]
    gap = max(1, width - sum(map(len, marks)))
    time_marks = Text(marks[0] + " " * (gap // 2) + marks[1] + " " * (gap - gap // 2) + marks[2], style="dim")
    legend = Text("  ").join(Text.assemble(("█ ", Style(color=_style_colour(label))), visible(label))
                             for label in dict.fromkeys(segment.label for segment in segment_list))
    rows = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    for segment in segment_list:
        rows.add_row(f"{clock(segment.start)}–{clock(segment.end)}", plain(segment.label, style="bold"),
                     f"{segment.score:.2f}")
    title = Text.assemble((visible(prediction.path), "bold"), f"  {len(prediction.windows or [])} windows, "
                          f"{len(segment_list)} segment{'s' if len(segment_list) != 1 else ''}")
    return Group(title, strip, time_marks, legend, rows, Text())


def window_line(window) -> None:
    """One `watch` report on stdout, flushed: times, style, score, the next best, and any dropped samples."""
    line = Text.assemble(f"{clock(window.start):>7}–{clock(window.end):<7} ",
                         (f"{visible(window.label):<10}", Style(color=_style_colour(window.label), bold=True)),
                         f" {window.score:.2f}  ",
                         (visible(", ".join(f"{e['label']} {e['score']:.2f}" for e in window.top_k[1:])), "dim"))
    if window.dropped:
        line.append(f"  {window.dropped} sample(s) dropped", style="yellow")
    out.print(line)
    out.file.flush()


def watch_summary(windows: int, seen) -> None:
    """How a `watch` went, on stderr; dropped samples said with what to do about them."""
    err.print(f"{windows} window(s) from {seen.frames} sampled frame(s).", style="dim")
    if seen.dropped:
        warning(f"{seen.dropped} of {seen.frames} sampled frames were dropped: the networks could not keep up with "
                "real time (try a longer --hop, --pose rtmpose-t, a smaller --detector-size, or --device cuda).")


def _facts_and_notes(title: str, columns: tuple[str, ...], rows: list[tuple], notes: list[str]) -> Group:
    """A table of short facts (no cell ever breaks mid-word, so it fits 80 columns), then each row's longer text as
    a line of its own below it, wrapped between words at any width."""
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        table.add_column(column, no_wrap=True)
    for row in rows:
        table.add_row(*row)
    return Group(table, *(Text(note, style="dim") for note in notes), Text(""))


def models_table(rows: list[dict]) -> Group:
    facts = [(row["name"], ",".join(row["streams"]), str(row["stride"]), str(row["frames_per_window"]),
              f"{row['parameters']:,}", plain(row["weights"]), "yes" if row["cached"] else "no") for row in rows]
    return _facts_and_notes("Models (frames: sampled per 10 s window)",
                            ("name", "streams", "stride", "frames", "parameters", "weights", "cached"), facts,
                            [f"{row['name']}: {row['summary']}" for row in rows])


def pose_backends_table(rows: list[dict]) -> Group:
    facts = [(f"{row['name']} (default)" if row["default"] else row["name"], row["license"], row["coco_ap"],
              "yes" if row["cached"] else "no") for row in rows]
    return _facts_and_notes("Pose backends (--pose)", ("name", "licence", "COCO keypoint AP", "cached"), facts,
                            [f"{row['name']}: {row['summary']}; weights: {visible(row['weights'])}" for row in rows])


def metrics_table(metrics: Metrics) -> Table:
    """Per-class precision, recall, F1 and support, then the macro averages and the accuracy."""
    evaluated = set(metrics.evaluated)
    left_out = [style for style in metrics.classes if style not in evaluated]
    table = Table(title="Scores", title_justify="left", caption_justify="left",
                  caption="dim: not in this split and never predicted, so left out of the macro averages"
                  if left_out else None)
    table.add_column("style")
    for column in ("precision", "recall", "F1", "support"):
        table.add_column(column, justify="right")
    for index, style in enumerate(metrics.classes):
        scores = metrics.per_class[style]
        table.add_row(plain(style), f"{scores['precision']:.3f}", f"{scores['recall']:.3f}", f"{scores['f1']:.3f}",
                      str(scores["support"]), style=None if style in evaluated else "dim",
                      end_section=index == len(metrics.classes) - 1)
    clips = str(sum(scores["support"] for scores in metrics.per_class.values()))
    table.add_row("macro", f"{metrics.macro('precision'):.3f}", f"{metrics.macro('recall'):.3f}",
                  f"{metrics.macro_f1:.3f}", clips, style="bold")
    # sklearn's layout: accuracy under F1 (for one label per clip it equals micro precision, recall and F1)
    table.add_row("accuracy", "", "", f"{metrics.accuracy:.3f}", clips, style="bold")
    return table


_RIGHT = ((229, 245, 224), (0, 109, 44))  # ColorBrewer Greens, pale to dark: the diagonal
_WRONG = ((254, 224, 210), (165, 15, 21))  # ColorBrewer Reds: everything off the diagonal


def _luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance: 0 for black, 1 for white."""
    red, green, blue = ((c / 255) / 12.92 if c <= 10 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb)
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


def _shade(share: float, scale: tuple[tuple[int, int, int], tuple[int, int, int]]) -> Style:
    """Background darker in proportion to `share`; black or white text, whichever contrasts more with it."""
    background = tuple(round(low + (high - low) * share) for low, high in zip(*scale))
    # above 0.179 black text contrasts more than white; with these scales the contrast never drops below 4.5:1
    text = (0, 0, 0) if _luminance(background) > 0.179 else (255, 255, 255)
    # both colours set explicitly so the cell reads the same on dark and light terminal themes
    return Style(color=Color.from_rgb(*text), bgcolor=Color.from_rgb(*background))


def _short_names(classes: list[str], length: int = 3) -> list[str]:
    """The first `length` letters of each class, longer where two would read the same."""
    while len({name[:length] for name in classes}) < len(classes) and length < max(map(len, classes)):
        length += 1
    return [name[:length] for name in classes]


def confusion_heatmap(metrics: Metrics) -> Table:
    """The confusion matrix, each cell shaded by its share of the true class's clips (green right, red wrong)."""
    # no table padding: each cell pads itself, so a shade fills its cell edge to edge
    # three letters a class and short headers: ten classes fit 80 columns (at five letters, "tango" and "total"
    # both shrank to "t…")
    table = Table(title="Confusion", title_justify="left", caption_justify="left", padding=0,
                  caption="rows: true style, columns: predicted; shade: share of the row (green right, red wrong)")
    # Text, not str, everywhere: a class name is never read as markup
    table.add_column(Padding(Text("true\\pred"), (0, 1)), style="bold", no_wrap=True)
    for short in _short_names([visible(style) for style in metrics.classes]):
        table.add_column(Padding(Text(short), (0, 1)), justify="right")
    table.add_column(Padding(Text("all"), (0, 1)), justify="right", style="dim", no_wrap=True)
    for i, (style, row) in enumerate(zip(metrics.classes, metrics.confusion)):
        total = sum(row)
        cells = [Padding(Text(str(count)), (0, 1), style=_shade(count / total, _RIGHT if i == j else _WRONG))
                 if count else "" for j, count in enumerate(row)]
        table.add_row(Padding(plain(style), (0, 1)), *cells, Padding(Text(str(total)), (0, 1)))
    return table


def confused_pairs_table(metrics: Metrics, k: int = 5) -> Table:
    """The k most frequent mistakes: which true style was taken for which, how often, and its share."""
    pairs = metrics.most_confused(k)
    table = Table(title="Most confused", title_justify="left", caption_justify="left",
                  caption=None if pairs else "no mistakes")
    table.add_column("true")
    table.add_column("predicted as")
    table.add_column("clips", justify="right")
    table.add_column("share of true", justify="right")
    for true_style, predicted_style, count in pairs:
        share = count / metrics.per_class[true_style]["support"]
        table.add_row(plain(true_style), plain(predicted_style), str(count), f"{share:.0%}")
    return table


def banner(title: str, text: str) -> None:
    from rich.panel import Panel

    out.print(Panel(text, title=title, title_align="left", border_style="yellow"), soft_wrap=False)


def step(number: int, title: str) -> None:
    out.print(f"\n[bold]{number}. {title}[/]")


def dataset_table(summary: dict, synthetic: bool = False) -> Table:
    table = Table(title="Dataset" + (" (SYNTHETIC)" if synthetic else ""), title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    classes = summary["classes"]
    table.add_row("root", plain(str(summary["root"])))
    named = f"{len(classes)}: {', '.join(classes)}" if isinstance(classes, list) else str(classes)
    table.add_row("classes", plain(named))  # folder names: never markup
    table.add_row("clips / frames", f"{summary['clips']:,} / {summary['frames']:,}")
    table.add_row("missing frames / empty pose frames", f"{summary['missing_frames']:,} / "
                                                         f"{summary['empty_pose_frames']:,}")
    splits = summary["splits"]
    table.add_row("split (clips)", f"train {splits['train']}, val {splits['val']}, test {splits['test']}")
    return table


def epoch_line(record: dict, epochs: int) -> None:
    """One line per epoch on stderr: live progress that stays in the scroll-back."""
    err.print(f"epoch {record['epoch']:>3}/{epochs}  loss {record['train_loss']:.3f}  "
              f"acc {record['train_accuracy']:.3f}  val loss {record['val_loss']:.3f}  "
              f"val acc {record['val_accuracy']:.3f}  ({record['seconds']:.1f} s)")


def training_table(summary: dict) -> Table:
    table = Table(title="Training" + (" (SYNTHETIC data)" if summary.get("synthetic") else ""),
                  title_justify="left", show_header=False)
    table.add_column(style="bold")
    table.add_column()
    table.add_row("checkpoint", plain(summary["out"]))
    table.add_row("model", summary["model"])
    table.add_row("clips", f"train {summary['clips']['train']}, val {summary['clips']['val']}")
    table.add_row("epochs", f"{summary['epochs_run']} (best: {summary['best_epoch']})")
    table.add_row("best val accuracy", f"{summary['best_val_accuracy']:.3f}")
    if summary.get("calibration"):  # late fusion: each stream's temperature, fit on the validation split
        calibration = summary["calibration"]
        temperatures = ", ".join(f"{stream} {t:g}" for stream, t in calibration["temperatures"].items())
        table.add_row("stream temperatures", f"{temperatures} (val loss {calibration['val_loss_before']:.3f} → "
                                             f"{calibration['val_loss_after']:.3f}, accuracy "
                                             f"{calibration['val_accuracy_before']:.3f} → "
                                             f"{calibration['val_accuracy_after']:.3f})")
    if summary.get("pushed_to"):
        table.add_row("pushed to", plain(summary["pushed_to"]))
    return table


def show_evaluation(result, split: str) -> None:
    """Scores, per-class table, confusion heat-map and most confused pairs."""
    metrics = result.metrics
    out.print(f"[bold]{split}[/]: {len(result.predictions)} clips of {escape(visible(result.dataset))}  "
              f"accuracy [bold]{metrics.accuracy:.3f}[/]  macro-F1 [bold]{metrics.macro_f1:.3f}[/]  "
              f"(weights: {escape(visible(result.checkpoint))})")
    out.print(metrics_table(metrics))
    out.print(confusion_heatmap(metrics))
    out.print(confused_pairs_table(metrics))
