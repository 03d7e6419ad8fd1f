"""The `dancestyle` command: parse, call the library, render. No logic lives here that a script would need."""

from __future__ import annotations

import traceback
from enum import Enum
from typing import Annotated

import typer

from . import __version__, render
from .errors import DanceStyleError, UsageError
from .models import DEFAULT_MODEL, available_models

app = typer.Typer(
    help="Tell which dance style a video shows (ballet, break, flamenco, foxtrot, latin, quickstep, square, "
         "swing, tango, waltz).",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="rich",
)

ModelName = Enum("ModelName", {name: name for name in available_models()}, type=str)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


DebugOption = Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON Lines on stdout, one object per item.")]


def _show(error: BaseException, debug: bool, path: str | None = None) -> None:
    if debug:
        render.err.print("".join(traceback.format_exception(error)), markup=False)
    render.error_message(error, path)


def _version(value: bool) -> None:
    if value:
        render.out.print(f"dancestyle {__version__}")
        raise typer.Exit()


@app.callback()
def root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False) -> None:
    """dancestyle: classify dance videos; train and evaluate on Let's Dance."""


@app.command()
def classify(
    paths: Annotated[list[str], typer.Argument(help="Video files, directories (searched recursively) or glob patterns.",
                                               show_default=False)],
    model: Annotated[ModelName, typer.Option(help="Sequence model.")] = DEFAULT_MODEL,
    weights: Annotated[str | None, typer.Option(
        help="Checkpoint directory or Hub repo ORG/NAME[@REVISION]. Default: the newest local training run of "
             "the model, else its Hub repo.", show_default=False)] = None,
    device: Annotated[Device, typer.Option(help="auto = CUDA when present.")] = Device.auto,
    top_k: Annotated[int, typer.Option("--top-k", min=1, max=10, help="How many styles to show per video.")] = 3,
    json_output: JsonOption = False,
    random_weights: Annotated[bool, typer.Option(
        "--random-weights", help="Random weights everywhere, no download: smoke tests and speed only.")] = False,
    detector_size: Annotated[int, typer.Option(
        min=128, max=1333, help="Short side (px) of frames given to the pose detector.")] = 512,
    debug: DebugOption = False,
) -> None:
    """Classify the dance style of each video. Exit code 0: all classified; 1: some failed; 2: usage error."""
    from .pipeline import load_model
    from .video import find_videos

    inputs = find_videos(paths)
    try:
        if random_weights:
            render.warning("--random-weights: every network is random, predictions are meaningless "
                           "(use it for smoke tests and speed measurements only).")
        with render.err.status("Loading models…"):
            pipeline = load_model(model.value, weights=weights, device=device.value, random_weights=random_weights,
                                  detector_size=detector_size)
    except UsageError as e:
        _show(e, debug)
        raise typer.Exit(2) from None
    except DanceStyleError as e:  # weights unavailable: every input fails for the same reason
        _show(e, debug)
        if json_output:
            for given, path, _ in inputs:
                render.json_line(render.error_record(str(path or given), e))
        raise typer.Exit(1) from None

    predictions, failed = [], 0
    with render.progress() as progress:
        task = progress.add_task("Classifying", total=len(inputs))
        for given, path, input_error in inputs:
            shown = str(path or given)
            progress.update(task, description=f"Classifying {shown}")
            try:
                if input_error is not None:
                    raise input_error
                prediction = pipeline.classify(path, top_k=top_k)
            except Exception as e:  # one bad input never stops the others
                failed += 1
                _show(e, debug, shown)
                if json_output:
                    render.json_line(render.error_record(shown, e))
            else:
                predictions.append(prediction)
                if json_output:
                    render.json_line(prediction.to_json())
            progress.advance(task)
    if predictions and not json_output:
        render.out.print(render.predictions_table(predictions, top_k))
    if failed:
        render.err.print(f"{failed} of {len(inputs)} input(s) failed.")
        raise typer.Exit(1)


@app.command()
def models(json_output: JsonOption = False) -> None:
    """List the models: streams, stride, size, where their weights come from and whether they are cached."""
    from .pipeline import describe_models

    rows = describe_models()
    if json_output:
        for row in rows:
            render.json_line(row)
    else:
        render.out.print(render.models_table(rows))


def main() -> None:
    app()
