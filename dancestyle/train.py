"""Training: cached features -> pose-encoder pre-training -> sequence model with early stopping, resumable.

    summary = train(TrainOptions(model="lstm", data=Path("~/.local/share/dancestyle/datasets/letsdance")))

1. Features are extracted once per clip and cached (extract.py).
2. With the pose or flow stream, its encoder is first trained frame by frame as a classifier (paper.md), then the
   whole classifier (encoders included) is trained on sequences with SGD + Nesterov and the paper's settings
   (gradients clipped to a norm of 5; not under the paper's recipe, configs.RECIPES).
3. Each epoch ends with a validation pass; the best epoch's weights are the checkpoint (model.safetensors +
   config.json + metrics.json). The full training state is saved after every epoch under resume/, so Ctrl-C loses
   at most the epoch in progress and `resume=True` continues exactly: every epoch seeds its own random streams
   from (seed, epoch), so an interrupted-then-resumed run ends with the same weights as an uninterrupted one.

Training windows (windows.py): a clip's cache holds every 5th frame; a model with stride s reads every (s/5)-th
of those, starting at a random offset (a free augmentation: stride 60 gives 12 distinct sequences per clip), in
windows of 10 s, flipped half of the time and changed by any `augment` named (augment.py); under the paper's
recipe, the authors' same window every epoch, never flipped. Validation uses offset 0 and averages all windows of
a clip, like `classify` does with a video; under the paper's recipe it scores each clip on that same fixed window,
as the authors' validation does.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import nullcontext
from dataclasses import asdict, replace
from functools import partial
from datetime import datetime
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from . import distributed
from .augment import AUGMENTATIONS, FLIPS
from .calibration import calibrate, fuses_late, negative_log_likelihood
from .configs import DEFAULT_RECIPE, ModelConfig, Recipe, TrainOptions, config_from_dict, default_config, recipe
from .data import DatasetIndex, index_for_training, letsdance_classes
from .distributed import Ranks
from .errors import DanceStyleError, InputError, UsageError
from .extract import FeatureSet, extract_features, training_recipe
from .features import Window
from .flow import FlowSettings
from .models import DanceClassifier, mixed_precision
from .optimizers import pretrain_encoders, sequence_optimizer, step
from .pose import FRAME_FORM
from .recipe import FeatureRecipe, rgb_weights_id
from .runstate import load_state, one_writer, read_state, resume_dir, save_state, state_path
from .sequences import CachedClips, Sequences, load_split, worker_windows
from .splits import coverage_cautions, load_or_make_splits, split_rule
from .checkpoints import CONFIG_FILE, checkpoint_config, read_checkpoint, save_checkpoint
from .windows import batch_windows, clip_probabilities, training_window, window_steps
from .weights import atomic_write_json, runs_dir

log = logging.getLogger(__name__)


class TrainingInterrupted(DanceStyleError):
    """Ctrl-C during training: the last finished epoch is saved and can be resumed."""


class TrainingDiverged(DanceStyleError):
    """The training loss is no longer a number: every later epoch would train on NaN."""


def _epoch_windows(train: Sequences, config: ModelConfig, generator: torch.Generator, augment: Sequence[str],
                   ranks: Ranks, seed: int, epoch: int, how: Recipe) -> Iterator[tuple[list[int], list[Window]]]:
    """This rank's batches of the epoch as (clip indices, their windows): for clips in memory, every clip's window
    drawn here in clip order, then the order; for clips read from the cache, the order, then each window drawn
    by a DataLoader worker from its own generator (sequences.py). Windows as the recipe `how` draws them."""
    every, per_window = window_steps(config)
    choose = partial(training_window, every=every, per_window=per_window, augment=tuple(augment),
                     random_window=how.random_windows, flip=how.flip_windows)
    batch_size = max(1, config.batch_size // ranks.world)
    if isinstance(train.features, CachedClips):
        order = shard_order(torch.randperm(len(train), generator=generator), ranks)
        batches = [batch.tolist() for batch in order.split(batch_size)]
        for batch in worker_windows(train.features, choose, seed, epoch, batches):
            yield [index for index, _ in batch], [window for _, window in batch]
        return
    windows = [choose(features, generator) for features in train.features]
    for batch in shard_order(torch.randperm(len(train), generator=generator), ranks).split(batch_size):
        yield batch.tolist(), [windows[index] for index in batch.tolist()]


class LossOf(nn.Module):
    """The classifier's training loss as a forward pass: DistributedDataParallel averages the gradients of what
    goes through forward, and DanceClassifier's loss is a method of its own."""

    def __init__(self, model: DanceClassifier) -> None:
        super().__init__()
        self.model = model

    def forward(self, inputs: dict[str, torch.Tensor], lengths: torch.Tensor | None, labels: torch.Tensor):
        return self.model.loss(inputs, lengths, labels)


