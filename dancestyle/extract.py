"""Features for a whole dataset: read each clip's frames, run the streams, cache the result per clip.

Resumable (a clip whose cache file exists is skipped; files land by rename), batched, on any device. Pose comes
from the dataset's skeleton files (Let's Dance) or from a pose backend (`pose_source="estimator"`, and always
for the <style>/<video> layout, which has no skeleton files). Each clip's frames are decoded once, at the size
`classify` decodes them (short side `frame_size`), and feed every stream: the RGB input is the one classify sees.
Flow is computed from the pixels of frame folders and videos alike (flow.py), as `classify` computes it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from .configs import STREAM_NAMES
from .data import Clip, DatasetIndex
from .errors import UsageError
from .features import (CACHE_STRIDE, FRAMES_FORM, RGBBackbone, StreamSpec, cache_path, frames_side, read_cached,
                       square_frames, write_cached)
from .flow import DEFAULT_FLOW, FlowSettings, MotionStacks, to_grey
from .pose import (DEFAULT_DETECTOR_SIZE, DEFAULT_POSE, PoseEstimator, PoseSource, create_pose_estimator, pose_input,
                   read_letsdance_pose)
from .video import BASE_FPS, SampledFrame, chunked, iter_sampled_frames, sample_interval
from .weights import RESNET18, load_resnet18_state_dict

RANDOM_RGB = "random-seed-0"  # a random but reproducible ResNet-18, for offline runs
RGB_BATCH = 32
POSE_BATCH = 8  # frames per pose-backend call: bounds memory (TCN samples 60 frames per window)

Progress = Callable[[str, int, int], None]  # (what, done, total)


def rgb_weights_id(random_weights: bool) -> str:
    return RANDOM_RGB if random_weights else f"{RESNET18.repo}@{RESNET18.revision}"


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


@dataclass
class FeatureSet:
    """Which cached streams a run reads, and how to get one clip's features."""

    root: Path
    specs: dict[str, StreamSpec]

    def load(self, clip: Clip) -> dict[str, np.ndarray]:
        return {stream: read_cached(cache_path(self.root, spec, clip.key)) for stream, spec in self.specs.items()}


def rgb_source_id(rgb_weights: str, frame_size: int) -> str:
    """The RGB cache key: the backbone's weights and the size its frames were decoded at."""
    return f"{rgb_weights}@{frame_size}px"


def feature_specs(index: DatasetIndex, streams: list[str], rgb_weights: str, pose_source: str,
                  pose: str = DEFAULT_POSE, frame_size: int = DEFAULT_DETECTOR_SIZE,
                  random_detector: bool = False, flow: FlowSettings = DEFAULT_FLOW,
                  forms: dict[str, str] | None = None) -> dict[str, StreamSpec]:
    """What produces each stream for training. Pose comes from "dataset" files or from backend `pose`; flow from
    the clip's pixels with `flow` (its id keys the cache); forms: the model's own layouts of streams
    (ModelConfig.stream_forms)."""
    if pose_source not in ("dataset", "estimator"):
        raise UsageError(f"--pose-source {pose_source}: use dataset or estimator.")
    if index.layout == "videos":
        pose_source = "estimator"  # videos come without skeleton files
    poses = PoseSource(None) if pose_source == "dataset" else PoseSource(pose, frame_size, random_detector)
    return stream_specs(streams, rgb_weights, frame_size, poses, flow, forms)


def stream_specs(streams: list[str], rgb_weights: str, frame_size: int, poses: PoseSource,
                 flow: FlowSettings, forms: dict[str, str] | None = None) -> dict[str, StreamSpec]:
    """The spec of each of `streams`: what training made a checkpoint's features with, and evaluate remakes.
    forms: the model's own layouts of streams (ModelConfig.stream_forms), each a cache kind of its own."""
    forms = forms or {}
    # frames (pixels) do not depend on the ResNet weights that make rgb features
    rgb = f"frames@{frame_size}px" if streams_read_frames(forms) else rgb_source_id(rgb_weights, frame_size)
    sources = {"rgb": rgb, "pose": poses.id, "flow": flow.id}
    return {stream: StreamSpec(stream, sources[stream], form=forms.get(stream, ""))
            for stream in STREAM_NAMES if stream in streams}


