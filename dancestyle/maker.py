"""From decoded samples to per-stream features: the one maker training's cache (extract.py) and classify/watch
(pipeline.py) both run, so that a model sees in use exactly what it was trained on.

Each stream is an entry in STREAM_MAKERS: how its per-sample array is made from the samples (their RGB images, or
the flow stacks decoded with them), and the float type the cache keeps it in. A new stream is one new entry.
Poses read from a dataset's skeleton files need no pixels: extract.py reads those itself.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch

from .features import RGBBackbone, square_frames
from .flow import check_opencv
from .pose import PoseEstimator, PoseSource, create_pose_estimator, pose_input
from .recipe import RANDOM_RGB, FeatureRecipe, frames_side
from .video import SampledFrame, chunked
from .weights import load_resnet18_state_dict

RGB_BATCH = 32
POSE_BATCH = 8  # frames per pose-backend call: bounds memory (TCN samples 60 frames per window)


def build_rgb_backbone(weights_id: str, device: str) -> RGBBackbone:
    """The RGB trunk a weights id names: the pinned ImageNet ResNet-18, or the seeded random one."""
    if weights_id == RANDOM_RGB:
        generator_state = torch.random.get_rng_state()
        torch.manual_seed(0)
        backbone = RGBBackbone(None)
        torch.random.set_rng_state(generator_state)  # do not disturb the caller's random stream
    else:
        backbone = RGBBackbone(load_resnet18_state_dict())
    return backbone.eval().to(device)


class FeatureMaker:
    """Decoded samples -> {stream: array} by a recipe. Its networks are built once, on first need or by ready().
    poses: the pose source to run, default the recipe's (classify runs a backend at its own frame size, with real
    weights or random ones, whatever training's poses came from)."""

    def __init__(self, recipe: FeatureRecipe, device: str, poses: PoseSource | None = None) -> None:
        self.recipe, self.device = recipe, device
        self.poses = poses or recipe.pose
        self.rgb_backbone: RGBBackbone | None = None
        self.estimator: PoseEstimator | None = None
        self.people_max = 0  # the most people the last make() saw in one frame
        self.last_people: list[np.ndarray] = []  # the skeletons it found, (people, 17, 2) a sample (--save-video)

    def ready(self) -> FeatureMaker:
        """Build now what each stream needs (classify: before any video is read, so a missing download or package
        is told first)."""
        for stream in self.recipe.streams:
            if STREAM_MAKERS[stream].prepare is not None:
                STREAM_MAKERS[stream].prepare(self)
        return self

    def make(self, samples: list[SampledFrame], streams: Iterable[str] | None = None,
             timings: dict[str, float] | None = None) -> dict[str, np.ndarray]:
        """The samples' features for `streams` (default the recipe's), in the recipe's stream order; the seconds
        each took are added to timings[stream] where timings has that key."""
        wanted = self.recipe.streams if streams is None else set(streams)
        self.people_max, self.last_people = 0, []
        features = {}
        for stream in self.recipe.streams:
            if stream in wanted:
                started = time.perf_counter()
                features[stream] = STREAM_MAKERS[stream].make(self, samples)
                if timings is not None and stream in timings:
                    timings[stream] += time.perf_counter() - started
        return features

    def _rgb_ready(self) -> None:
        # the RGB trunk the classifier was trained on (a run made offline used the seeded random one)
        if self.rgb_backbone is None and not self.recipe.reads_frames:
            self.rgb_backbone = build_rgb_backbone(self.recipe.rgb_weights, self.device)

    def _pose_ready(self) -> None:
        if self.estimator is None:
            self.estimator = create_pose_estimator(self.poses.backend, self.device, self.poses.frame_size,
                                                   random_weights=self.poses.random_weights)

    def rgb(self, samples: list[SampledFrame]) -> np.ndarray:
        """(T, 512) ResNet-18 features, or (T, side, side, 3) uint8 frames for a model that reads pixels (r3d)."""
        images = [sample.image for sample in samples]
        if self.recipe.reads_frames:
            return square_frames(images, frames_side(self.recipe.form("rgb")), self.recipe.frames_resize)
        self._rgb_ready()
        return np.concatenate([self.rgb_backbone(batch).cpu().numpy() for batch in chunked(images, RGB_BATCH)])

    def pose(self, samples: list[SampledFrame]) -> np.ndarray:
        """(T, 20, 2, 17) skeletons from the pose backend, laid out in the model's form."""
        self._pose_ready()
        images = [sample.image for sample in samples]
        people = [found for batch in chunked(images, POSE_BATCH) for found in self.estimator.estimate(batch)]
        self.people_max = max([len(found) for found in people], default=0)
        self.last_people = people
        form = self.recipe.form("pose")
        return np.stack([pose_input(found, form, (image.shape[1], image.shape[0]))
                         for found, image in zip(people, images)])

    def flow(self, samples: list[SampledFrame]) -> np.ndarray:
        """(T, pairs, 2, grid, grid): the flow stacks decoded with the samples (video.iter_sampled_frames)."""
        return np.stack([sample.flow for sample in samples])


@dataclass(frozen=True)
class StreamMaker:
    make: Callable[[FeatureMaker, list[SampledFrame]], np.ndarray]
    cached_floats: type  # the float type the feature cache keeps the stream in (features.py's cache notes)
    prepare: Callable[[FeatureMaker], None] | None = None  # builds or checks what make() will need
    needs_images: bool = True  # made from the samples' decoded images
    needs_flow: bool = False  # made from the flow stacks decoded with the samples (the recipe's flow settings)


STREAM_MAKERS: dict[str, StreamMaker] = {
    "rgb": StreamMaker(FeatureMaker.rgb, np.float16, FeatureMaker._rgb_ready),
    "pose": StreamMaker(FeatureMaker.pose, np.float32, FeatureMaker._pose_ready),
    # flow stacks are made while decoding (video.py, flow.py): only OpenCV is needed, before any video is opened
    "flow": StreamMaker(FeatureMaker.flow, np.float16, lambda maker: check_opencv(), needs_images=False,
                        needs_flow=True),
}


def cached_form(stream: str, features: np.ndarray) -> np.ndarray:
    """A stream's features as its cache keeps them (pixels stay uint8)."""
    if features.dtype.kind != "f":
        return features
    return features.astype(STREAM_MAKERS[stream].cached_floats)
