"""The pose stream's input: 2-D skeletons of up to 20 people per frame, 17 COCO keypoints each.

Skeletons come from a `PoseEstimator` (torchvision's Keypoint R-CNN) or from the Let's Dance skeleton JSON
files. Each skeleton is then normalised by its own bounding box to [-1, 1] and packed into the
(people, xy, keypoints) = (20, 2, 17) array the pose encoder reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Protocol

import numpy as np

from ..errors import InputError

KEYPOINT_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)
NUM_KEYPOINTS = len(KEYPOINT_NAMES)
MAX_PEOPLE = 20
DEFAULT_DETECTOR_SIZE = 512  # short side fed to Keypoint R-CNN; see models.md for the speed/quality trade
DEFAULT_SCORE_THRESHOLD = 0.7  # person detections below this are not dancers we trust


class PoseEstimator(Protocol):
    """Anything that turns RGB frames into skeletons: one (people, 17, 2) array of pixel (x, y) per frame,
    people ordered by confidence, best first."""

    def estimate(self, images: list[np.ndarray]) -> list[np.ndarray]: ...


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
