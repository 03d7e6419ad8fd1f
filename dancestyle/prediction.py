"""What classify and evaluate report for a video: its Prediction, and the styles ranked by probability."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from .timeline import Segment, ScoredWindow


@dataclass
class Prediction:
    """The result for one video. `timings` splits `seconds` into decode / pose / rgb / model."""

    path: str
    label: str
    score: float
    top_k: list[dict]
    model: str
    frames: int
    people_max: int
    seconds: float
    random_weights: bool
    window_count: int = 1
    timings: dict[str, float] = field(default_factory=dict)
    windows: list[ScoredWindow] | None = None  # with timeline=True: every scored window, in order
    segments: list[Segment] | None = None  # with timeline=True: runs of one style (timeline.py)
    truncated: bool = False  # the input ended early (video.VideoEnd): what arrived was classified

    def to_json(self) -> dict:
        """The documented JSON Lines record (README: "JSON output"); "windows" and "segments" with a timeline,
        "truncated": true for an input that ended early."""
        record = asdict(self)
        del record["window_count"], record["timings"], record["windows"], record["segments"]
        if not self.truncated:
            del record["truncated"]
        if self.windows is not None:
            record["windows"] = [window.to_json() for window in self.windows]
            record["segments"] = [segment.to_json() for segment in self.segments or []]
        return record


def rank_styles(probabilities: np.ndarray, classes: list[str], top_k: int) -> list[dict]:
    """The top_k styles, best first, as [{"label", "score"}] with scores rounded to 4 decimals."""
    order = np.argsort(-probabilities)[: max(1, top_k)]
    return [{"label": classes[i], "score": round(float(probabilities[i]), 4)} for i in order]
