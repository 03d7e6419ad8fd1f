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

from .configs import ModelConfig
from .data import Clip, DatasetIndex
from .errors import UsageError
from .features import StreamSpec, cache_path, read_cached, write_cached
from .flow import DEFAULT_FLOW, FlowSettings, MotionStacks, to_grey
from .geometry import BASE_FPS, CACHE_STRIDE, DEFAULT_DETECTOR_SIZE
from .maker import STREAM_MAKERS, FeatureMaker, cached_form
from .pose import DEFAULT_POSE, PoseSource, pose_input, read_letsdance_pose
from .recipe import FeatureRecipe
from .video import SampledFrame, iter_sampled_frames, sample_interval

Progress = Callable[[str, int, int], None]  # (what, done, total)


@dataclass
class FeatureSet:
    """Which cached streams a run reads, and how to get one clip's features."""

    root: Path
    specs: dict[str, StreamSpec]

    def load(self, clip: Clip) -> dict[str, np.ndarray]:
        return {stream: read_cached(cache_path(self.root, spec, clip.key)) for stream, spec in self.specs.items()}


def training_recipe(index: DatasetIndex, model: ModelConfig, rgb_weights: str, pose_source: str,
                    pose: str = DEFAULT_POSE, frame_size: int = DEFAULT_DETECTOR_SIZE, random_detector: bool = False,
                    flow: FlowSettings = DEFAULT_FLOW) -> FeatureRecipe:
    """How a run of `model` makes its features. Pose comes from "dataset" files or from backend `pose` (a folder
    of videos has no skeleton files); flow from the clip's pixels with `flow`."""
    if pose_source not in ("dataset", "estimator"):
        raise UsageError(f"--pose-source {pose_source}: use dataset or estimator.")
    if index.layout == "videos":
        pose_source = "estimator"  # videos come without skeleton files
    poses = PoseSource(None) if pose_source == "dataset" else PoseSource(pose, frame_size, random_detector)
    return FeatureRecipe.for_model(model, poses, rgb_weights, frame_size, flow)


def stream_specs(recipe: FeatureRecipe) -> dict[str, StreamSpec]:
    """The cache spec of each of the recipe's streams: the model's own layouts (forms) are cache kinds of their
    own, so features made another way are never reused."""
    return {stream: StreamSpec(stream, recipe.source_id(stream), recipe.stride, recipe.form(stream))
            for stream in recipe.streams}


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


def clip_samples(clip: Clip, max_short_side: int, flow: FlowSettings | None = None, images: bool = True,
                 stride: int = CACHE_STRIDE) -> list[SampledFrame]:
    """A clip's samples every `stride` frames of 30 fps video (the cache's), as `classify` samples a video: each
    frame's RGB image (short side `max_short_side`; None when `images` is False for a frame folder) and, with
    `flow`, its flow stack."""
    interval = sample_interval(stride)
    if clip.video is not None:
        return list(iter_sampled_frames(clip.video, interval, max_short_side, flow=flow))
    positions = sample_positions(clip.frame_numbers, clip.frame_rate, interval)
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


def dataset_poses(clip: Clip, form: str = "", stride: int = CACHE_STRIDE) -> np.ndarray:
    """(T, 20, 2, 17) from the clip's skeleton files every `stride` frames of 30 fps video (in pose_input's
    `form`); a missing file counts as an empty frame. The files hold pixels of the clip's frames, so the frame
    size comes from its first frame's header."""
    size = (0, 0)
    if form:
        from PIL import Image

        with Image.open(clip.frames[0]) as image:
            size = image.size
    arrays = []
    for position in sample_positions(clip.frame_numbers, clip.frame_rate, sample_interval(stride)):
        path = clip.poses[position]
        people = read_letsdance_pose(path) if path is not None else np.zeros((0, 17, 2), np.float32)
        arrays.append(pose_input(people, form, size))
    return np.stack(arrays)


class Extractor:
    """Decodes each clip once for all its streams and makes them with the recipe's FeatureMaker (the one classify
    runs), as the cache keeps them."""

    def __init__(self, recipe: FeatureRecipe, device: str = "cpu") -> None:
        self.recipe = recipe
        self.maker = FeatureMaker(recipe, device)

    def features(self, clip: Clip, specs: dict[str, StreamSpec]) -> dict[str, np.ndarray]:
        """The clip's features for each stream in `specs` (pose from files needs no pixels)."""
        recipe = self.recipe
        from_files = [stream for stream in specs if stream in recipe.streams_from_files]
        made = [stream for stream in specs if stream not in from_files]
        needs_images = any(STREAM_MAKERS[stream].needs_images for stream in made)
        flow = recipe.flow if any(STREAM_MAKERS[stream].needs_flow for stream in made) else None
        samples = clip_samples(clip, recipe.frame_size, flow, needs_images, recipe.stride) if made else []
        result = {stream: cached_form(stream, features) for stream, features in self.maker.make(samples, made).items()}
        for stream in from_files:
            result[stream] = dataset_poses(clip, recipe.form(stream), recipe.stride)
        return result


def extract_features(index: DatasetIndex, recipe: FeatureRecipe, device: str = "cpu",
                     progress: Progress | None = None, clips: list[Clip] | None = None,
                     shard: tuple[int, int] = (0, 1)) -> FeatureSet:
    """Make sure every clip (of `clips`, default all of `index`) has cached features for every stream of `recipe`;
    skip those done. Each stream's spec says how it is made, so features made another way are never reused.
    shard=(rank, world): this process makes only every world-th clip from its rank on (the others make the rest,
    into the same cache); each file is written whole (atomically), so a stopped process leaves none
    half-written and a run again makes only what is missing."""
    specs = stream_specs(recipe)
    extractor = Extractor(recipe, device)
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
