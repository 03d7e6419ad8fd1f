"""The pose stream's input: 2-D skeletons of up to 20 people per frame, 17 COCO keypoints each.

Skeletons come from a pose backend (a `PoseEstimator`, chosen by name from `POSE_BACKENDS`) or from the Let's
Dance skeleton JSON files. Each skeleton is then normalised by its own bounding box to [-1, 1] and packed into
the (people, xy, keypoints) = (20, 2, 17) array the pose encoder reads.

This module imports no torch: the CLI reads the registry to build its options.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import InputError, UsageError
from ..geometry import DEFAULT_DETECTOR_SIZE

KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
MAX_PEOPLE = 20
DEFAULT_SCORE_THRESHOLD = 0.7  # Keypoint R-CNN person detections below this are not dancers we trust
RANDOM_PEOPLE = 5  # people a random-weights backend reports in every frame: a realistic scene, not 20 random boxes


class PoseEstimator(Protocol):
    """Anything that turns RGB frames into skeletons: one (people, 17, 2) array of pixel (x, y) per frame,
    at most 20 people, ordered by confidence, best first."""

    def estimate(self, images: list[np.ndarray]) -> list[np.ndarray]: ...


def _rtmpose(size: str) -> Callable[[str, int, bool], PoseEstimator]:
    def create(device: str, frame_size: int, random_weights: bool) -> PoseEstimator:
        from .rtmpose import RTMPoseEstimator

        return RTMPoseEstimator(size, device, random_weights=random_weights)  # crops: its own input size

    return create


def _rtmpose_cached(size: str) -> Callable[[], bool]:
    def cached() -> bool:
        from ..weights import RTMDET_NANO, RTMPOSE, pinned_file_here

        return all(pinned_file_here(pin.archive) for pin in (RTMDET_NANO, RTMPOSE[size]))

    return cached


def _rcnn(device: str, frame_size: int, random_weights: bool) -> PoseEstimator:
    from .rcnn import KeypointRCNNEstimator

    return KeypointRCNNEstimator(device, min_size=frame_size, random_weights=random_weights)


def _rcnn_cached() -> bool:
    import torch.hub
    from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights

    file = KeypointRCNN_ResNet50_FPN_Weights.COCO_V1.url.rsplit("/", 1)[-1]
    return (Path(torch.hub.get_dir()) / "checkpoints" / file).is_file()


@dataclass(frozen=True)
class PoseBackend:
    """One registered pose backend: what it is, where its weights come from, how good it is (published), and how
    to build it (create(device, frame_size, random_weights)) and tell whether its weights are here (cached())."""

    name: str
    summary: str
    weights: str
    license: str
    coco_ap: str  # COCO val2017 keypoint AP as published (models.md gives the conditions)
    create: Callable[[str, int, bool], PoseEstimator] = field(repr=False, compare=False)
    cached: Callable[[], bool] = field(repr=False, compare=False)

    def to_json(self) -> dict:
        """What `dancestyle models` lists of it."""
        return {"name": self.name, "summary": self.summary, "weights": self.weights, "license": self.license,
                "coco_ap": self.coco_ap}


POSE_BACKENDS: dict[str, PoseBackend] = {
    "rtmpose-t": PoseBackend(
        "rtmpose-t", "RTMDet-nano finds people, RTMPose-t places keypoints (onnxruntime)",
        "Hub Tau-J/RTMPose (OpenMMLab ONNX)", "Apache-2.0", "65.9", _rtmpose("t"), _rtmpose_cached("t")),
    "rtmpose-s": PoseBackend(
        "rtmpose-s", "RTMDet-nano finds people, RTMPose-s places keypoints (onnxruntime)",
        "Hub Tau-J/RTMPose (OpenMMLab ONNX)", "Apache-2.0", "69.7", _rtmpose("s"), _rtmpose_cached("s")),
    "rcnn": PoseBackend(
        "rcnn", "Keypoint R-CNN ResNet-50 FPN: the reference, slow on CPU (torch)",
        "torchvision COCO_V1 (download.pytorch.org)", "BSD-3-Clause", "65.0", _rcnn, _rcnn_cached),
}
DEFAULT_POSE = "rtmpose-s"  # chosen by benchmarks/pose_backends.py: see models.md
# Checkpoints written before pose backends existed recorded this estimator, which is `rcnn`.
LEGACY_ESTIMATOR = "keypointrcnn_resnet50_fpn.COCO_V1"


def available_pose_backends() -> list[str]:
    return list(POSE_BACKENDS)


def pose_backend(name: str) -> PoseBackend:
    """The registered backend `name`; an unknown name is a usage error that lists the valid ones."""
    if name not in POSE_BACKENDS:
        raise UsageError(f"Unknown pose backend {name!r}.", f"Use one of: {', '.join(POSE_BACKENDS)}.")
    return POSE_BACKENDS[name]


def create_pose_estimator(name: str = DEFAULT_POSE, device: str = "cpu", frame_size: int = DEFAULT_DETECTOR_SIZE,
                          random_weights: bool = False) -> PoseEstimator:
    """Build backend `name` (downloading its weights on first use unless random_weights)."""
    return pose_backend(name).create(device, frame_size, random_weights)


def pose_weights_cached(name: str) -> bool:
    """Whether backend `name`'s weights are already on this machine (nothing is downloaded)."""
    return pose_backend(name).cached()