def _epoch(model: DanceClassifier, optimizer, train: Sequences, seed: int, epoch: int, device: str,
           augment: Sequence[str] = (), ranks: Ranks = Ranks(), loss_of: nn.Module | None = None,
           average: AveragedModel | None = None, how: Recipe = recipe(DEFAULT_RECIPE)) -> tuple[float, float]:
    """One pass over the training clips; returns (mean loss, accuracy). Seeded by (seed, epoch) alone. With
    several ranks each takes its share of the epoch's order (`loss_of`: the DDP-wrapped LossOf), in batches of
    batch_size / world, so the batch the gradients are averaged over stays the configured one. `average` takes
    in the weights after every step (ModelConfig.ema). `how`: the recipe's windows and gradient clipping."""
    generator = torch.Generator().manual_seed(seed * 100_003 + epoch)
    torch.manual_seed(seed * 100_003 + epoch)  # dropout
    model.train()
    loss_of = loss_of or LossOf(model)
    total_loss = correct = seen = 0.0
    for indices, windows in _epoch_windows(train, model.config, generator, augment, ranks, seed, epoch, how):
        labels = torch.from_numpy(train.labels[indices]).to(device)
        inputs, lengths = batch_windows(windows, device)
        with mixed_precision(model.config, device):
            loss, scores = loss_of(inputs, lengths, labels)
        step(optimizer, loss, how.clip_gradients)
        if average is not None:
            average.update_parameters(model)
        total_loss += loss.item() * len(indices)
        correct += int((scores.argmax(1) == labels).sum())
        seen += len(indices)
    total_loss, correct, seen = distributed.total(ranks, total_loss, correct, int(seen))
    return total_loss / seen, correct / seen