def streams_read_frames(forms: dict[str, str]) -> bool:
    """Whether a model's rgb stream is its frames' pixels (r3d) rather than ResNet-18 features."""
    return bool(forms.get("rgb", "").startswith(FRAMES_FORM))


def sample_positions(frame_numbers: list[int], frame_rate: int = BASE_FPS,
                     interval: Fraction = Fraction(CACHE_STRIDE, BASE_FPS)) -> list[int]:
    """Positions in a clip's frame list of the frames on screen at instants 0, interval, 2 interval, ... seconds
    from its first frame, up to its end: the instants `classify` samples a video at (video.iter_sampled_frames),
    whatever the frame rate. Frame i (counted from the first) is on screen from i / frame_rate s; like the video
    path, a frame starting within an eighth of a frame after an instant counts as on screen at it. A missing frame
    is stood in for by the last one before it.
    """
    first, rate = frame_numbers[0], Fraction(frame_rate)
    duration = Fraction(frame_numbers[-1] - first + 1) / rate
    slack = 1 / (8 * rate)
    positions, position, step = [], 0, 0
    while step == 0 or step * interval + slack < duration:
        target = first + math.floor(step * interval * rate + Fraction(1, 8))
        while position + 1 < len(frame_numbers) and frame_numbers[position + 1] <= target:
            position += 1
        positions.append(position)
        step += 1
    return positions


def load_frame(path: Path, max_short_side: int) -> np.ndarray:
    """Decode a JPEG at reduced size when it is much larger than needed (JPEG's draft mode), as RGB."""
    from PIL import Image

    with Image.open(path) as image:
        image.draft("RGB", (max_short_side, max_short_side))  # scale by 1/2, 1/4 or 1/8 while decoding
        image = image.convert("RGB")
        short = min(image.size)
        if short > max_short_side:
            scale = max_short_side / short
            image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
        return np.array(image)  # writable: torch will not wrap a read-only array


def clip_samples(clip: Clip, max_short_side: int, flow: FlowSettings | None = None, images: bool = True
                 ) -> list[SampledFrame]:
    """A clip's samples at the cache stride, as `classify` samples a video: each frame's RGB image (short side
    `max_short_side`; None when `images` is False for a frame folder) and, with `flow`, its flow stack."""
    interval = sample_interval(CACHE_STRIDE)
    if clip.video is not None:
        return list(iter_sampled_frames(clip.video, interval, max_short_side, flow=flow))
    positions = sample_positions(clip.frame_numbers, clip.frame_rate)
    samples = [SampledFrame(index, float(index * interval),
                            load_frame(clip.frames[position], max_short_side) if images else None)
               for index, position in enumerate(positions)]
    if flow is not None:
        for sample, stack in folder_flow(clip, flow, interval):
            samples[sample].flow = stack
    return samples


def folder_flow(clip: Clip, flow: FlowSettings, interval: Fraction) -> list[tuple[int, np.ndarray]]:
    """The flow stacks of a frame folder's samples: its frames fed to flow.MotionStacks at their times, loaded
    only when a pair needs them (the sampling rule's slack is sample_positions' eighth of a frame)."""
    first, rate = clip.frame_numbers[0], Fraction(clip.frame_rate)
    stacks = MotionStacks(flow, interval, slack=1 / (8 * rate))
    done = []
    for number, path in zip(clip.frame_numbers, clip.frames):
        done += stacks.push((number - first) / rate, lambda p=path: to_grey(load_frame(p, flow.size), flow.size))
    return done + stacks.finish((clip.frame_numbers[-1] - first + 1) / rate)


def dataset_poses(clip: Clip, form: str = "") -> np.ndarray:
    """(T, 20, 2, 17) from the clip's skeleton files (in pose_input's `form`); a missing file counts as an empty
    frame. The files hold pixels of the clip's frames, so the frame size comes from its first frame's header."""
    size = (0, 0)
    if form:
        from PIL import Image

        with Image.open(clip.frames[0]) as image:
            size = image.size
    arrays = []
    for position in sample_positions(clip.frame_numbers, clip.frame_rate):
        path = clip.poses[position]
        people = read_letsdance_pose(path) if path is not None else np.zeros((0, 17, 2), np.float32)
        arrays.append(pose_input(people, form, size))
    return np.stack(arrays)


