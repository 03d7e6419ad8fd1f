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

from .errors import InputError, WeightsError

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


class KeypointRCNNEstimator:
    """torchvision's Keypoint R-CNN (ResNet-50 FPN, COCO_V1 weights: keypoint AP 65.0, BSD-3-Clause)."""

    def __init__(self, device: str = "cpu", min_size: int = DEFAULT_DETECTOR_SIZE,
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD, random_weights: bool = False) -> None:
        from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights, keypointrcnn_resnet50_fpn

        weights = None if random_weights else KeypointRCNN_ResNet50_FPN_Weights.COCO_V1
        try:
            # The keypoint head runs once per kept box: keeping only boxes we would use anyway (score and
            # count) saves most of its cost on CPU.
            self.model = keypointrcnn_resnet50_fpn(weights=weights, weights_backbone=None, min_size=min_size,
                                                   max_size=min_size * 1333 // 800,
                                                   box_score_thresh=score_threshold,
                                                   box_detections_per_img=MAX_PEOPLE)
        except (OSError, RuntimeError) as e:  # URLError is an OSError; a bad file is a RuntimeError
            raise WeightsError(
                f"The Keypoint R-CNN weights are not in torch's cache and could not be downloaded ({e}).",
                "Run once with internet access (they go to $TORCH_HOME/hub/checkpoints), or use "
                "--random-weights for a smoke test.") from e
        self.model.eval().to(device)
        self.device = device
        self.min_size = min_size
        self.score_threshold = score_threshold

    def estimate(self, images: list[np.ndarray]) -> list[np.ndarray]:
        import torch

        tensors = [torch.from_numpy(image).to(self.device).permute(2, 0, 1).float().div_(255) for image in images]
        # never upscale a small video: it costs time and adds no detail
        short_side = min(min(image.shape[:2]) for image in images)
        self.model.transform.min_size = (min(self.min_size, short_side),)
        with torch.inference_mode():
            outputs = self.model(tensors)
        people = []
        for output in outputs:  # torchvision returns detections sorted by score, best first
            keep = output["scores"] >= self.score_threshold
            keypoints = output["keypoints"][keep][:MAX_PEOPLE, :, :2]
            people.append(keypoints.float().cpu().numpy())
        return people


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
