"""A style timeline: which windows of a video a classifier scores, and the runs of one style they make.

A video is scored in windows of `window` sampled frames (10 s, the training clips' length) starting every `hop`
frames. Each sampled frame's features are computed once and shared by every window that holds it
(`WindowBuffer`), so the cost grows with the video's length, not with the overlap. Windows start at 0, hop,
2 hop, ... while they fit; when the last of them stops short of the video's end, one more window ends at the end
(it reaches back over frames already seen: every window the model scores is a full one, like those it was
trained on). A video shorter than one window is one window of what there is.

Segments merge consecutive windows of one style after a smoothing in which a single window whose two neighbours
agree with each other takes their label, so one odd window never splits a run. Where the style changes, the
boundary is halfway between the centres of the windows either side (with hop = window: the windows' common edge).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import asdict, dataclass

import numpy as np

from .errors import UsageError
from .geometry import WINDOW_SECONDS



@dataclass
class ScoredWindow:
    """One scored window: seconds into the video, the best style, its score and the top k."""

    start: float
    end: float
    label: str
    score: float
    top_k: list[dict]
    probabilities: np.ndarray | None = None  # every class, for segments' mean scores (not in JSON)
    dropped: int = 0  # samples `watch` dropped to keep up with real time (their features repeat the one before)

    def to_json(self) -> dict:
        record = asdict(self)
        del record["probabilities"], record["dropped"]
        return record


@dataclass
class Segment:
    """A run of one style: seconds into the video, and the style's mean score over the run's windows."""

    start: float
    end: float
    label: str
    score: float

    def to_json(self) -> dict:
        return asdict(self)


class WindowBuffer:
    """The last `window` frames' features, handing out each full window as it completes.

    push(rows) takes the features of the next sampled frames ({stream: tensor (n, ...)}, n >= 1) and returns the
    windows completed by them, each as (first frame index, {stream: tensor (window, ...)}); finish() returns the
    window that reaches the end when the others stopped short of it (or the only, shorter one of a short video).
    Memory holds one window of features, whatever the video's length.
    """

    def __init__(self, window: int, hop: int) -> None:
        if window < 1 or hop < 1:
            raise ValueError(f"window and hop are counts of frames >= 1 (got {window}, {hop})")
        self.window, self.hop = window, hop
        self.rows: deque[dict] = deque(maxlen=window)  # one {stream: tensor (...)} per frame
        self.seen = 0  # frames pushed so far
        self.last_end = 0  # end (frame index, exclusive) of the last window handed out

    def push(self, features: dict) -> list[tuple[int, dict]]:
        import torch

        completed = []
        count = len(next(iter(features.values())))
        for i in range(count):
            self.rows.append({stream: tensor[i] for stream, tensor in features.items()})
            self.seen += 1
            first = self.seen - self.window
            if first >= 0 and first % self.hop == 0:
                completed.append((first, self._stacked(torch)))
                self.last_end = self.seen
        return completed

    def finish(self) -> list[tuple[int, dict]]:
        import torch

        if self.seen == 0 or self.last_end == self.seen:
            return []
        self.last_end = self.seen
        return [(max(0, self.seen - self.window), self._stacked(torch))]

    def _stacked(self, torch) -> dict:
        return {stream: torch.stack([row[stream] for row in self.rows]) for stream in self.rows[0]}


def check_hop(hop: float) -> None:
    """--hop SECONDS: more than 0 and at most one window."""
    if not 0 < hop <= WINDOW_SECONDS:
        raise UsageError(f"--hop {hop:g}: it must be more than 0 and at most the window, {WINDOW_SECONDS:g} s.",
                         "Windows of 10 s overlap when the hop is shorter, e.g. --hop 5.")


def window_span(first: int, frames: int, interval: float) -> tuple[float, float]:
    """Seconds covered by `frames` sampled frames from index `first`: each frame stands for its interval."""
    return round(first * interval, 3), round((first + frames) * interval, 3)


def smoothed_labels(labels: list[str]) -> list[str]:
    """A window whose two neighbours agree with each other, and not with it, takes their label."""
    smoothed = list(labels)
    for i in range(1, len(labels) - 1):
        if labels[i - 1] == labels[i + 1] != labels[i]:
            smoothed[i] = labels[i - 1]
    return smoothed


def segments(windows: list[ScoredWindow], classes: list[str]) -> list[Segment]:
    """Runs of one (smoothed) style over consecutive windows, from the first window's start to the last's end."""
    if not windows:
        return []
    labels = smoothed_labels([window.label for window in windows])
    runs: list[list[int]] = []
    for i, label in enumerate(labels):
        if runs and labels[runs[-1][0]] == label:
            runs[-1].append(i)
        else:
            runs.append([i])
    result = []
    for number, run in enumerate(runs):
        label = labels[run[0]]
        start = windows[0].start if number == 0 else _boundary(windows[run[0] - 1], windows[run[0]])
        end = windows[-1].end if number == len(runs) - 1 else _boundary(windows[run[-1]], windows[run[-1] + 1])
        score = float(np.mean([_score_of(windows[i], label, classes) for i in run]))
        result.append(Segment(start, end, label, round(score, 4)))
    return result


def _boundary(before: ScoredWindow, after: ScoredWindow) -> float:
    return round(((before.start + before.end) / 2 + (after.start + after.end) / 2) / 2, 3)


def _score_of(window: ScoredWindow, label: str, classes: list[str]) -> float:
    if window.probabilities is not None:
        return float(window.probabilities[classes.index(label)])
    return next((entry["score"] for entry in window.top_k if entry["label"] == label), 0.0)


def clock(seconds: float) -> str:
    """m:ss, or h:mm:ss from an hour on."""
    whole = int(round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def strip_cells(segment_list: list[Segment], width: int) -> Iterator[str | None]:
    """The style at the middle of each of `width` equal slices of the timeline."""
    if not segment_list:
        return
    start, end = segment_list[0].start, segment_list[-1].end
    for cell in range(width):
        moment = start + (cell + 0.5) * (end - start) / width
        yield next((s.label for s in segment_list if s.start <= moment < s.end), segment_list[-1].label)
