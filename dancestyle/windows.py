"""Which sampled steps form each 10 s window, for training, evaluation and classification alike.

A model reads a step every `stride` frames of 30 fps video; a window is 10 s of those steps (the training clips'
length). The feature cache holds a sample every geometry.cache_stride(s) frames (5 for every multiple of 5, else s),
so a model with stride s reads every (s / cache_stride(s))-th of them. Training draws one random full window per
clip and epoch (a random offset within the stride, a random start, then the augmentations: augment.py), or under
the paper's recipe the authors' one fixed window; evaluation tiles a clip with consecutive windows at offset 0, the
last one ending at the clip's end, and averages their probabilities, as `classify` does with a video (pipeline.py,
timeline.WindowBuffer), or under the paper's recipe scores the clip on that one fixed window, as the authors'
validation and test do.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import torch

from .augment import augment_window
from .configs import ModelConfig
from .features import Window
from .geometry import BASE_FPS, WINDOW_SECONDS, cache_stride
from .models import DanceClassifier, mixed_precision


def steps_per_window(stride: int) -> int:
    """Model steps in a 10 s window at `stride` frames of 30 fps video between steps."""
    return max(1, int(WINDOW_SECONDS * BASE_FPS / stride))


def window_steps(config: ModelConfig) -> tuple[int, int]:
    """(cache samples between model steps, model steps per 10 s window)."""
    return config.stride // cache_stride(config.stride), steps_per_window(config.stride)


def clip_windows(features: Window, every: int, per_window: int, offset: int = 0) -> list[Window]:
    """A clip's consecutive 10 s windows at the model's stride, starting `offset` cache samples in; a shorter
    last window ends at the clip's end instead, overlapping the one before (as `classify` does)."""
    sampled = {stream: array[offset::every] for stream, array in features.items()}
    steps = len(next(iter(sampled.values())))
    starts = [min(start, max(0, steps - per_window)) for start in range(0, max(steps, 1), per_window)]
    return [{stream: array[start:start + per_window] for stream, array in sampled.items()} for start in starts]


def training_window(features: Window, generator: torch.Generator, every: int, per_window: int,
                    augment: Sequence[str] = (), random_window: bool = True, flip: bool = True) -> Window:
    """A clip's random full window: a random offset within the stride, then a random start, then flipped at
    random (unless not `flip`) and `augment`ed (augment.py). (Only a clip shorter than a window gives a shorter
    one; a 1-step tail is never picked on its own.) Not `random_window`: the same window every time, the
    authors' (fixed_window)."""
    if not random_window:
        return augment_window(fixed_window(features, every, per_window), augment, generator, flip)
    total = len(next(iter(features.values())))
    # offsets that still leave a full window (a 251-frame clip has fewer than a 301-frame one)
    full = total - (per_window - 1) * every
    offset = int(torch.randint(min(every, full if full > 0 else total), (1,), generator=generator))
    steps = len(range(offset, total, every))
    start = int(torch.randint(max(1, steps - per_window + 1), (1,), generator=generator))
    return augment_window({stream: array[offset::every][start:start + per_window]
                           for stream, array in features.items()}, augment, generator, flip)


def fixed_window(features: Window, every: int, per_window: int) -> Window:
    """The authors' one window of a clip, the same for training, validation and test (the paper's recipe).
    run.py: frame_select=range(5, 305, 5) for training and validation, range(s, 300 + s, s) at --frame-freq s
    (default 5) for test, frames numbered from 1: its k-th frame is near our cache's sample k * every - 1 (ours
    start at the clip's first frame: each is the cache stride - 1 frames before theirs, 4 at stride 5)."""
    total = len(next(iter(features.values())))
    full = total - (per_window - 1) * every  # offsets that still leave a full window
    offset = min(every - 1, max(0, full - 1))
    return {stream: array[offset::every][:per_window] for stream, array in features.items()}


def batch_windows(windows: list[Window], device: str) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """Windows of unequal length zero-padded at the end: (tensors per stream, the real lengths)."""
    lengths = torch.tensor([len(next(iter(w.values()))) for w in windows])
    tensors = {}
    for stream in windows[0]:
        padded = np.zeros((len(windows), int(lengths.max()), *windows[0][stream].shape[1:]), np.float32)
        for i, window in enumerate(windows):
            padded[i, : len(window[stream])] = window[stream]
        tensors[stream] = torch.from_numpy(padded).to(device)
    return tensors, lengths


@torch.inference_mode()
def per_clip(model: DanceClassifier, clips: Sequence[Window], device: str, forward: Callable | None = None,
             fixed: bool = False) -> list:
    """forward(inputs, lengths) (default: the model) on all the windows of each clip at offset 0, as classify
    tiles a video, or with `fixed` on its one fixed window (fixed_window: the authors' validation and test):
    one result per clip."""
    model.eval()
    every, per_window = window_steps(model.config)
    results = []
    for features in clips:
        windows = [fixed_window(features, every, per_window)] if fixed else clip_windows(features, every, per_window)
        with mixed_precision(model.config, device):
            results.append((forward or model)(*batch_windows(windows, device)))
    return results


def clip_probabilities(model: DanceClassifier, clips: Sequence[Window], device: str,
                       fixed: bool = False) -> np.ndarray:
    """Class probabilities per clip: the mean over all its windows at offset 0 (as classify), or with `fixed`
    those of its one fixed window (fixed_window)."""
    result = np.zeros((len(clips), len(model.config.classes)))
    for i, scores in enumerate(per_clip(model, clips, device, fixed=fixed)):
        result[i] = torch.softmax(scores.float(), dim=-1).mean(0).cpu().numpy()
    return result
