"""The catalogue behind `dancestyle models`: every registered model and pose backend, where its weights come
from and whether they are on this machine already. Nothing is downloaded."""

from __future__ import annotations

from huggingface_hub import try_to_load_from_cache

from .checkpoints import WEIGHTS_FILE, newest_run
from .models import MODELS, DanceClassifier, parameter_count
from .pose import DEFAULT_POSE, POSE_BACKENDS
from .published import published_checkpoint
from .windows import steps_per_window


NOT_PUBLISHED = "not published"  # the `weights` of a model with no local run and no published checkpoint


def describe_models() -> list[dict]:
    """One row per registered model: streams, stride, parameter count, weight source, whether cached."""
    rows = []
    for name, spec in MODELS.items():
        config = spec.config()
        weights, cached = _weights_source(name)
        rows.append({
            "kind": "model", "name": name, "streams": list(config.streams), "stride": config.stride,
            "frames_per_window": steps_per_window(config.stride),
            "parameters": parameter_count(DanceClassifier(config)),
            "weights": weights, "cached": cached, "summary": spec.summary,
        })
    return rows


def _weights_source(model: str) -> tuple[str, bool]:
    """Where `classify` would take the model's weights from (checkpoints.classifier_source), and whether they are
    on this machine: the newest local run, else the published checkpoint (repo@revision), else not published."""
    local = newest_run(model)
    if local is not None:
        return str(local), True
    published = published_checkpoint(model)
    if published is None:
        return NOT_PUBLISHED, False
    cached = try_to_load_from_cache(published.repo, WEIGHTS_FILE, revision=published.revision)
    return published.ref, isinstance(cached, str)


def describe_pose_backends() -> list[dict]:
    """One row per pose backend: its weights, licence, published COCO keypoint AP, whether cached, default."""
    return [{"kind": "pose", **backend.to_json(), "cached": backend.cached(), "default": name == DEFAULT_POSE}
            for name, backend in POSE_BACKENDS.items()]
