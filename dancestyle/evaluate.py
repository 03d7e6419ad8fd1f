"""Scores for a labelled split: confusion matrix, per-class precision / recall / F1, accuracy, macro-F1.

Pure numpy, so `evaluate` can be tested and reused without a model. Labels are class ids (indices into
`classes`); turning files into ids is the caller's job.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from . import distributed
from .distributed import Ranks
from .errors import InputError, UsageError
from .pose import PoseSource, pose_backend
from .recipe import FeatureRecipe


def _ids(labels: Sequence[int], name: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.size == 0:
        return np.zeros(0, dtype=np.int64)  # np.asarray([]) is float64; an empty split is still valid here
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise ValueError(f"{name} must be a flat sequence of integer class ids, got dtype {array.dtype}")
    return array.astype(np.int64)


def confusion_matrix(true: Sequence[int], predicted: Sequence[int], num_classes: int) -> np.ndarray:
    """Counts of (true, predicted) pairs: rows are the true class, columns the predicted one."""
    true_ids, predicted_ids = _ids(true, "true"), _ids(predicted, "predicted")
    if len(true_ids) != len(predicted_ids):
        raise ValueError(f"{len(true_ids)} true labels but {len(predicted_ids)} predictions")
    for name, ids in (("true", true_ids), ("predicted", predicted_ids)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"{name} holds class ids outside 0..{num_classes - 1}")
    # one bincount over flattened (row, column) cells instead of a Python loop over clips
    counts = np.bincount(true_ids * num_classes + predicted_ids, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


@dataclass
class Metrics:
    """Scores of one evaluation. `per_class[style]` holds precision, recall, f1 (floats) and support (int)."""

    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float | int]]
    confusion: list[list[int]]  # rows: true class, columns: predicted class, in `classes` order
    classes: list[str]

    @property
    def evaluated(self) -> list[str]:
        """The classes that count in macro averages: those in the truth or in the predictions."""
        matrix = np.asarray(self.confusion)
        seen = (matrix.sum(axis=1) > 0) | (matrix.sum(axis=0) > 0)
        return [style for style, flag in zip(self.classes, seen) if flag]

    def macro(self, key: str) -> float:
        """Unweighted mean of one per-class score ("precision", "recall", "f1") over `evaluated`."""
        styles = self.evaluated
        return float(np.mean([self.per_class[s][key] for s in styles])) if styles else 0.0

    def most_confused(self, k: int = 5) -> list[tuple[str, str, int]]:
        """The k largest off-diagonal cells as (true style, predicted style, count); zeros left out.

        Ties keep class order (true class first, then predicted), so the list is stable across runs.
        """
        cells = [(-count, i, j) for i, row in enumerate(self.confusion) for j, count in enumerate(row)
                 if i != j and count > 0]
        return [(self.classes[i], self.classes[j], -negative) for negative, i, j in sorted(cells)[:k]]

    def to_json(self, split: str, clips: int) -> dict:
        """A json.dumps-able dict with plain Python numbers, floats rounded to 4 decimals."""
        per_class = {style: {key: (int(value) if key == "support" else round(float(value), 4))
                             for key, value in scores.items()}
                     for style, scores in self.per_class.items()}
        return {"accuracy": round(float(self.accuracy), 4), "macro_f1": round(float(self.macro_f1), 4),
                "per_class": per_class, "confusion": [[int(c) for c in row] for row in self.confusion],
                "classes": list(self.classes), "split": split, "clips": int(clips)}


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    # 0 where the denominator is 0: an undefined score counts as a miss, never as NaN
    return np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=denominator > 0)


def compute_metrics(true: Sequence[int], predicted: Sequence[int], classes: Sequence[str]) -> Metrics:
    """Accuracy, per-class precision / recall / F1 and macro-F1 of predicted against true class ids.

    Conventions, where a score would divide by zero:
    - precision of a class that was never predicted is 0;
    - recall of a class with no support (no clip of it in the truth) is 0;
    - F1 is 0 when precision + recall is 0.
    Macro-F1 is the unweighted mean of per-class F1 over the classes that have support or were predicted.
    Classes absent from both are left out of the mean: a 10-class model evaluated on a split that holds only some
    styles should not be penalised for styles nobody asked about, while a style it predicted wrongly still
    counts (with F1 0). `per_class` still lists every class, so the keys do not depend on the split.
    """
    if len(true) == 0:
        raise InputError("no clips to evaluate", hint="Check that the split holds labelled clips.")
    matrix = confusion_matrix(true, predicted, len(classes))
    hits = np.diag(matrix).astype(np.float64)
    support, predicted_count = matrix.sum(axis=1), matrix.sum(axis=0)
    precision, recall = _divide(hits, predicted_count), _divide(hits, support)
    f1 = _divide(2 * precision * recall, precision + recall)
    per_class = {style: {"precision": float(precision[i]), "recall": float(recall[i]), "f1": float(f1[i]),
                         "support": int(support[i])}
                 for i, style in enumerate(classes)}
    seen = (support > 0) | (predicted_count > 0)
    return Metrics(accuracy=float(hits.sum() / matrix.sum()), macro_f1=float(f1[seen].mean()),
                   per_class=per_class, confusion=matrix.tolist(), classes=list(classes))


def evaluation_pose_source(recipe: FeatureRecipe, layout: str, pose_source: str | None, pose: str | None,
                           on_caution=None) -> PoseSource:
    """Where evaluate's poses come from: the checkpoint's own source unless told otherwise (see evaluate_run);
    a difference from training is told to on_caution."""
    from .checkpoints import pose_caution

    if pose is not None:
        pose_backend(pose)
    if pose_source not in (None, "dataset", "estimator"):
        raise UsageError(f"--pose-source {pose_source}: use dataset or estimator.")
    if pose_source == "dataset" and layout == "videos":
        raise UsageError("--pose-source dataset: this dataset is a folder of videos, it has no skeleton files.",
                         "Use --pose-source estimator (the default for such a dataset).")
    trained = recipe.pose
    wanted = pose_source or ("estimator" if trained.backend or layout == "videos" else "dataset")
    if wanted == "dataset":
        return PoseSource(None)
    backend = pose or trained.backend or recipe.pose_backend
    caution = pose_caution(recipe, backend)
    if caution and on_caution:
        on_caution(caution)
    return PoseSource(backend, recipe.frame_size, trained.random_weights)


# -- evaluating a checkpoint on a dataset split --------------------------------------------------------------------

WINDOWS = {"all": "the mean over all its windows at offset 0, as classify",
           "fixed": "its one fixed window, as the authors' test (--recipe paper)"}  # how a clip is scored


def scoring_windows(training: dict, windows: str | None = None) -> str:
    """How evaluate scores each clip (a key of WINDOWS): as the checkpoint's recipe (config.json's
    training.recipe) validated, unless `windows` says. The paper's recipe scores on the fixed window training read:
    run.py's test mode reads range(s, 300 + s, s) at --frame-freq s, default 5 (run.py:280), which run.sh's test
    commands keep: the 60 frames of its training and validation. Any other recipe, or none recorded: all."""
    from .configs import DEFAULT_RECIPE, RECIPES

    if windows is not None and windows not in WINDOWS:
        raise UsageError(f"--windows {windows}: use {' or '.join(WINDOWS)}.")
    trained = RECIPES.get(training.get("recipe", DEFAULT_RECIPE))
    return windows or ("fixed" if trained is not None and trained.score_fixed_window else "all")


@dataclass
class EvaluationResult:
    metrics: Metrics
    predictions: list  # one prediction.Prediction per clip, in split order
    dataset: str
    checkpoint: str
    windows: str = "all"  # how each clip was scored: a key of WINDOWS


def evaluate_run(weights: str | None, model: str, data: str | None, split: str = "test", device: str = "cpu",
                 on_progress=None, pose: str | None = None, on_caution=None,
                 pose_source: str | None = None, ranks: Ranks = Ranks(), windows: str | None = None
                 ) -> EvaluationResult:
    """Score a checkpoint on a split of a dataset, with features made the way its training made them, unless told:

    pose_source: "dataset" (the skeleton files) or "estimator" (a pose backend on the frames: what `classify`
    runs); default what the checkpoint was trained on (a <style>/<video> dataset has no skeleton files: estimator).
    pose: the backend for estimator poses; default the checkpoint's. on_caution(text) hears of any difference.
    ranks: under torchrun, the missing features are extracted shard by shard (distributed.py); every rank then
    scores the split (it is quick) and gets the same result.
    windows: how each clip is scored, "all" or "fixed" (scoring_windows); default as its recipe validated.
    """
    import time
    from pathlib import Path

    from .data import index_dataset
    from .splits import load_or_make_splits
    from .extract import extract_features
    from .checkpoints import classifier_source, load_classifier, read_checkpoint
    from .prediction import Prediction, rank_styles
    from .sequences import load_split
    from .windows import clip_probabilities, window_steps

    directory, source = classifier_source(model, weights, random_weights_too=False)  # evaluate has no --random-weights
    config, state_dict = read_checkpoint(directory)
    classifier = load_classifier(config, state_dict, directory).to(device)
    training = config.get("training", {})
    windows = scoring_windows(training, windows)
    root = Path(data or training.get("dataset") or "")
    if not str(root) or not root.is_dir():
        raise InputError(f"No dataset to evaluate on ({root or 'none recorded in the checkpoint'}).",
                         "Pass --data DIR (the folder `dancestyle fetch-dataset` reported).")
    classes = classifier.config.classes
    index = index_dataset(root, classes)
    keys = load_or_make_splits(index.root, index)[split]
    # the features exactly as training made them (the specs name their sources), unless told another pose backend
    recipe = FeatureRecipe.from_checkpoint(config)
    recipe = replace(recipe, pose=evaluation_pose_source(recipe, index.layout, pose_source, pose, on_caution))
    features = extract_features(index, recipe, device, progress=on_progress, clips=index.clips_for(keys),
                                shard=(ranks.rank, ranks.world))
    distributed.barrier(ranks)  # every clip's features are in the cache
    sequences = load_split(index, features, keys, classes, training.get("shuffle_frames", False))
    started = time.perf_counter()
    probabilities = clip_probabilities(classifier, sequences.features, device, fixed=windows == "fixed")
    seconds = (time.perf_counter() - started) / max(1, len(sequences))
    metrics = compute_metrics(sequences.labels.tolist(), probabilities.argmax(1).tolist(), classes)
    clips = index.clips_for(keys)
    every, per_window = window_steps(classifier.config)
    predictions = []
    for clip, scores, clip_features in zip(clips, probabilities, sequences.features):
        top = rank_styles(scores, classes, 3)
        poses = clip_features.get("pose")
        people = int((np.abs(poses).sum(axis=(2, 3)) > 0).sum(axis=1).max()) if poses is not None else 0
        frames = -(-len(next(iter(clip_features.values()))) // every)  # the clip's frames at the model's stride
        frames = min(frames, per_window) if windows == "fixed" else frames  # the fixed window: one window's
        predictions.append(Prediction(path=f"{clip.key} (true: {clip.label})", label=top[0]["label"],
                                      score=top[0]["score"], top_k=top, model=classifier.config.name,
                                      frames=frames, people_max=people, seconds=round(seconds, 3),
                                      random_weights=False))
    return EvaluationResult(metrics, predictions, str(index.root), source, windows)
