"""The catalogue behind `dancestyle models`: every registered model and pose backend, where its weights come
from and whether they are on this machine already. Nothing is downloaded."""

from __future__ import annotations

from huggingface_hub import try_to_load_from_cache

from .checkpoints import WEIGHTS_FILE, newest_run
from .models import MODELS, DanceClassifier, parameter_count
from .pose import DEFAULT_POSE, POSE_BACKENDS
from .windows import steps_per_window


def describe_models() -> list[dict]:
    """One row per registered model: streams, stride, parameter count, weight source, whether cached."""
    rows = []
    for name, spec in MODELS.items():
        config = spec.config()
        local = newest_run(name)
        cached = local is not None or isinstance(try_to_load_from_cache(spec.hub_repo, WEIGHTS_FILE), str)
        rows.append({
            "kind": "model", "name": name, "streams": list(config.streams), "stride": config.stride,
            "frames_per_window": steps_per_window(config.stride),
            "parameters": parameter_count(DanceClassifier(config)),
            "weights": str(local) if local else spec.hub_repo, "cached": cached, "summary": spec.summary,
        })
    return rows


def describe_pose_backends() -> list[dict]:
    """One row per pose backend: its weights, licence, published COCO keypoint AP, whether cached, default."""
    return [{"kind": "pose", **backend.to_json(), "cached": backend.cached(), "default": name == DEFAULT_POSE}
            for name, backend in POSE_BACKENDS.items()]