def shard_order(order: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """This rank's share of an epoch's order: every world-th clip from its rank on, the order first padded with its
    own start to a multiple of the world size, so every rank takes the same number of steps (DDP needs that) even
    with more ranks than clips. One rank: the order itself."""
    if not ranks.distributed:
        return order
    needed = -(-len(order) // ranks.world) * ranks.world  # rounded up to a multiple of the world size
    padded = order.repeat(-(-needed // len(order)))[:needed]
    return padded[ranks.rank::ranks.world]


def _validate(model: DanceClassifier, val: Sequences, device: str, fixed: bool = False) -> tuple[float, float]:
    """(loss, accuracy) on the validation clips, each scored on all its windows or, `fixed`, on its one fixed
    window (the paper's recipe: run.py validates on the training frames, frame_select=range(5,305,5))."""
    probabilities = clip_probabilities(model, val.features, device, fixed)
    return negative_log_likelihood(probabilities, val.labels), float((probabilities.argmax(1) == val.labels).mean())


# -- the run: checkpoint, resume state (runstate.py), early stopping ----------------------------------------------

def _checkpoint_config(config: ModelConfig, options: TrainOptions, index: DatasetIndex,
                       made_with: FeatureRecipe) -> dict:
    """The run's config.json: the model, how its features were made, and how it was trained."""
    pose_source = made_with.pose_source
    result = checkpoint_config(config.to_dict(), pose_source, rgb_weights=rgb_weights_id(options.random_weights),
                               frame_size=options.detector_size, flow=options.flow)
    result["training"] = {"dataset": str(index.root), "layout": index.layout, "seed": options.seed,
                          "shuffle_frames": options.shuffle_frames, "recipe": options.recipe,
                          "augment": list(options.augment), "pose_source": pose_source.id if pose_source else None,
                          "synthetic": (index.root / "synthetic.json").is_file()}
    return result


def _extract(options: TrainOptions, index: DatasetIndex, ranks: Ranks = Ranks(),
             on_progress: Callable[[str, int, int], None] | None = None) -> tuple[FeatureRecipe, FeatureSet]:
    """How the run makes its features, and those features made into the cache (shard by shard under torchrun):
    the same FeatureMaker as classify (tests/test_parity.py)."""
    made_with = training_recipe(index, model_config(options), rgb_weights_id(options.random_weights),
                                options.pose_source, options.pose, options.detector_size,
                                random_detector=options.random_weights, flow=options.flow)
    features = extract_features(index, made_with, options.device, on_progress, shard=(ranks.rank, ranks.world))
    distributed.barrier(ranks)  # every clip's features are in the cache
    return made_with, features


def train(options: TrainOptions, on_epoch: Callable[[dict, int], None] | None = None,
          on_progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Train one model; returns a summary (also written to metrics.json in the output directory).
    on_epoch(record, most_epochs) is called after every epoch.

    Under torchrun (distributed.py) every process runs this: features are extracted shard by shard into the
    shared cache, each epoch is split over the ranks (DDP), and rank 0 alone validates, decides early stopping
    for all, and writes checkpoints, metrics and the resume state (`out` must be on a filesystem every machine
    shares, as the dataset and its cache are)."""
    ranks, device = distributed.start(options.device)
    try:
        summary = _train_ranked(replace(options, device=device), ranks, on_epoch, on_progress)
        distributed.barrier(ranks)  # no rank tears the group down while rank 0 still writes and broadcasts
        return summary
    finally:
        distributed.stop()


def _train_ranked(options: TrainOptions, ranks: Ranks, on_epoch, on_progress) -> dict:
    out = resume_dir(options) if options.resume else Path(
        options.out or runs_dir() / f"{options.model}-{datetime.now():%Y%m%d-%H%M%S}").expanduser()
    out = distributed.broadcast(ranks, out)  # the ranks' clocks may name a new run differently
    if options.resume and state_path(out).is_file():
        saved = read_state(out)
        # a resumed run keeps its own settings; only a given epoch budget or patience (to extend a run) and a
        # dataset given again (moved since, say) change
        given = {key: getattr(options, key) for key in ("epochs", "patience", "data")
                 if getattr(options, key) is not None}
        given.setdefault("data", Path(saved["options"]["data"]))
        flow = FlowSettings.from_dict(saved["options"].get("flow") or {})
        options = TrainOptions(**{**saved["options"], **given, "out": out,
                                  "resume": True, "device": options.device, "flow": flow,
                                  "overrides": _recorded_settings(out, saved["options"].get("overrides", {}))})
    elif options.resume:
        raise UsageError(f"{out} holds no saved training state to resume.", "Start a new run without --resume.")
    options = replace(options, epochs=options.epochs or recipe(options.recipe).epochs,
                      patience=options.patience or recipe(options.recipe).patience_for(options.model),
                      # recorded absolute, so evaluate and --resume find it from any folder
                      data=Path(options.data).expanduser().absolute() if options.data else None)
    # a model that cannot read the streams, or an augmentation it cannot take, is refused before any work
    _check_augment(options.augment, options.streams, model_config(options).stream_forms)
    if options.data is None or not Path(options.data).is_dir():
        raise InputError(f"No dataset at {options.data or '(none given)'}.",
                         "Run `dancestyle fetch-dataset` first (`--synthetic` works offline), or pass --data DIR.")

    distributed.agree(ranks, {key: value for key, value in asdict(options).items() if key != "device"},
                      "training options")
    try:
        with one_writer(out, options.overwrite, options.resume) if ranks.main else nullcontext():
            return _train(options, out, on_epoch, on_progress, ranks)
    except KeyboardInterrupt:  # before the first epoch: extraction keeps every finished clip in its cache
        raise TrainingInterrupted("Training interrupted before its first epoch.",
                                  "Run the same command again: cached features are reused.") from None


def _recorded_settings(out: Path, saved: dict) -> dict:
    """A resumed run's model settings: all of those its checkpoint records, so a default changed since it started
    (the tcn's fusion, 2026-12-05) does not change the network it continues."""
    if not (out / CONFIG_FILE).is_file():
        return saved
    recorded = config_from_dict(json.loads((out / CONFIG_FILE).read_text())["model"]).to_dict()
    return {key: value for key, value in recorded.items() if key not in ("name", "classes", "streams")}


def model_config(options: TrainOptions, classes: list[str] | None = None) -> ModelConfig:
    """The model a run trains: the model's defaults, the recipe's settings, then the run's own overrides."""
    settings = {**recipe(options.recipe).settings_for(options.model), **options.overrides}
    return default_config(options.model, streams=list(options.streams), **settings,
                          **({"classes": classes} if classes else {}))


def _check_augment(names: list[str], streams: list[str], forms: dict[str, str] | None = None) -> None:
    """Refuse unknown or repeated augmentation names, two flips, ones for a stream the run does not use, and
    `rotate` for skeletons in frame coordinates (it re-normalises each skeleton to its box)."""
    known = [*FLIPS, *AUGMENTATIONS]
    for position, name in enumerate(names):
        if name not in known or name in names[:position]:
            problem = "repeated" if name in known else "unknown"
            raise UsageError(f"--augment {','.join(names)}: {name!r} is {problem}.",
                             f"Name each of {', '.join(known)} at most once, comma-separated (e.g. jitter,shift).")
        if name in FLIPS:
            if any(other in FLIPS for other in names[:position]):
                raise UsageError(f"--augment {','.join(names)} names two flips; a window is flipped one way.",
                                 f"Name one of {' or '.join(FLIPS)}.")
            continue
        if AUGMENTATIONS[name][0] not in streams:
            raise UsageError(f"The {name} augmentation changes the {AUGMENTATIONS[name][0]} stream, which this run "
                             f"does not use (--streams {','.join(streams)}).",
                             f"Add {AUGMENTATIONS[name][0]} to --streams, or leave {name} out of --augment.")
        if name == "rotate" and (forms or {}).get("pose") == FRAME_FORM:
            raise UsageError("The rotate augmentation turns skeletons normalised to their own box; this model reads "
                             "them in frame coordinates.", "Leave rotate out of --augment (jitter works).")


def _train(options: TrainOptions, out: Path, on_epoch, on_progress, ranks: Ranks = Ranks()) -> dict:
    index, made_with, config, train_set, val_set = _datasets(options, ranks, on_progress)
    model, how, optimizer, scheduler = _model_and_optimizer(options, config, train_set)
    average = weights_average(model)
    kept = average.module if average is not None else model  # the weights validated and saved
    if options.resume:
        state = load_state(out, model, optimizer, scheduler, average)
        # an extended budget, or a dataset given again, sticks
        state["options"].update(epochs=options.epochs, patience=options.patience, data=str(options.data))
    else:
        state = {"epoch": 0, "best_epoch": 0, "best_val_accuracy": -1.0, "history": [], "finished": False,
                 "options": {**asdict(options), "data": str(options.data), "out": str(out)}}
    checkpoint_config = _checkpoint_config(config, options, index, made_with)
    loss_of = _distributed_loss(model, ranks)  # also gives every rank rank 0's weights

    try:
        while state["epoch"] < options.epochs and state["epoch"] - state["best_epoch"] < options.patience:
            epoch = state["epoch"] + 1
            record = _run_epoch(model, optimizer, train_set, val_set, options, epoch, state, ranks, loss_of,
                                average)
            state["history"].append(record)
            state["epoch"] = epoch
            if scheduler is not None:
                _step_schedule(scheduler, record["val_loss"])
                state["scheduler"] = scheduler.state_dict()
            if _better(how, record["val_accuracy"], record["val_loss"], state):
                state["best_epoch"], state["best_val_accuracy"] = epoch, record["val_accuracy"]
                state["best_val_loss"] = record["val_loss"]
                if ranks.main:
                    save_checkpoint(out, kept.state_dict(), checkpoint_config,
                                    _metrics(state, index, train_set, val_set))
            if ranks.main:
                save_state(out, model, optimizer, state, average)
            if on_epoch and ranks.main:
                on_epoch(record, options.epochs)
    except KeyboardInterrupt:
        raise _interrupted(out, state, ranks) from None
    state["finished"] = True
    metrics = _metrics(state, index, train_set, val_set)
    if ranks.main:
        save_state(out, model, optimizer, state, average)
        if fuses_late(model):
            metrics["calibration"] = _calibrate_checkpoint(out, config, options, val_set)
        atomic_write_json(out / "metrics.json", metrics)
    return {"out": str(out), **metrics}


def _datasets(options: TrainOptions, ranks: Ranks, on_progress
              ) -> tuple[DatasetIndex, FeatureRecipe, ModelConfig, Sequences, Sequences]:
    """The dataset, its splits (written once, by rank 0) and features: (index, the recipe the features were made
    with, the model config, the training and validation sequences)."""
    index = index_for_training(options.data, letsdance_classes(options.classes))
    if ranks.main:  # the splits file is written once; the others read it
        load_or_make_splits(index.root, index)
    distributed.barrier(ranks)
    splits = load_or_make_splits(index.root, index)
    if ranks.main:
        for text in coverage_cautions(index, splits, split_rule(index.root)):
            log.warning("%s", text)
    made_with, features = _extract(options, index, ranks, on_progress)
    config = model_config(options, list(index.classes))
    train_set, val_set = (load_split(index, features, splits[side], config.classes, options.shuffle_frames)
                          for side in ("train", "val"))
    if not len(train_set) or not len(val_set):
        raise UsageError(f"The split of {index.root} leaves train or val empty "
                         f"({len(train_set)}/{len(val_set)} clips).", "Use a dataset with more clips per class.")
    return index, made_with, config, train_set, val_set


def _model_and_optimizer(options: TrainOptions, config: ModelConfig, train_set: Sequences):
    """(model, the training recipe, its optimizer, the lr scheduler or None). A new run starts the model from
    published weights where it has some and pre-trains its encoders; a resumed one gets its state after."""
    torch.manual_seed(options.seed)
    model = DanceClassifier(config, options.flow).to(options.device)
    how = recipe(options.recipe)
    if not options.resume:
        if not options.random_weights:
            model.load_pretrained()  # r3d on rgb: Kinetics-400 (offline runs pass --random-weights)
        pretrain_encoders(model, train_set, options.seed, options.device, how.pose_pretrain_lr, how.clip_gradients)
    optimizer = sequence_optimizer(model, frozen_encoder=how.freeze_pose_encoder)
    return model, how, optimizer, _lr_scheduler(optimizer, config, how, options)


def weights_average(model: DanceClassifier) -> AveragedModel | None:
    """The exponential moving average of the model's weights and buffers that its config's `ema` asks for (None
    when 0). It starts from the weights of the first step it takes in: after any pre-training of the encoders."""
    if not model.config.ema:
        return None
    return AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(model.config.ema), use_buffers=True)


def _lr_scheduler(optimizer, config: ModelConfig, how: Recipe, options: TrainOptions):
    """The model's lr schedule (stepped once an epoch), the recipe's plateau schedule, or None (a constant lr)."""
    if config.lr_schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=options.epochs)
    if how.plateau_factor:
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, "min", factor=how.plateau_factor,
                                                          patience=max(1, options.patience // 2))
    return None


def _step_schedule(scheduler, val_loss: float) -> None:
    if isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
        scheduler.step(val_loss)  # the plateau schedule reads the epoch's validation loss
    else:
        scheduler.step()


def _run_epoch(model: DanceClassifier, optimizer, train_set: Sequences, val_set: Sequences, options: TrainOptions,
               epoch: int, state: dict, ranks: Ranks, loss_of, average: AveragedModel | None = None) -> dict:
    """Train one epoch and validate (the average of the weights, when the model keeps one): the epoch's history
    record. A loss that is not finite stops the run."""
    started = time.perf_counter()
    train_loss, train_accuracy = _epoch(model, optimizer, train_set, options.seed, epoch, options.device,
                                        options.augment, ranks, loss_of, average, recipe(options.recipe))
    if not math.isfinite(train_loss):
        kept = (f"the checkpoint keeps epoch {state['best_epoch']}" if state["best_epoch"]
                else "no checkpoint was written")
        raise TrainingDiverged(f"Training diverged: the training loss of epoch {epoch} is {train_loss} ({kept}).",
                               "Train again with a lower learning rate (--set lr=...).")
    # rank 0 validates and every rank follows its numbers, so all stop at the same epoch
    validated = average.module if average is not None else model
    fixed = recipe(options.recipe).score_fixed_window
    val_loss, val_accuracy = distributed.broadcast(ranks, _validate(validated, val_set, options.device, fixed)
                                                   if ranks.main else None)
    return {"epoch": epoch, "train_loss": round(train_loss, 4), "train_accuracy": round(train_accuracy, 4),
            "val_loss": round(val_loss, 4), "val_accuracy": round(val_accuracy, 4),
            "lr": optimizer.param_groups[0]["lr"], "seconds": round(time.perf_counter() - started, 2)}


def _interrupted(out: Path, state: dict, ranks: Ranks) -> TrainingInterrupted:
    """What to tell a user who stopped training (Ctrl-C, or a signal turned into one)."""
    if not state_path(out).is_file():  # during the first epoch: nothing saved yet that --resume could use
        return TrainingInterrupted("Training interrupted during its first epoch; no state was saved yet.",
                                   "Run the same command again (without --resume): cached features are reused.")
    command = "torchrun <the same options> -m dancestyle" if ranks.world > 1 else "dancestyle"
    return TrainingInterrupted(f"Training interrupted after epoch {state['epoch']}; its state is saved in {out}.",
                               f"Continue with: {command} train --resume --out {out}")


def _calibrate_checkpoint(out: Path, config: ModelConfig, options: TrainOptions, val: Sequences) -> dict:
    """Late fusion: fit the kept epoch's stream temperatures on the validation split and add them to its
    config.json (the same weights and settings, rewritten with them). Fit from the weights alone, so resuming a
    finished run gives the same temperatures."""
    try:
        config_json, state_dict = read_checkpoint(out)
        best = DanceClassifier(config, options.flow).to(options.device)
        best.load_state_dict(state_dict)
        calibration = calibrate(best, val.features, val.labels, options.device)
        save_checkpoint(out, state_dict, {**config_json, "calibration": calibration})
    except KeyboardInterrupt:
        raise TrainingInterrupted(f"Interrupted while calibrating the finished run in {out}.",
                                  f"Calibrate it with: dancestyle train --resume --out {out}") from None
    return calibration


def _distributed_loss(model: DanceClassifier, ranks: Ranks) -> nn.Module:
    """LossOf(model), wrapped in DistributedDataParallel when there are several ranks (which copies rank 0's
    weights to all). The encoders' pre-training heads take no part in training: DDP is told to look for unused
    parameters only when there are such heads (the search costs a pass over the graph, and DDP warns where it
    finds none: r3d on pose)."""
    loss_of = LossOf(model)
    if not ranks.distributed:
        return loss_of
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [torch.device(next(model.parameters()).device)] if next(model.parameters()).is_cuda else None
    idle_heads = any(weight.requires_grad for encoder in model.encoders().values()
                     for weight in encoder.head.parameters())
    return DistributedDataParallel(loss_of, device_ids=device_ids, find_unused_parameters=idle_heads)


def _better(how: Recipe, val_accuracy: float, val_loss: float, state: dict) -> bool:
    """Whether this epoch beats the kept one: the recipe's lowest validation loss, or the best accuracy (ties,
    frequent on small validation sets, go to the lower loss)."""
    best_loss = state.get("best_val_loss", np.inf)
    if how.select_on == "loss":
        return val_loss < best_loss
    return (val_accuracy, -val_loss) > (state["best_val_accuracy"], -best_loss)


def _metrics(state: dict, index: DatasetIndex, train_set: Sequences, val_set: Sequences) -> dict:
    return {"model": state["options"]["model"], "dataset": str(index.root),
            "synthetic": (index.root / "synthetic.json").is_file(), "clips": {"train": len(train_set),
                                                                               "val": len(val_set)},
            "epochs_run": state["epoch"], "best_epoch": state["best_epoch"],
            "best_val_accuracy": round(state["best_val_accuracy"], 4), "history": state["history"]}
