"""The `dancestyle` app and what its commands share: the options, the device choice, how errors are shown."""

from __future__ import annotations

import functools
import logging
import os
import signal
import sys
import traceback
from collections.abc import Callable
from enum import Enum
from typing import Annotated, ParamSpec

import typer

from .. import __version__, cores, render
from ..configs import available_models
from ..errors import DanceStyleError, UsageError
from ..pose import available_pose_backends

app = typer.Typer(
    help="Tell which dance style a video shows (ballet, break, flamenco, foxtrot, latin, quickstep, square, "
         "swing, tango, waltz).",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False, rich_markup_mode="rich",
)

ModelName = Enum("ModelName", {name: name for name in available_models()}, type=str)


PoseName = Enum("PoseName", {name: name for name in available_pose_backends()}, type=str)


class Device(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


_USER_HF_VERBOSITY = os.environ.get("HF_HUB_VERBOSITY")


def _library_warnings(debug: bool) -> bool:
    """huggingface_hub's warnings (retry lines, raw connection errors) only with --debug: without it our own error
    says what went wrong. An HF_HUB_VERBOSITY the user set wins."""
    if not _USER_HF_VERBOSITY:
        level = "warning" if debug else "error"
        os.environ["HF_HUB_VERBOSITY"] = level  # read when huggingface_hub is imported...
        logging.getLogger("huggingface_hub").setLevel(level.upper())  # ...or now, if it already is
    return debug


DebugOption = Annotated[bool, typer.Option("--debug", callback=_library_warnings,
                                           help="Show tracebacks for errors, and the libraries' warnings.")]
JsonOption = Annotated[bool, typer.Option("--json", help="JSON Lines on stdout, one object per item.")]


def show_error(error: BaseException, debug: bool, path: str | None = None) -> None:
    if debug:
        render.err.print(render.visible("".join(traceback.format_exception(error))), markup=False)
    render.error_message(error, path)


def _version(value: bool) -> None:
    if value:
        render.out.print(f"dancestyle {__version__}")
        raise typer.Exit()


def _threads(value: str | None) -> str | None:
    """--threads (or DANCESTYLE_THREADS, which typer reads for it) becomes the process's thread budget. This runs
    before any command imports torch, so OpenMP's spin count can still be set."""
    try:
        if value is None:
            cores.prepare_openmp()
        else:
            cores.use_threads(cores.parse_threads(value))
    except UsageError as e:
        raise typer.BadParameter(e.message) from None
    return value


@app.callback()
def root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                               help="Print the version and exit.")] = False,
         threads: Annotated[str | None, typer.Option(
             "--threads", envvar=cores.THREADS_ENV, callback=_threads, metavar="N", show_default=False,
             help="CPU cores to use: decoding and the networks share them. Default: the cores this process may use "
                  "(affinity, cgroup quota), the networks on fewer while other programs keep some busy. "
                  "0: each library's own default threads.")] = None) -> None:
    """dancestyle: classify dance videos; train and evaluate on Let's Dance."""


ModelOption = Annotated[ModelName, typer.Option(help="Sequence model.")]
WeightsOption = Annotated[str | None, typer.Option(
    help="Checkpoint directory or Hub repo ORG/NAME\\[@REVISION]. Default: the newest local training run of the "
         "model, else its published checkpoint (none is published yet).", show_default=False)]
DeviceOption = Annotated[Device, typer.Option(help="auto = CUDA when present.")]
TopKOption = Annotated[int, typer.Option("--top-k", min=1, max=10, help="How many styles to show per video.")]
RandomWeightsOption = Annotated[bool, typer.Option(
    "--random-weights", help="Random weights everywhere, no download: smoke tests and speed only.")]
PoseOption = Annotated[PoseName | None, typer.Option(
    help="Pose backend. Default: the one the checkpoint's poses came from (`dancestyle models` lists them).",
    show_default=False)]
DetectorSizeOption = Annotated[int | None, typer.Option(
    min=128, max=1333, help="Short side (px) of the frames the pose backend reads. Default: the checkpoint's "
    "(512).", show_default=False)]


def fail(error: DanceStyleError, debug: bool) -> None:
    """Report a command-level error and exit: 2 for usage errors, 1 otherwise."""
    show_error(error, debug)
    raise typer.Exit(2 if isinstance(error, UsageError) else 1) from None


P = ParamSpec("P")
INTERRUPTED, TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM: what a shell reports for a process they end


def takes_sigterm(command: Callable[P, None]) -> Callable[P, None]:
    """The command with SIGTERM taken as Ctrl-C: its own Ctrl-C path runs (finished results shown, what to do next
    said) and it exits 143 instead of 130. torchrun sends SIGTERM to the other processes when one dies; batch
    schedulers and `kill` send it to end a job. A Ctrl-C or SIGTERM the command does not handle itself ends it
    with one line instead of click's "Aborted!"."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        terminated = []

        def on_sigterm(signum, frame) -> None:
            terminated.append(signum)
            if sys.exc_info()[0] is None:  # not while an error is reported (a peer's death seen first): let it finish
                raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, on_sigterm)
        try:
            command(*args, **kwargs)
        except KeyboardInterrupt:
            render.err.print("Terminated (SIGTERM)." if terminated else "Interrupted.")
            raise typer.Exit(TERMINATED if terminated else INTERRUPTED) from None
        except typer.Exit as stop:  # a Ctrl-C path's 130, or watch's 0 after a window: SIGTERM's own code
            if terminated and stop.exit_code in (0, INTERRUPTED):
                raise typer.Exit(TERMINATED) from None
            raise
        finally:
            signal.signal(signal.SIGTERM, previous)
        if terminated:
            raise typer.Exit(TERMINATED)

    return run
