"""The commands for research: fetch a dataset (or make the synthetic one), train, evaluate, and the offline demo."""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import replace
from enum import Enum
from typing import Annotated

import typer

from .. import render
from ..configs import (DEFAULT_MODEL, DEFAULT_RECIPE, EPOCHS, PATIENCE, RECIPES, STREAM_NAMES, TrainOptions,
                       default_config, parse_settings)
from ..errors import DanceStyleError, UsageError
from ..flow import DEFAULT_FLOW, FlowSettings
from ..geometry import DEFAULT_DETECTOR_SIZE
from ..pose import DEFAULT_POSE
from .app import DebugOption, Device, JsonOption, ModelName, PoseName, app, fail, show_error, takes_sigterm


class SplitRule(str, Enum):  # splits.SPLIT_RULES' names; here, so the CLI starts without the data modules
    ours = "ours"
    authors = "authors"


class ScoringWindows(str, Enum):  # evaluate.WINDOWS' names; here, so the CLI starts without the model modules
    all = "all"
    fixed = "fixed"


def _paper_patience() -> str:
    """The paper recipe's patience per model, for --patience's help: "lstm 40, attention 60, tcn 20, others 20"."""
    paper = RECIPES["paper"]
    return ", ".join([*(f"{model} {value}" for model, value in paper.model_patience.items()),
                      f"others {paper.patience}"])


