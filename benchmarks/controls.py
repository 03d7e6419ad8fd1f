"""Static controls that need no training: how far a dataset's style can be told without seeing anyone move.

    python benchmarks/controls.py --data DATASET [--json]

Two classifiers read only what a single frame (or a clip's frames taken as a bag) shows, fit on the train split of
the library's own seeded split (by video id: splits.py's load_or_make_splits) and scored on validation and test:
- the people-count lookup: each clip's median number of people over its skeleton files; a table fit on train maps
  each median to the most common style among train clips with that median (a median train never saw: the most
  common train style), ties to the first style in the dataset's class order;
- a summary-statistics classifier: a multinomial logistic regression on the mean and standard deviation of every
  box-normalised joint coordinate (normalised as the pose stream's input is: pose.normalise_skeletons) over the
  clip's frames and people, plus the median people count.
On a corpus whose styles differ only in how they move, both land near chance (1 / number of styles); anything
well above chance is a static cue the yardstick must lose. The dataset must have skeleton files (the Let's Dance
layout, as the synthetic corpus has).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCORED = ("val", "test")


@dataclass
class ClipSummary:
    """What the static controls know of one clip."""

    key: str
    label: str
    side: str  # "train", "val" or "test"
    people: float  # median number of people over the clip's skeleton files (0 with none)
    statistics: np.ndarray  # mean, then sd, of each normalised joint coordinate over frames and people: (68,)


def clip_summaries(data: Path) -> tuple[list[ClipSummary], list[str]]:
    """Every clip of the dataset at `data` with its side of the split, and the dataset's classes in order."""
    from dancestyle.data import index_for_training
    from dancestyle.splits import load_or_make_splits
    from dancestyle.errors import InputError

    index = index_for_training(data)
    if index.layout != "letsdance":
        raise InputError(f"{data} is a folder of videos: it has no skeleton files for the static controls.",
                         "Pass a dataset in the Let's Dance layout (e.g. `dancestyle fetch-dataset --synthetic`).")
    splits = load_or_make_splits(index.root, index)
    side_of = {key: side for side, keys in splits.items() for key in keys}
    return [summarise_clip(clip, side_of[clip.key]) for clip in index.clips], list(index.classes)


def summarise_clip(clip, side: str) -> ClipSummary:
    """One pass over a clip's skeleton files (missing files are skipped; an empty file counts 0 people)."""
    from dancestyle.pose import MAX_PEOPLE, NUM_KEYPOINTS, normalise_skeletons, read_letsdance_pose

    counts, total, squares, people = [], np.zeros(2 * NUM_KEYPOINTS), np.zeros(2 * NUM_KEYPOINTS), 0
    for path in clip.poses:
        if path is None:
            continue
        skeletons = read_letsdance_pose(path)
        counts.append(len(skeletons))
        flat = normalise_skeletons(skeletons[:MAX_PEOPLE]).reshape(-1, 2 * NUM_KEYPOINTS).astype(np.float64)
        total += flat.sum(axis=0)
        squares += (flat ** 2).sum(axis=0)
        people += len(flat)
    mean = total / max(people, 1)
    spread = np.sqrt(np.maximum(squares / max(people, 1) - mean ** 2, 0.0))
    return ClipSummary(clip.key, clip.label, side, float(np.median(counts)) if counts else 0.0,
                       np.concatenate([mean, spread]))


def score(predicted: list[str], true: list[str]) -> dict:
    """{"accuracy", "correct", "clips"}; accuracy None for an empty split."""
    correct = sum(p == t for p, t in zip(predicted, true))
    return {"accuracy": correct / len(true) if true else None, "correct": correct, "clips": len(true)}


def most_common(labels: list[str], classes: list[str]) -> str:
    """The most frequent of `labels`, ties to the first in `classes`."""
    counts = Counter(labels)
    return min(counts, key=lambda label: (-counts[label], classes.index(label)))


