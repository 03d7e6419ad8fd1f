"""After training a late-fused model (`fusion: late`): each stream's temperature, fit on the validation split.

Late fusion averages the streams' class probabilities, so a stream that is confidently wrong can outvote one that
is rightly but less sure. Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", ICML 2017)
divides a network's class scores by one number T, chosen to minimise the negative log-likelihood of held-out
labels: T > 1 softens an over-confident stream, T < 1 sharpens an under-confident one, and no stream's ranking of
the classes changes. Each stream is fit on its own clip probabilities (its windows' mean, as `classify` reads a
video), from a fixed grid, so the same scores give the same temperatures on every machine. They go in config.json
("calibration"); a checkpoint without them fuses at T = 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from .errors import WeightsError
from .features import Window
from .models import DanceClassifier, LateFusion
from .windows import per_clip

# 1/4 .. 4, 6% apart. A fixed grid, not an optimiser: the same scores give the same temperature everywhere, and a
# stream that is right on every validation clip (whose loss falls for ever as T shrinks) stops at the edge
TEMPERATURES = tuple(2 ** (step / 12) for step in range(-24, 25))
METHOD = "temperature"


def fuses_late(model: DanceClassifier) -> bool:
    """Whether the model fuses its streams late (so the streams have temperatures to fit)."""
    return isinstance(model.sequence, LateFusion)


def stream_window_scores(model: DanceClassifier, clips: Sequence[Window], device: str) -> list[list[np.ndarray]]:
    """For each stream, each clip's class scores for each of its windows (windows, classes), uncalibrated."""
    sequence = model.sequence

    def scores_by_stream(inputs: dict[str, torch.Tensor], lengths: torch.Tensor) -> list[np.ndarray]:
        features = model.frame_features(inputs, lengths)
        return [scores.float().cpu().numpy() for scores in sequence.stream_scores(features, lengths)]

    per_clip_scores = per_clip(model, clips, device, scores_by_stream)
    return [list(stream) for stream in zip(*per_clip_scores, strict=True)]


def _clip_probabilities(window_scores: list[np.ndarray], temperature: float) -> np.ndarray:
    """(clips, classes): each clip's mean over its windows of softmax(scores / temperature)."""
    rows = []
    for scores in window_scores:
        scaled = scores / temperature
        exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        rows.append((exp / exp.sum(axis=1, keepdims=True)).mean(axis=0))
    return np.stack(rows)


def negative_log_likelihood(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """The mean of -log p(label) over clips: the validation loss training reports, and what calibration lowers."""
    return float(-np.log(probabilities[np.arange(len(labels)), labels] + 1e-12).mean())


def fit_temperature(window_scores: list[np.ndarray], labels: np.ndarray) -> float:
    """The grid temperature whose clip probabilities give `labels` the lowest negative log-likelihood."""
    losses = [negative_log_likelihood(_clip_probabilities(window_scores, t), labels) for t in TEMPERATURES]
    return round(TEMPERATURES[int(np.argmin(losses))], 4)


def calibrate(model: DanceClassifier, clips: Sequence[Window], labels: np.ndarray, device: str) -> dict:
    """Fit each stream's temperature on these (validation) clips and set them in the model: the "calibration"
    entry of config.json, with the fused validation loss and accuracy before and after."""
    labels = np.asarray(labels)
    by_stream = dict(zip(model.sequence.networks, stream_window_scores(model, clips, device), strict=True))
    temperatures = {stream: fit_temperature(scores, labels) for stream, scores in by_stream.items()}

    def fused_scores(temps: dict[str, float]) -> dict:
        fused = np.mean([_clip_probabilities(by_stream[s], t) for s, t in temps.items()], axis=0)
        return {"loss": round(negative_log_likelihood(fused, labels), 4),
                "accuracy": round(float((fused.argmax(1) == labels).mean()), 4)}

    before, after = fused_scores({stream: 1.0 for stream in temperatures}), fused_scores(temperatures)
    model.sequence.temperatures = dict(temperatures)
    return {"method": METHOD, "split": "val", "clips": len(labels), "temperatures": temperatures,
            "val_loss_before": before["loss"], "val_loss_after": after["loss"],
            "val_accuracy_before": before["accuracy"], "val_accuracy_after": after["accuracy"]}


def apply_calibration(model: DanceClassifier, config: dict, directory: Path | str) -> None:
    """Set a checkpoint's recorded temperatures (config.json "calibration") in its rebuilt model."""
    recorded = config.get("calibration")
    if not recorded:
        return
    temperatures = recorded.get("temperatures", {})
    if not fuses_late(model) or set(temperatures) != set(model.sequence.temperatures):
        raise WeightsError(f"The calibration in {directory}/config.json ({temperatures}) does not fit its model.",
                           "Re-train it, or remove the \"calibration\" entry to fuse its streams uncalibrated.")
    model.sequence.temperatures = {stream: float(temperatures[stream]) for stream in model.sequence.temperatures}