@app.command("fetch-dataset")
@takes_sigterm
def fetch_dataset(
    source: Annotated[list[str] | None, typer.Option(
        help="A .zip archive (URL or path) or an extracted folder; repeatable. Default: the Let's Dance archives.",
        show_default=False)] = None,
    dest: Annotated[str | None, typer.Option(
        help="Destination folder. Default: under DANCESTYLE_HOME (archives) or the folder itself (a folder "
             "--source). For a folder --source, DEST gets its split and refers to the folder: nothing is copied.",
        show_default=False)] = None,
    classes: Annotated[int, typer.Option(help="10 (the paper's) or 16 classes.")] = 10,
    synthetic: Annotated[bool, typer.Option("--synthetic", help="Generate the procedural corpus instead "
                                            "(offline; for demos and tests).")] = False,
    clips_per_class: Annotated[int, typer.Option(min=3, help="With --synthetic: clips per style (the default "
                                                 "gives a test split of 213 clips).")] = 200,
    seed: Annotated[int, typer.Option(help="With --synthetic: the corpus seed.")] = 0,
    pose_noise: Annotated[str, typer.Option(help="With --synthetic: the skeleton files' detector noise, "
                                            "realistic or clean (posenoise.py).")] = "realistic",
    split: Annotated[SplitRule | None, typer.Option(
        help="How to split by video: ours (stratified by class, 80/10/10, seeded) or authors (the paper authors' "
             "split, as their dataset.py makes it: the sorted video ids through scikit-learn's train_test_split, "
             "random_state=1; for comparing with their numbers). The folder keeps it for train and evaluate. "
             "Default: the split the dataset already has, else ours.", show_default=False)] = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Download, verify and extract a dataset (or generate the synthetic one), index it and write its split."""
    from pathlib import Path

    from .. import data, fetch

    try:
        data.letsdance_classes(classes)  # before any download or generation
        with render.progress_reporter("Fetching") as report:
            if synthetic:
                from ..synthetic import generate_corpus

                root = Path(dest).expanduser() if dest else data.default_root("synthetic")
                generate_corpus(root, clips_per_class=clips_per_class, seed=seed, pose_noise=pose_noise,
                                progress=lambda done, total: report("Generating synthetic clips", done, total))
                summary = fetch.fetch_dataset([str(root)], root, classes, on_caution=render.warning,
                                              split=split and split.value)
            else:  # Let's Dance's terms, and what the split rule cannot tell, come back through on_caution
                summary = fetch.fetch_dataset(source, Path(dest) if dest else None, classes, report,
                                              on_caution=render.warning, split=split and split.value)
    except DanceStyleError as e:
        fail(e, debug)
    except KeyboardInterrupt:
        render.warning("Interrupted. Run the same command again to continue: finished downloads, archives and "
                       "clips are kept.")
        raise typer.Exit(130) from None
    if json_output:
        render.json_line(summary)
    else:
        render.out.print(render.dataset_table(summary, synthetic))


@app.command()
@takes_sigterm
def train(
    model: Annotated[ModelName, typer.Option(help="Sequence model.")] = DEFAULT_MODEL,
    data: Annotated[str | None, typer.Option(help="Dataset folder (Let's Dance layout or <style>/<video>). "
                                             "Default: the fetched Let's Dance (with --resume, the run's own).",
                                        show_default=False)] = None,
    out: Annotated[str | None, typer.Option(help="Output (checkpoint) folder. Default: DANCESTYLE_HOME/runs/"
                                            "<model>-<time>.", show_default=False)] = None,
    classes: Annotated[int, typer.Option(help="Let's Dance: 10 (the paper's) or 16 classes. A <style>/<video> "
                                         "dataset uses every style folder.")] = 10,
    epochs: Annotated[int | None, typer.Option(min=1, help=f"Most epochs; early stopping may end sooner. "
                                               f"Default: {EPOCHS} (--recipe paper: {RECIPES['paper'].epochs}), "
                                               "or with --resume the run's own.",
                                               show_default=False)] = None,
    patience: Annotated[int | None, typer.Option(min=1, help=f"Stop after this many epochs without a better "
                                                 f"epoch (validation accuracy; with --recipe paper, loss). Default: "
                                                 f"{PATIENCE} (paper: {_paper_patience()}), or with --resume the "
                                                 "run's own.",
                                                 show_default=False)] = None,
    streams: Annotated[str | None, typer.Option(help="Feature streams: any of rgb, pose, flow, comma-separated "
                                                     "(rgb,pose,flow: the three-stream model). Default: the "
                                                     "model's own (rgb,pose; r3d: pose).",
                                                show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed: the same seed gives the same weights on CPU.")] = 0,
    device: Annotated[Device, typer.Option(help="auto = CUDA when present.")] = Device.auto,
    pose_source: Annotated[str, typer.Option(help="dataset (the skeleton files) or estimator "
                                             "(the --pose backend).")] = "dataset",
    pose: Annotated[PoseName, typer.Option(help="Pose backend for --pose-source estimator and <style>/<video> "
                                           "datasets.")] = DEFAULT_POSE,
    detector_size: Annotated[int, typer.Option(min=128, max=1333, help="Short side (px) of the decoded frames "
                                               "both streams read; classify uses the same.")] = DEFAULT_DETECTOR_SIZE,
    random_weights: Annotated[bool, typer.Option("--random-weights", help="Random RGB backbone (offline runs; "
                                                 "the checkpoint records it).")] = False,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted run (--out, or the newest "
                                         "unfinished run of the model).")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace the run already in --out (train "
                                            "refuses to otherwise).")] = False,
    recipe: Annotated[str, typer.Option(help="ours (fine-tuned per-person pose encoder, most accurate epoch) or "
                                        "paper (the authors' code: their person-slot pose encoder, frozen; lowest "
                                        "validation loss, lr x0.1 on plateaus, run.sh's patience per model, their "
                                        "tcn; stride 5 for every model, the same frames every epoch and in "
                                        "validation, no flips, no gradient clipping, 500 epochs; models.md lists "
                                        "each choice).")
                      ] = DEFAULT_RECIPE,
    shuffle_frames: Annotated[bool, typer.Option("--shuffle-frames", help="Control experiment: shuffle the "
                                                 "frames of every clip in time (shows how much motion is used).")
                              ] = False,
    augment: Annotated[str, typer.Option(help="Augmentations, comma-separated: mirror (half of the windows "
                                              "mirrored instead of seen from behind, the default flip), jitter, "
                                              "rotate (pose), shift (flow). Off by default: models.md has what each "
                                              "did.")] = "",
    settings: Annotated[list[str] | None, typer.Option(
        "--set", metavar="KEY=VALUE", help="A model setting over its defaults and the recipe's, e.g. "
        "--set fusion=early or --set hidden=64 (repeatable; config.json records them all).",
        show_default=False)] = None,
    flow_set: Annotated[list[str] | None, typer.Option(
        "--flow-set", metavar="KEY=VALUE", help="A flow setting over the defaults (flow.py), for the flow stream, "
        "e.g. --flow-set pairs=1 (one frame pair per sample) or --flow-set size=128 (repeatable; config.json "
        "records them, and evaluate and classify compute the same flow).", show_default=False)] = None,
    push_to_hub: Annotated[str | None, typer.Option(help="Upload the checkpoint to this Hub repo (ORG/NAME) "
                                                    "with a generated model card.", show_default=False)] = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Train a classifier on cached features; writes a checkpoint directory usable by classify --weights."""
    from pathlib import Path

    from ..data import default_root
    from ..distributed import ranks_from_env
    from ..pipeline import resolve_device
    from ..train import TrainingInterrupted, train as run_training

    # with --resume, no --data means the run's own dataset
    data_path = Path(data).expanduser() if data else None if resume else default_root("letsdance")
    options = TrainOptions(model=model.value, data=data_path,
                           out=Path(out).expanduser() if out else None, epochs=epochs, patience=patience,
                           streams=default_config(model.value).streams if streams is None else _streams(streams),
                           classes=classes, seed=seed, random_weights=random_weights,
                           pose_source=pose_source, pose=pose.value,
                           detector_size=detector_size, recipe=recipe, resume=resume, overwrite=overwrite,
                           shuffle_frames=shuffle_frames,
                           augment=[name.strip() for name in augment.split(",") if name.strip()])
    try:
        if settings and resume:
            raise UsageError("--set cannot change a resumed run: it continues with the settings its "
                             "config.json records.", "Drop --set, or start a new run without --resume.")
        options.overrides = parse_settings(settings or [], default_config(model.value))
        options.flow = _flow_settings(flow_set or [], options.streams, resume)
        if push_to_hub:  # a bad repo id must fail now, not after hours of training
            from huggingface_hub.utils import validate_repo_id

            try:
                validate_repo_id(push_to_hub)
            except ValueError as e:
                raise UsageError(f"--push-to-hub {push_to_hub}: not a Hub repo id ({e}).",
                                 "Use ORG/NAME, e.g. --push-to-hub your-name/letsdance-lstm.") from None
            if "/" not in push_to_hub:
                raise UsageError(f"--push-to-hub {push_to_hub}: name the owner too.", "Use ORG/NAME.")
        options.device = resolve_device(device.value)
        summary = _train_with_progress(run_training, options)
        if push_to_hub:
            from ..checkpoints import push_checkpoint

            summary["pushed_to"] = push_checkpoint(summary["out"], push_to_hub)
    except TrainingInterrupted as e:
        show_error(e, debug)
        raise typer.Exit(130) from None
    except DanceStyleError as e:
        fail(e, debug)
    if not ranks_from_env().main:
        return
    if json_output:
        render.json_line(summary)
    else:
        render.out.print(render.training_table(summary))


def _streams(value: str) -> list[str]:
    """The named streams, in the order of the per-frame concatenation (rgb, pose, flow)."""
    streams = [s.strip() for s in value.split(",") if s.strip()]
    if not streams or any(s not in STREAM_NAMES for s in streams) or len(set(streams)) != len(streams):
        raise typer.BadParameter(f"a non-empty set of {', '.join(STREAM_NAMES)}, comma-separated "
                                 "(e.g. pose,flow)", param_hint="--streams")
    return [stream for stream in STREAM_NAMES if stream in streams]


def _flow_settings(items: list[str], streams: list[str], resume: bool) -> FlowSettings:
    """The run's flow settings: the defaults with `--flow-set`'s changes (recipe.flow_overrides)."""
    from ..recipe import flow_overrides

    if items and resume:
        raise UsageError("--flow-set cannot change a resumed run: it continues with the flow its config.json "
                         "records.", "Drop --flow-set, or start a new run without --resume.")
    if items and "flow" not in streams:
        raise UsageError(f"--flow-set changes the flow stream, which this run does not use (--streams "
                         f"{','.join(streams)}).", "Add flow to --streams, or drop --flow-set.")
    return replace(DEFAULT_FLOW, **flow_overrides(items))


def _train_with_progress(run_training, options) -> dict:
    from ..distributed import ranks_from_env

    if not ranks_from_env().main:  # under torchrun, rank 0 alone talks to the user
        return run_training(options)
    with render.progress_reporter("Features") as report:

        def on_epoch(record: dict, most_epochs: int) -> None:
            report(f"Training {options.model}", record["epoch"], most_epochs)
            render.epoch_line(record, most_epochs)

        return run_training(options, on_epoch=on_epoch, on_progress=report)


@app.command()
@takes_sigterm
def evaluate(
    weights: Annotated[str | None, typer.Option(help="Checkpoint directory or Hub repo. Default: the newest "
                                                "local run of --model.", show_default=False)] = None,
    model: Annotated[ModelName, typer.Option(help="Model whose newest run to use without --weights.")] = DEFAULT_MODEL,
    data: Annotated[str | None, typer.Option(help="Dataset folder. Default: the one the checkpoint was "
                                             "trained on.", show_default=False)] = None,
    split: Annotated[str, typer.Option(help="test or val.")] = "test",
    device: Annotated[Device, typer.Option(help="auto = CUDA when present.")] = Device.auto,
    pose_source: Annotated[str | None, typer.Option(
        help="dataset (the skeleton files) or estimator (the pose backend on the frames: what classify runs). "
             "Default: what the checkpoint was trained on.", show_default=False)] = None,
    pose: Annotated[PoseName | None, typer.Option(
        help="Pose backend for estimator poses. Default: the checkpoint's.", show_default=False)] = None,
    windows: Annotated[ScoringWindows | None, typer.Option(
        help="How each clip is scored: all (the mean over its windows, as classify) or fixed (its one window of "
             "the paper's recipe, as the authors' test). Default: as the checkpoint's recipe validated (paper: "
             "fixed, ours: all).", show_default=False)] = None,
    json_output: JsonOption = False,
    debug: DebugOption = False,
) -> None:
    """Accuracy, macro-F1, per-class scores, the confusion matrix and the most confused pairs on a split."""
    from .. import distributed
    from ..evaluate import WINDOWS, evaluate_run
    from ..pipeline import resolve_device

    try:
        if split not in ("test", "val"):
            raise UsageError(f"--split {split}: use test or val.")
        ranks, device_name = distributed.start(resolve_device(device.value))  # torchrun: extraction is shared
        with render.progress_reporter("Features") if ranks.main else nullcontext() as report:
            result = evaluate_run(weights, model.value, data, split, device_name, report,
                                  pose=pose.value if pose else None,
                                  on_caution=render.warning if ranks.main else None, pose_source=pose_source,
                                  ranks=ranks, windows=windows.value if windows else None)
        distributed.stop()
    except DanceStyleError as e:
        fail(e, debug)
    if not ranks.main:
        return
    if json_output:
        render.json_line({**result.metrics.to_json(split, len(result.predictions)), "windows": result.windows})
        return
    render.out.print(f"Each clip scored on {WINDOWS[result.windows]} (--windows {result.windows}).")
    render.show_evaluation(result, split)


@app.command()
@takes_sigterm
def demo(
    clips_per_class: Annotated[int, typer.Option(min=5, help="Synthetic clips per style.")] = 20,
    epochs: Annotated[int, typer.Option(min=1, help="Most training epochs.")] = 200,
    device: Annotated[Device, typer.Option(help="auto = CUDA when present.")] = Device.auto,
    debug: DebugOption = False,
) -> None:
    """Offline tour in a minute or two: synthetic corpus -> train -> evaluate -> classify held-out clips."""
    from ..data import default_root
    from ..fetch import fetch_dataset
    from ..evaluate import evaluate_run
    from ..pipeline import resolve_device
    from ..synthetic import generate_corpus
    from ..train import train as run_training
    from ..weights import home

    render.banner("dancestyle demo — SYNTHETIC data", "Everything below runs offline on procedural stick-figure "
                  "dancers (10 styles, pose stream only), whose styles differ only in how they move, seen through "
                  "a real detector's kind of errors. It shows the pipeline at work; its small model stays near "
                  "chance (10%) on this yardstick, the best of ours is far from passing it (see models.md), and "
                  "none of it says anything about real videos.")
    try:
        root = default_root(f"synthetic-demo-{clips_per_class}")  # a corpus per size: never a mismatch
        with render.progress_reporter("Generating synthetic clips") as report:
            generate_corpus(root, clips_per_class=clips_per_class, seed=0,
                            progress=lambda done, total: report("Generating synthetic clips", done, total))
        render.step(1, "A synthetic corpus in the Let's Dance layout")
        render.out.print(render.dataset_table(fetch_dataset([str(root)], root), synthetic=True))

        render.step(2, "Train the default model (lstm) on the pose stream")
        options = TrainOptions(model=DEFAULT_MODEL, data=root, out=home() / "demo" / "lstm", epochs=epochs,
                               patience=60, streams=["pose"], device=resolve_device(device.value))
        summary = _train_with_progress(run_training, options)
        render.out.print(render.training_table(summary))

        render.step(3, "Evaluate on the held-out test clips")
        result = evaluate_run(summary["out"], DEFAULT_MODEL, str(root), "test", options.device)
        render.show_evaluation(result, "test")

        render.step(4, "A few held-out clips and their predicted styles: evaluate's predictions from the clips' "
                       "skeleton files, in classify's table (classify on a video file runs a pose backend instead, "
                       "whose weights need one online run)")
        render.out.print(render.predictions_table(result.predictions[::max(1, len(result.predictions) // 5)][:5], 3))
    except DanceStyleError as e:
        fail(e, debug)
    render.banner("What real use needs", "Real videos need trained weights: run `dancestyle fetch-dataset`, "
                  "`dancestyle train --model lstm` and `dancestyle evaluate` on a machine with internet (Let's Dance "
                  "and the ResNet-18 / pose-backend weights are downloaded), then `dancestyle classify clip.mp4`. "
                  f"The demo's files are in {home()} (its run is kept apart from your training runs).")
