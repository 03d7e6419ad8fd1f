"""The reference pose backend: torchvision's Keypoint R-CNN (ResNet-50 FPN, COCO_V1 weights)."""

from __future__ import annotations

import numpy as np

from .. import cores
from ..errors import WeightsError
from ..geometry import DEFAULT_DETECTOR_SIZE
from . import DEFAULT_SCORE_THRESHOLD, MAX_PEOPLE, RANDOM_PEOPLE

# Proposals the region proposal network hands on, per FPN level before NMS and in all after it (torchvision's
# defaults: 1000 and 1000). Dancers are few and large; the box head costs ~14 MMAC per proposal.
RPN_PROPOSALS_BEFORE_NMS = 300
RPN_PROPOSALS_AFTER_NMS = 100


class KeypointRCNNEstimator:
    """torchvision's Keypoint R-CNN (ResNet-50 FPN, COCO_V1 weights: keypoint AP 65.0, BSD-3-Clause)."""

    def __init__(self, device: str = "cpu", min_size: int = DEFAULT_DETECTOR_SIZE,
                 score_threshold: float = DEFAULT_SCORE_THRESHOLD, random_weights: bool = False,
                 random_people: int = RANDOM_PEOPLE) -> None:
        from torchvision.models.detection import KeypointRCNN_ResNet50_FPN_Weights, keypointrcnn_resnet50_fpn

        cores.apply_to_torch()
        weights = None if random_weights else KeypointRCNN_ResNet50_FPN_Weights.COCO_V1
        # random weights score every box alike: keep a realistic, fixed number of people instead of 20 random ones
        score_threshold, most_people = (0.0, random_people) if random_weights else (score_threshold, MAX_PEOPLE)
        try:
            # The keypoint head runs once per kept box (~3.5 GMAC each): keeping only boxes we would use anyway
            # (score and count) saves most of its cost on CPU.
            self.model = keypointrcnn_resnet50_fpn(weights=weights, weights_backbone=None, min_size=min_size,
                                                   max_size=min_size * 1333 // 800,
                                                   rpn_pre_nms_top_n_test=RPN_PROPOSALS_BEFORE_NMS,
                                                   rpn_post_nms_top_n_test=RPN_PROPOSALS_AFTER_NMS,
                                                   box_score_thresh=score_threshold,
                                                   box_detections_per_img=most_people)
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