class Extractor:
    """Builds each network once, on first need; decodes each clip once for all its streams."""

    def __init__(self, device: str, rgb_weights: str, frame_size: int, flow: FlowSettings = DEFAULT_FLOW) -> None:
        self.device, self.rgb_weights, self.frame_size, self.flow = device, rgb_weights, frame_size, flow
        self._rgb: RGBBackbone | None = None
        self._estimators: dict[str, PoseEstimator] = {}

    def features(self, clip: Clip, specs: dict[str, StreamSpec]) -> dict[str, np.ndarray]:
        """The clip's features for each stream in `specs` (pose from files needs no pixels)."""
        poses = PoseSource.parse(specs["pose"].source) if "pose" in specs else None
        needs_images = "rgb" in specs or (poses is not None and poses.backend is not None)
        flow = self.flow if "flow" in specs else None
        samples = clip_samples(clip, self.frame_size, flow, images=needs_images) if needs_images or flow else []
        images = [sample.image for sample in samples]
        result = {}
        if flow is not None:
            result["flow"] = np.stack([sample.flow for sample in samples]).astype(np.float16)
        if "rgb" in specs:
            form = specs["rgb"].form
            result["rgb"] = square_frames(images, frames_side(form)) if form else self.rgb(images)
        if poses is not None:
            form = specs["pose"].form
            result["pose"] = dataset_poses(clip, form) if poses.backend is None else self.pose(images, poses, form)
        return result

    def rgb(self, images: list[np.ndarray]) -> np.ndarray:
        if self._rgb is None:
            self._rgb = build_rgb_backbone(self.rgb_weights, self.device)
        chunks = [self._rgb(batch).cpu().numpy() for batch in chunked(images, RGB_BATCH)]
        return np.concatenate(chunks).astype(np.float16)

    def pose(self, images: list[np.ndarray], source: PoseSource, form: str = "") -> np.ndarray:
        if source.id not in self._estimators:
            self._estimators[source.id] = create_pose_estimator(source.backend, self.device, source.frame_size,
                                                                random_weights=source.random_weights)
        estimator = self._estimators[source.id]
        people = [p for batch in chunked(images, POSE_BATCH) for p in estimator.estimate(batch)]
        return np.stack([pose_input(p, form, (image.shape[1], image.shape[0])) for p, image in zip(people, images)])


def extract_features(index: DatasetIndex, specs: dict[str, StreamSpec], device: str = "cpu",
                     progress: Progress | None = None, rgb_weights: str = "", frame_size: int = DEFAULT_DETECTOR_SIZE,
                     clips: list[Clip] | None = None, flow: FlowSettings = DEFAULT_FLOW,
                     shard: tuple[int, int] = (0, 1)) -> FeatureSet:
    """Make sure every clip (of `clips`, default all of `index`) has cached features for every stream in `specs`;
    skip those done. Each spec says how its stream is made, so features made another way are never reused.
    shard=(rank, world): this process makes only every world-th clip from its rank on (the others make the rest,
    into the same cache); each file is written whole (atomically), so a stopped process leaves none
    half-written and a run again makes only what is missing."""
    extractor = Extractor(device, rgb_weights, frame_size, flow)
    rank, world = shard
    todo = []
    for clip in (index.clips if clips is None else clips)[rank::world]:  # the same split whatever is cached
        missing = {stream: spec for stream, spec in specs.items()
                   if not cache_path(index.root, spec, clip.key).is_file()}
        if missing:
            todo.append((clip, missing))
    what = "+".join(sorted({stream for _, missing in todo for stream in missing})) or "no"
    for done, (clip, missing) in enumerate(todo, 1):
        with torch.inference_mode():
            features = extractor.features(clip, missing)
        for stream, spec in missing.items():
            write_cached(cache_path(index.root, spec, clip.key), features[stream])
        if progress:
            progress(f"{what} features", done, len(todo))
    return FeatureSet(index.root, specs)