def people_count_lookup(data: Path, clips: list[ClipSummary] | None = None, classes: list[str] | None = None) -> dict:
    """The people-count lookup, fit on train and scored on val and test (clips: clip_summaries(data), read here
    when not given)."""
    if clips is None:
        clips, classes = clip_summaries(data)
    train = [clip for clip in clips if clip.side == "train"]
    fallback = most_common([clip.label for clip in train], classes)
    table = {count: most_common([clip.label for clip in train if clip.people == count], classes)
             for count in sorted({clip.people for clip in train})}
    result = {"control": "people-count lookup", "classes": len(classes), "chance": 1 / len(classes),
              "table": {f"{count:g}": label for count, label in table.items()}, "unseen": fallback}
    for side in SCORED:
        held = [clip for clip in clips if clip.side == side]
        result[side] = score([table.get(clip.people, fallback) for clip in held], [clip.label for clip in held])
    return result


def fit_logistic_regression(x: np.ndarray, y: np.ndarray, classes: int, steps: int = 500, rate: float = 0.5,
                            decay: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """Multinomial logistic regression by full-batch gradient descent on the mean cross-entropy plus decay/2 ×
    |weights|²; x is standardised by the caller. Returns (weights (features, classes), bias (classes,))."""
    weights, bias = np.zeros((x.shape[1], classes)), np.zeros(classes)
    targets = np.eye(classes)[y]
    for _ in range(steps):
        logits = x @ weights + bias
        logits -= logits.max(axis=1, keepdims=True)
        probabilities = np.exp(logits)
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        error = (probabilities - targets) / len(x)
        weights -= rate * (x.T @ error + decay * weights)
        bias -= rate * error.sum(axis=0)
    return weights, bias


def summary_statistics_classifier(data: Path, clips: list[ClipSummary] | None = None,
                                  classes: list[str] | None = None) -> dict:
    """A logistic regression on per-clip summary statistics (mean and sd of each box-normalised joint coordinate,
    and the median people count), fit on train and scored on val and test."""
    if clips is None:
        clips, classes = clip_summaries(data)

    def features(side: str) -> tuple[np.ndarray, list[str]]:
        held = [clip for clip in clips if clip.side == side]
        rows = [np.append(clip.statistics, clip.people) for clip in held]
        return np.array(rows).reshape(len(held), -1), [clip.label for clip in held]

    x, labels = features("train")
    centre, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    weights, bias = fit_logistic_regression((x - centre) / scale, np.array([classes.index(l) for l in labels]),
                                            len(classes))
    result = {"control": "summary statistics (logistic regression)", "classes": len(classes),
              "chance": 1 / len(classes), "features": x.shape[1], "train_clips": len(x)}
    for side in SCORED:
        held, true = features(side)
        predicted = [classes[i] for i in (((held - centre) / scale) @ weights + bias).argmax(axis=1)] if true else []
        result[side] = score(predicted, true)
    return result


def percent(scored: dict) -> str:
    if scored["accuracy"] is None:
        return "— (no clips)"
    return f"{100 * scored['accuracy']:.1f} ({scored['correct']}/{scored['clips']})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a dataset in the Let's Dance layout")
    parser.add_argument("--json", action="store_true", help="one JSON object per control instead of the table")
    args = parser.parse_args()
    from dancestyle.errors import DanceStyleError

    try:
        clips, classes = clip_summaries(args.data)
    except DanceStyleError as e:
        print(f"{e}", file=sys.stderr)
        raise SystemExit(1) from None
    results = [people_count_lookup(args.data, clips, classes), summary_statistics_classifier(args.data, clips, classes)]
    if args.json:
        for result in results:
            print(json.dumps(result))
        return
    print(f"Dataset: {args.data}; {len(clips)} clips, {len(classes)} styles; accuracy % (correct/clips)\n")
    print("| control | validation | test | chance |\n|---|---|---|---|")
    for result in results:
        print(f"| {result['control']} | {percent(result['val'])} | {percent(result['test'])} | "
              f"{100 * result['chance']:.1f} |")


if __name__ == "__main__":
    main()