@dataclass(frozen=True)
class PoseSource:
    """Where a run's poses come from: the dataset's skeleton files, or a backend at a frame size (random or not).
    Its `id` names feature caches and is what checkpoints record as training.pose_source."""

    backend: str | None  # None: the dataset's skeleton files
    frame_size: int = DEFAULT_DETECTOR_SIZE
    random_weights: bool = False

    @property
    def id(self) -> str:
        if self.backend is None:
            return "dataset"
        return f"{self.backend}-{'random-' if self.random_weights else ''}{self.frame_size}"

    @classmethod
    def parse(cls, source_id: str) -> PoseSource:
        """The inverse of `id`; "estimator-[random-]<size>" (before backends existed) is Keypoint R-CNN."""
        if source_id == "dataset":
            return cls(None)
        rest, _, size = source_id.rpartition("-")
        random_weights = rest.endswith("-random") or rest == "estimator-random"
        backend = rest.removesuffix("-random")
        return cls("rcnn" if backend in ("estimator", "estimator-random") else backend, int(size), random_weights)


def read_letsdance_pose(path: str | Path) -> np.ndarray:
    """Read one Let's Dance skeleton JSON file into a (people, 17, 2) array of pixel coordinates.

    The file is a list of people; each is ["personN", [name, [x, y]], ...]. Keypoints are looked up by
    name, not position. An empty list (nobody found) gives a (0, 17, 2) array.
    """
    path = Path(path)
    try:
        people = json.loads(path.read_text() or "[]")
    except (OSError, ValueError) as e:
        raise InputError(f"{path}: not a readable skeleton JSON file ({e}).", "Re-extract the dataset.") from e
    skeletons = np.zeros((len(people), NUM_KEYPOINTS, 2), dtype=np.float32)
    for person_index, person in enumerate(people):
        for entry in person:
            if isinstance(entry, list) and len(entry) == 2 and entry[0] in KEYPOINT_NAMES:
                skeletons[person_index, KEYPOINT_NAMES.index(entry[0])] = entry[1][:2]
    return skeletons


def normalise_skeletons(skeletons: np.ndarray) -> np.ndarray:
    """Centre and scale each skeleton by its own bounding box so x and y each lie in [-1, 1].

    skeletons: (people, 17, 2). An axis whose box has zero size maps to 0.
    """
    skeletons = np.asarray(skeletons, dtype=np.float32)
    if skeletons.size == 0:
        return skeletons.reshape(0, NUM_KEYPOINTS, 2)
    low = skeletons.min(axis=1, keepdims=True)
    high = skeletons.max(axis=1, keepdims=True)
    size = high - low
    scaled = np.divide(2 * (skeletons - low), size, out=np.zeros_like(skeletons), where=size > 0) - 1
    return np.where(size > 0, scaled, 0).astype(np.float32)


def pose_array(skeletons: np.ndarray, max_people: int = MAX_PEOPLE) -> np.ndarray:
    """Normalise and pack one frame's skeletons into the encoder's (max_people, 2, 17) layout, zero-padded."""
    packed = np.zeros((max_people, 2, NUM_KEYPOINTS), dtype=np.float32)
    normalised = normalise_skeletons(skeletons[:max_people])
    packed[: len(normalised)] = normalised.transpose(0, 2, 1)
    return packed


FRAME_FORM = "frame"  # a model's pose input in frame coordinates (configs.ModelConfig.stream_forms)


def frame_pose_array(skeletons: np.ndarray, size: tuple[int, int], max_people: int = MAX_PEOPLE) -> np.ndarray:
    """Pack one frame's pixel skeletons into (max_people, 2, 17) in frame coordinates, zero-padded: centred on
    the frame, half its long side = 1, so the frame keeps its shape and where the dancers are and how big they
    are is kept (what limb heat-maps draw). size: the frame's (width, height) in the skeletons' pixels.
    Mirroring negates x, as for box-normalised skeletons."""
    width, height = size
    packed = np.zeros((max_people, 2, NUM_KEYPOINTS), dtype=np.float32)
    people = np.asarray(skeletons, np.float32)[:max_people].reshape(-1, NUM_KEYPOINTS, 2)
    centred = (people - np.array([width / 2, height / 2], np.float32)) / (max(width, height) / 2)
    packed[: len(centred)] = centred.transpose(0, 2, 1)
    return packed


def pose_input(skeletons: np.ndarray, form: str, size: tuple[int, int]) -> np.ndarray:
    """One frame's skeletons as a model reads them: each in its own box (the usual form, "") or, for form
    "frame", in frame coordinates (size: the frame's (width, height))."""
    if form == FRAME_FORM:
        return frame_pose_array(skeletons, size)
    if form:
        raise ValueError(f"unknown pose form {form!r}")
    return pose_array(skeletons)
