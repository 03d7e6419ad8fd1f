"""The commands for using a model: classify videos, watch a live source, list the models."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing, contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from .. import render
from ..configs import DEFAULT_MODEL
from ..errors import DanceStyleError, OutputError, UsageError
from ..geometry import WATCH_HOP
from .app import (DebugOption, DetectorSizeOption, Device, DeviceOption, JsonOption, ModelName, ModelOption, PoseName,
                  PoseOption, RandomWeightsOption, TopKOption, WeightsOption, app, show_error, takes_sigterm)

if TYPE_CHECKING:
    from ..video import EarlyStart


def _load_pipeline(model: ModelName, weights: str | None, device: str, random_weights: bool,
                   detector_size: int | None, pose: PoseName | None, quiet: bool = False):
    """The pipeline classify and watch run, with what a user should know about its weights on stderr (not
    when `quiet`: torchrun's other ranks)."""
    from ..pipeline import load_model

    if random_weights and not quiet:
        render.warning("--random-weights: every network is random, predictions are meaningless "
                       "(use it for smoke tests and speed measurements only).")
    with render.err.status("Loading models…") if not quiet else nullcontext():
        pipeline = load_model(model.value, weights=weights, device=device, random_weights=random_weights,
                              detector_size=detector_size, pose=pose.value if pose else None)
    if not quiet:
        render.err.print(f"weights: {render.visible(pipeline.source)}", style="dim", markup=False)
        for caution in pipeline.cautions:
            render.warning(caution)
    return pipeline


def _decode_early(model: ModelName, detector_size: int | None, inputs: list) -> EarlyStart | None:
    """The first input's decoding, started before the networks load so that the two overlap, the way `model`
    decodes by default (its stride, frame size, flow stacks): the pipeline takes it over only if its weights decode
    the same way. None for a live source (read once), under torchrun (each rank has its own inputs), or no input."""
    from .. import distributed
    from ..configs import default_config
    from ..recipe import FeatureRecipe
    from ..video import Decoding, EarlyStart, is_live, sample_interval

    first = next((path for _, path, error in inputs if error is None), None)
    if first is None or is_live(first) or distributed.ranks_from_env().distributed:
        return None
    config = default_config(model.value)
    recipe = FeatureRecipe.for_model(config)
    return EarlyStart(first, Decoding(sample_interval(config.stride), detector_size or recipe.frame_size,
                                      recipe.flow_settings))


def _stop(early: EarlyStart | None) -> None:
    if early is not None:
        early.close()


def _save_video_option(what: str, written: str):
    return typer.Option("--save-video", metavar="OUT.mp4", show_default=False, help=(
        f"Also write {what} as the model saw it, as an H.264 MP4: the sampled frames at their real pace, each "
        "person's skeleton as the pose backend found it, a banner with the top styles of each frame's window and a "
        f"strip of the style over time. {written}"))


def _check_save_video(path: Path | None, inputs: int = 1) -> None:
    """--save-video's path and what it is asked of, checked before any model loads (UsageError)."""
    if path is None:
        return
    from ..annotate import check_video_path

    if inputs > 1:
        raise UsageError(f"--save-video writes one video, but {inputs} inputs were given.",
                         "Classify one video at a time with --save-video, or leave it out.")
    check_video_path(path)


def _video_writer(pipeline, path: Path | None, live: bool = False):
    """The annotator --save-video asks for (None without it); a model without the pose stream draws no skeletons,
    which is said once."""
    if path is None:
        return None
    if "pose" not in pipeline.recipe.streams:
        render.warning(f"--save-video: the {pipeline.config.name} model has no pose stream, so the video shows no "
                       "skeletons (only its styles).")
    return pipeline.annotator(path, live=live)


@contextmanager
def _closing_video(video, debug: bool) -> Iterator[None]:
    """Close the annotated video (if any) when the block ends, however it ends; a failure to finish writing it is
    shown, its error kept in video.error."""
    if video is None:  # nothing to close: annotate.py (7 ms of imports) is not needed
        yield
        return
    from ..annotate import VideoWriteError

    try:
        with video:
            yield
    except VideoWriteError as e:
        show_error(e, debug)


def _video_saved(video) -> None:
    """Where the annotated video went, on stderr."""
    if video is not None and video.error is None:  # a failure was said where it happened
        render.err.print(f"video: {render.visible(str(video.path))} ({video.frames} frames)" if video.frames else
                         "--save-video: no frame was sampled, so no video was written.", style="dim", markup=False)


@app.command()
@takes_sigterm
def classify(
    paths: Annotated[list[str], typer.Argument(
        help="Video files, directories (searched recursively), glob patterns, - (standard input) or URLs.",
        show_default=False)],
    model: ModelOption = DEFAULT_MODEL,
    weights: WeightsOption = None,
    device: DeviceOption = Device.auto,
    top_k: TopKOption = 3,
    json_output: JsonOption = False,
    random_weights: RandomWeightsOption = False,
    pose: PoseOption = None,
    detector_size: DetectorSizeOption = None,
    timeline: Annotated[bool, typer.Option(
        "--timeline", help="Also show each video's style over time: its 10 s windows and the runs of one style "
                           "they make (JSON: \"windows\" and \"segments\").")] = False,
    hop: Annotated[float | None, typer.Option(
        help="Seconds between the starts of windows, more than 0 and at most 10 (rounded to the model's sampling "
             "interval); shorter hops overlap the windows for a finer timeline. Default: 10.",
        show_default=False)] = None,
    save_video: Annotated[Path | None, _save_video_option(
        "the video", "One input only. An existing file is replaced (atomically) when the video is done.")] = None,
    debug: DebugOption = False,
) -> None:
    """Classify the dance style of each video. Exit code 0: all classified; 1: some failed or ended early; 2: usage
    error; 130: Ctrl-C, 143: SIGTERM (what finished is still shown)."""
    from .. import distributed
    from ..timeline import check_hop, clock
    from ..video import find_videos

    inputs = find_videos(paths)
    if all(error is not None for _, _, error in inputs):  # nothing to classify: say so before loading any model
        for given, path, error in inputs:
            show_error(error, debug, str(path or given))
            if json_output:
                render.json_line(render.error_record(str(path or given), error))
        raise typer.Exit(1)
    early = None
    try:
        if hop is not None:
            check_hop(hop)  # a usage error before the models load
        _check_save_video(save_video, len(inputs))
        early = _decode_early(model, detector_size, inputs)  # decodes while torch is imported and the models load
        from ..pipeline import resolve_device  # imports torch
        ranks, device_name = distributed.start(resolve_device(device.value))  # under torchrun: share the inputs
        pipeline = _load_pipeline(model, weights, device_name, random_weights, detector_size, pose,
                                  quiet=not ranks.main)
        pipeline.early = early
    except UsageError as e:
        _stop(early)
        show_error(e, debug)
        raise typer.Exit(2) from None
    except DanceStyleError as e:  # weights unavailable: every input fails for the same reason
        _stop(early)
        show_error(e, debug)
        if json_output:
            for given, path, error in inputs:  # an input that could not be used says why itself
                render.json_line(render.error_record(str(path or given), error or e))
        raise typer.Exit(1) from None
    except BaseException:  # Ctrl-C while the models load: no decoding is left running behind
        _stop(early)
        raise

    predictions, failed, interrupted = [], 0, False
    video = _video_writer(pipeline, save_video) if ranks.main else None  # torchrun: rank 0 has the one input
    with (render.progress() if ranks.main else nullcontext() as progress, _closing_video(video, debug),
          closing(early) if early else nullcontext()):  # what the pipeline did not take over is stopped
        task = progress.add_task("Classifying", total=len(inputs)) if progress else None

        def within_video(item, seconds: float) -> None:  # a long video moves the line while it is classified
            progress.update(task, description=f"Classifying {escape(render.visible(str(item)))}: {clock(seconds)}")

        results = distributed.classify_in_order(
            pipeline, [path if error is None else error for _, path, error in inputs], ranks, top_k=top_k,
            timeline=timeline, hop=hop, annotate=video, on_progress=within_video if progress else None)
        try:
            for (given, path, _), result in zip(inputs, results):  # one bad input never stops the others
                shown = str(path or given)
                progress.update(task, description=f"Classified {escape(render.visible(shown))}", advance=1)
                if isinstance(result, Exception):
                    failed += 1
                    show_error(result, debug, shown)
                    if json_output:
                        render.json_line(render.error_record(shown, result))
                    continue
                predictions.append(result)
                if result.truncated:
                    failed += 1
                    render.warning(f"{shown}: the input ended early (truncated); what arrived was classified.")
                if json_output:
                    render.json_line(result.to_json())
        except KeyboardInterrupt:  # Ctrl-C: what finished is still shown
            interrupted = True
            results.close()
    distributed.stop()
    if not ranks.main:  # rank 0 reports for every process
        return
    _video_saved(video)
    failed = max(failed, int(video is not None and video.error is not None))  # its input, or the video, failed
    if predictions and not json_output:
        for prediction in predictions if timeline else []:
            render.out.print(render.timeline_view(prediction))
        render.out.print(render.predictions_table(predictions, top_k))
    if interrupted:
        render.err.print(f"Stopped: {len(predictions)} of {len(inputs)} input(s) classified.")
        raise typer.Exit(130)
    if failed:
        render.err.print(f"{failed} of {len(inputs)} input(s) failed or ended early.")
        raise typer.Exit(1)


@app.command()
@takes_sigterm
def watch(
    source: Annotated[str, typer.Argument(
        help="A live source: a camera (/dev/video0), a stream URL (rtsp://, http://...), - (standard input) or a "
             "file.", show_default=False)],
    model: ModelOption = DEFAULT_MODEL,
    weights: WeightsOption = None,
    device: DeviceOption = Device.auto,
    top_k: TopKOption = 3,
    json_output: JsonOption = False,
    random_weights: RandomWeightsOption = False,
    pose: PoseOption = None,
    detector_size: DetectorSizeOption = None,
    hop: Annotated[float, typer.Option(
        help="Seconds between reports: a 10 s window ends every hop (more than 0, at most 10; rounded to the "
             "model's sampling interval).")] = WATCH_HOP,
    save_video: Annotated[Path | None, _save_video_option(
        "what was watched", "It grows in a hidden file beside OUT.mp4 and replaces OUT.mp4 (atomically) when "
                            "watching ends, by Ctrl-C too.")] = None,
    debug: DebugOption = False,
) -> None:
    """Classify a live source as it plays: one line per 10 s window as it completes, until the source ends or
    Ctrl-C. Exit code 0: ended (or Ctrl-C after a window); 1: the source failed or ended early; 2: usage error;
    130: Ctrl-C before the first window; 143: SIGTERM."""
    from ..pipeline import SeenFrames, resolve_device
    from ..timeline import check_hop

    try:
        check_hop(hop)
        _check_save_video(save_video)
        pipeline = _load_pipeline(model, weights, resolve_device(device.value), random_weights, detector_size, pose)
    except DanceStyleError as e:
        show_error(e, debug)
        raise typer.Exit(2 if isinstance(e, UsageError) else 1) from None
    seen, windows = SeenFrames(), 0
    video = _video_writer(pipeline, save_video, live=True)
    try:
        with video or nullcontext():  # closed (the MP4 finished and put in place) however watch ends
            for window in pipeline.watch(source, top_k, hop, seen, annotate=video):
                windows += 1
                if json_output:
                    render.json_line({"path": source, **window.to_json(), "dropped": window.dropped})
                else:
                    render.window_line(window)
    except KeyboardInterrupt:
        _video_saved(video)
        render.watch_summary(windows, seen)
        raise typer.Exit(0 if windows else 130) from None
    except OutputError:  # stdout, not the source, failed: main() says so
        raise
    except DanceStyleError as e:
        _video_saved(video)
        show_error(e, debug, source)
        raise typer.Exit(1) from None
    _video_saved(video)
    render.watch_summary(windows, seen)
    if seen.truncated:
        render.warning(f"{source}: the input ended early (truncated); what arrived was classified.")
        raise typer.Exit(1)


@app.command()
@takes_sigterm
def models(json_output: JsonOption = False) -> None:
    """List the models and the pose backends: where their weights come from and whether they are cached."""
    from ..catalogue import describe_models, describe_pose_backends

    rows, backends = describe_models(), describe_pose_backends()
    if json_output:
        for row in rows + backends:
            render.json_line(row)
    else:
        render.out.print(render.models_table(rows))
        render.out.print(render.pose_backends_table(backends))
