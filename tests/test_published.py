"""The table of published classifier checkpoints (dancestyle/published.py): what `classify` may download unasked."""

import pytest

from dancestyle.configs import MODELS
from dancestyle.published import PUBLISHED, PublishedCheckpoint


def test_every_published_entry_is_a_known_model_pinned_to_a_commit_and_a_hash():
    for model, entry in PUBLISHED.items():  # empty today: publishing adds one reviewed line
        assert entry.model == model and model in MODELS
        assert 0 < entry.test_accuracy <= 1 and entry.trained_on
        assert entry.ref == f"{entry.repo}@{entry.revision}"


@pytest.mark.parametrize("revision, sha256", [("main", "b" * 64), ("a" * 40, "b" * 12), ("A" * 40, "b" * 64)])
def test_an_entry_without_a_full_commit_and_sha256_is_refused(revision, sha256):
    with pytest.raises(ValueError, match="40-hex commit"):
        PublishedCheckpoint("lstm", "org/name", revision, sha256, "Let's Dance v3", 0.6)
