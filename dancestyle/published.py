"""The classifier checkpoints this project publishes: the only Hub repos `classify` reaches for without --weights.

Empty: no checkpoint is published yet. Until one is, a model with no local training run has no default weights,
so no one who registers a Hub name can serve them to every user. Publishing a checkpoint is a one-line, reviewed
change to PUBLISHED: its repo, pinned to a commit, with the sha256 of its model.safetensors (checked on download),
what it was trained on and its test accuracy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .weights import COMMIT_ID

SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class PublishedCheckpoint:
    """One published classifier checkpoint: a Hub repo at a fixed commit whose weights have a known sha256."""

    model: str  # a name in configs.MODELS
    repo: str  # org/name on the Hub
    revision: str  # the 40-hex commit: a branch or tag could be moved to other weights
    sha256: str  # of its model.safetensors
    trained_on: str  # the dataset and split, e.g. "Let's Dance v3, train split"
    test_accuracy: float  # on that dataset's test split, 0..1

    def __post_init__(self) -> None:
        # a mistyped pin must fail at import, not on a user's download
        if not COMMIT_ID.match(self.revision) or not SHA256.match(self.sha256):
            raise ValueError(f"{self.model}: revision must be a 40-hex commit and sha256 64 hex digits.")

    @property
    def ref(self) -> str:
        """repo@revision, as --weights takes it."""
        return f"{self.repo}@{self.revision}"


# model name -> its published checkpoint
PUBLISHED: dict[str, PublishedCheckpoint] = {}


def published_checkpoint(model: str) -> PublishedCheckpoint | None:
    """The published checkpoint of `model`, if there is one."""
    return PUBLISHED.get(model)
