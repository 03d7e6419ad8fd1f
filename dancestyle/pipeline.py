"""From a video file to a dance style: load the streams and a classifier, then classify videos.

    pipeline = load_model("lstm")            # weights: --weights, newest local run, or its published checkpoint
    prediction = pipeline.classify("clip.mp4")
    prediction.label, prediction.score       # ("waltz", 0.81)

A video longer than the training clips (10 s) is cut into 10 s windows, consecutive or overlapping (`hop`; the
last one ending at the video's end, see timeline.py); each is classified and the video's probabilities are their
mean. `pipeline.classify("long.mp4", timeline=True)` keeps the windows and the runs of one style they make.
`annotate=pipeline.annotator("out.mp4")` also writes the frames the model sampled, drawn (annotate.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from . import cores
from .errors import UsageError
from .geometry import WATCH_HOP
from .maker import FeatureMaker
from .models import DEFAULT_MODEL, DanceClassifier, default_config, mixed_precision
from .pose import PoseSource, pose_backend
from .recipe import RANDOM_RGB, FeatureRecipe
from .prediction import Prediction, rank_styles
from .timeline import ScoredWindow, WindowBuffer, check_hop, segments, window_span
from .video import (Decoding, EarlyStart, ReadAhead, SampledFrame, VideoEnd, chunked, is_live,
                    sample_interval)
from .windows import steps_per_window
from .checkpoints import (checkpoint_cautions, classifier_source, load_classifier, pose_caution,
                          read_checkpoint)

if TYPE_CHECKING:
    from .annotate import VideoAnnotator


def resolve_device(device: str = "auto") -> str:
    """auto = CUDA when present, else CPU."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise UsageError("--device cuda was asked for, but PyTorch sees no CUDA device.",
                         "Use --device cpu (or auto), or install a CUDA build of PyTorch.")
    if device not in ("cpu", "cuda"):
        raise UsageError(f"Unknown device {device!r}.", "Use auto, cpu or cuda.")
    return device


class DanceStylePipeline:
    """Loaded streams and classifier, ready to classify videos."""

    def __init__(self, classifier: DanceClassifier, device: str, maker: FeatureMaker, random_weights: bool = False,
                 source: str = "", cautions: list[str] | None = None) -> None:
        self.classifier = classifier.eval().to(device)
        self.config = classifier.config
        self.device = device
        # how the features are made: as in training (the same FeatureMaker as its cache), with classify's networks
        self.maker, self.recipe = maker, maker.recipe
        self.rgb, self.pose = maker.rgb_backbone, maker.estimator
        self.random_weights = random_weights
        self.source = source
        self.cautions = cautions or []  # what a user should know about these weights before trusting them
        self.frame_size = self.recipe.frame_size  # short side of decoded frames: pose reads them, RGB resizes them
        # the flow settings of training, for a model with the flow stream (flow stacks are decoded with the frames)
        self.flow = self.recipe.flow_settings
        self.interval = sample_interval(self.config.stride)
        self.decoding = Decoding(self.interval, self.frame_size, self.flow)
        self.early: EarlyStart | None = None  # a video's decoding started while this loaded (cli/use.py)
        self.window_frames = steps_per_window(self.config.stride)  # sampled frames in a 10 s window

    def _frame_features(self, window: list[SampledFrame], timings: dict[str, float]) -> tuple[dict, int]:
        """Per-frame inputs of one window ({"rgb": (T, 512), "pose": (T, 20, 2, 17), "flow": (T, pairs, 2, g,
        g)}) and the most people seen. Flow stacks come with the frames (computed in the decoding thread)."""
        features = self.maker.make(window, timings=timings)
        tensors = {stream: torch.from_numpy(array).to(self.device) for stream, array in features.items()}
        return tensors, self.maker.people_max

    def _probabilities(self, features: dict, timings: dict[str, float]) -> np.ndarray:
        started = time.perf_counter()
        with torch.inference_mode(), mixed_precision(self.config, self.device):
            scores = self.classifier({stream: tensor.unsqueeze(0) for stream, tensor in features.items()})
        timings["model"] += time.perf_counter() - started
        return torch.softmax(scores, dim=-1)[0].float().cpu().numpy()

    def read_ahead(self, path: str | Path) -> ReadAhead:
        """Start decoding `path`'s sampled frames in the background (at the size the streams need), or take over
        `early`'s if it decodes the same file the same way."""
        reader = self.early.take(path, self.decoding) if self.early is not None else None
        if reader is None:
            return self.decoding.read_ahead(path)
        cores.apply_to_torch()  # as a ReadAhead made now would: the early one started before torch was imported
        return reader

    def hop_frames(self, hop: float | None) -> int:
        """--hop SECONDS as a count of sampled frames (the nearest, at least one); None: one window, no overlap."""
        if hop is None:
            return self.window_frames
        check_hop(hop)
        return max(1, round(Fraction(hop) / self.interval))

    def annotator(self, path: str | Path, live: bool = False) -> VideoAnnotator:
        """A writer of the annotated video (annotate.py) at `path`, at this model's sampling rate, to pass as
        classify's or watch's `annotate` and close when done (a `with` block)."""
        from .annotate import VideoAnnotator

        return VideoAnnotator(path, self.interval, live=live)

    def classify(self, path: str | Path, top_k: int = 3, frames: ReadAhead | None = None, timeline: bool = False,
                 hop: float | None = None, annotate: VideoAnnotator | None = None,
                 on_progress: Callable[[float], None] | None = None) -> Prediction:
        """Classify one video file. Raises InputError / MediaError for files that cannot be used.

        Frames are decoded in a background thread while the networks run (`frames`: one already started by
        read_ahead). The video is scored in 10 s windows starting every `hop` seconds (default 10; rounded to
        the model's sampling interval), each frame's features computed once; see timeline.py for where the
        windows fall. The label is the mean of the windows' probabilities. timeline=True keeps the windows and
        their segments in the Prediction. timings["decode"] is the time spent waiting for decoded frames.
        annotate: each sampled frame and window is also handed to it (the caller closes it). on_progress(seconds):
        told how far into the video each sampled frame is, as the networks take it (a long video's progress).
        """
        started = time.perf_counter()
        timings = _fresh_timings()
        hop_frames = self.hop_frames(hop)
        video_end: list[VideoEnd] = []
        frames = _timed(_until_end(frames or self.read_ahead(path), video_end), timings)
        if on_progress is not None:
            frames = _told(frames, on_progress)
        seen = SeenFrames()
        windows = list(self._windows(frames, hop_frames, timings, top_k, seen, annotate))
        for window in windows:
            _end_at_most(window, video_end)
        classes = self.config.classes
        ranked = rank_styles(np.mean([window.probabilities for window in windows], axis=0), classes, top_k)
        return Prediction(path=str(path), label=ranked[0]["label"], score=ranked[0]["score"], top_k=ranked,
                          model=self.config.name, frames=seen.frames, people_max=seen.people_max,
                          seconds=round(time.perf_counter() - started, 3), random_weights=self.random_weights,
                          window_count=len(windows), timings={k: round(v, 3) for k, v in timings.items()},
                          windows=windows if timeline else None,
                          segments=segments(windows, classes) if timeline else None,
                          truncated=bool(video_end) and video_end[0].truncated)

    def watch(self, source: str | Path, top_k: int = 3, hop: float | None = WATCH_HOP,
              seen: SeenFrames | None = None, annotate: VideoAnnotator | None = None) -> Iterator[ScoredWindow]:
        """Classify a live source (a camera such as /dev/video0, a stream URL, "-") as it plays, yielding each
        10 s window as it completes, every `hop` seconds, and the last one when the source ends.

        When the networks fall behind a live source's clock (a sample arrives more than two hops after it was
        shown; never for a plain file), samples are dropped until they catch up: a dropped sample repeats the
        features of the one before it, and is counted in its windows' `dropped` and in `seen.dropped`, never
        skipped silently. annotate: as in classify (dropped samples are not in its video)."""
        hop_frames = self.hop_frames(hop)
        timings = _fresh_timings()
        seen = seen if seen is not None else SeenFrames()
        video_end: list[VideoEnd] = []
        samples = _until_end(self.read_ahead(source), video_end)
        if is_live(source):  # a file is not live: every sample of it is used, however long that takes
            samples = _keep_up(samples, float(2 * hop_frames * self.interval))
        for window in self._windows(samples, hop_frames, timings, top_k, seen, annotate):
            yield _end_at_most(window, video_end)  # known for the last one
        seen.truncated = bool(video_end) and video_end[0].truncated

    def _windows(self, samples: Iterable[SampledFrame | Dropped], hop_frames: int, timings: dict[str, float],
                 top_k: int, seen: SeenFrames, annotate: VideoAnnotator | None = None) -> Iterator[ScoredWindow]:
        """Score 10 s windows every `hop_frames` samples (timeline.WindowBuffer), each sample's features computed
        once; a Dropped sample repeats the features before it. `annotate` gets the kept samples with the
        skeletons found in them, and each window as it is scored."""
        buffer = WindowBuffer(self.window_frames, hop_frames)
        last_row: dict | None = None
        for chunk in chunked(samples, hop_frames):
            kept = [sample for sample in chunk if not isinstance(sample, Dropped)]
            features, people = self._frame_features(kept, timings) if kept else ({}, 0)
            if annotate is not None:  # the kept samples' places in the stream, as the windows count them
                places = [buffer.seen + i for i, sample in enumerate(chunk) if not isinstance(sample, Dropped)]
                annotate.add(kept, self.maker.last_people, places)
            features, last_row = _fill_dropped(chunk, features, last_row)
            seen.add(len(chunk), len(chunk) - len(kept), people)
            for first, rows in buffer.push(features):
                yield self._window(first, rows, timings, top_k, annotate)
        for first, rows in buffer.finish():
            yield self._window(first, rows, timings, top_k, annotate)

    def _window(self, first: int, features: dict, timings: dict[str, float], top_k: int,
                annotate: VideoAnnotator | None) -> ScoredWindow:
        dropped = int(features.pop(DROPPED).sum())
        probabilities = self._probabilities(features, timings)
        ranked = rank_styles(probabilities, self.config.classes, top_k)
        frames = len(next(iter(features.values())))
        start, end = window_span(first, frames, float(self.interval))
        window = ScoredWindow(start, end, ranked[0]["label"], ranked[0]["score"], ranked, probabilities, dropped)
        if annotate is not None:
            annotate.scored(first, frames, window)
        return window

    def classify_many(self, items: Iterable[str | Path | Exception], top_k: int = 3, timeline: bool = False,
                      hop: float | None = None, annotate: VideoAnnotator | None = None,
                      on_progress: Callable[[str | Path, float], None] | None = None,
                      ) -> Iterator[Prediction | Exception]:
        """Classify videos in order, yielding a Prediction or the exception each failed with (an Exception given
        as an item, e.g. an input that was never found, is yielded back in its place). The next video decodes
        while the current one is classified. A bad `hop` is refused (UsageError) before any video is read, and so
        is `annotate` (one video's writer) with more than one item. on_progress(item, seconds): how far into the
        video being classified the networks are."""
        self.hop_frames(hop)
        items = list(items)
        if annotate is not None and len(items) > 1:
            raise UsageError(f"One annotated video cannot show {len(items)} inputs.",
                             "Classify one video at a time to save its annotated video.")
        readers: dict[int, ReadAhead] = {}

        def start(index: int) -> None:
            if index < len(items) and not isinstance(items[index], Exception):
                readers[index] = self.read_ahead(items[index])

        start(0)
        try:
            for index, item in enumerate(items):
                start(index + 1)
                if isinstance(item, Exception):
                    yield item
                    continue
                try:
                    told = partial(on_progress, item) if on_progress is not None else None
                    result = self.classify(item, top_k, frames=readers.pop(index), timeline=timeline, hop=hop,
                                           annotate=annotate, on_progress=told)
                except Exception as error:  # one bad input never stops the others
                    result = error
                yield result
        finally:
            for reader in readers.values():
                reader.close()


@dataclass
class SeenFrames:
    """What a classify or watch run has read so far: sampled frames, those dropped to keep up with real time,
    the most people in one frame, and (at the end) whether the input ended early."""

    frames: int = 0
    dropped: int = 0
    people_max: int = 0
    truncated: bool = False

    def add(self, frames: int, dropped: int, people: int) -> None:
        self.frames, self.dropped = self.frames + frames, self.dropped + dropped
        self.people_max = max(self.people_max, people)


@dataclass
class Dropped:
    """A sample watch had no time for: it stands in the window with the features of the sample before it."""

    index: int
    time: float


DROPPED = "dropped"  # the per-frame flag that rides with the features through WindowBuffer


def _keep_up(samples: Iterable[SampledFrame], max_lag: float) -> Iterator[SampledFrame | Dropped]:
    """Pass samples through while they arrive within `max_lag` seconds of when they were shown (the first one
    sets the clock); a later one is replaced by Dropped, so the networks catch up with a live source."""
    clock_start = None
    for sample in samples:
        now = time.monotonic()
        clock_start = now - sample.time if clock_start is None else clock_start
        late = now - clock_start - sample.time > max_lag
        yield Dropped(sample.index, sample.time) if late else sample


def _fill_dropped(chunk: list, features: dict, last_row: dict | None) -> tuple[dict, dict | None]:
    """The chunk's features with a row for each sample (a Dropped one repeats the row before it) and the DROPPED
    flags; and the chunk's last row, for the next chunk. `features` holds the rows of the kept samples."""
    flags = torch.tensor([float(isinstance(sample, Dropped)) for sample in chunk])
    if not flags.any():  # classify, and watch while it keeps up
        return {**features, DROPPED: flags}, {stream: tensor[-1] for stream, tensor in features.items()}
    rows, kept_rows = [], iter(range(len(chunk)))
    for sample in chunk:
        if not isinstance(sample, Dropped):
            row = next(kept_rows)
            last_row = {stream: tensor[row] for stream, tensor in features.items()}
        rows.append(last_row)
    stacked = {stream: torch.stack([row[stream] for row in rows]) for stream in rows[0]}
    return {**stacked, DROPPED: flags}, last_row


def _end_at_most(window: ScoredWindow, video_end: list[VideoEnd]) -> ScoredWindow:
    """A window whose last sample's interval reaches past the video's end (when known) ends there."""
    if video_end:
        window.end = min(window.end, round(video_end[0].seconds, 3))
    return window


def _until_end(items: Iterable[SampledFrame | VideoEnd], video_end: list[VideoEnd]) -> Iterator[SampledFrame]:
    """The sampled frames; how the video ended (its VideoEnd item) is put in `video_end`."""
    for item in items:
        if isinstance(item, VideoEnd):
            video_end.append(item)
        else:
            yield item


def _told(frames: Iterator[SampledFrame], on_progress: Callable[[float], None]) -> Iterator[SampledFrame]:
    """Pass frames through, telling on_progress each one's instant (seconds into the video)."""
    for frame in frames:
        on_progress(float(frame.time))
        yield frame


def _fresh_timings() -> dict[str, float]:
    """Seconds spent waiting for decoded frames, in each network that makes features (flow is made while decoding)
    and in the model, as a Prediction reports them."""
    return {"decode": 0.0, "pose": 0.0, "rgb": 0.0, "model": 0.0}


def _timed(frames: Iterator[SampledFrame], timings: dict[str, float]) -> Iterator[SampledFrame]:
    """Pass frames through, adding the time spent decoding them to timings['decode']."""
    while True:
        started = time.perf_counter()
        try:
            frame = next(frames)
        except StopIteration:
            return
        finally:
            timings["decode"] += time.perf_counter() - started
        yield frame


def load_model(model: str = DEFAULT_MODEL, weights: str | None = None, device: str = "auto",
               random_weights: bool = False, detector_size: int | None = None,
               pose: str | None = None) -> DanceStylePipeline:
    """Build the pipeline for `model`.

    weights: a checkpoint directory or Hub repo id `org/name[@revision]`; None picks the newest local training
    run, else the model's published checkpoint (published.py). random_weights: every network random, nothing downloaded
    (smoke tests and speed measurements only; predictions are meaningless). pose / detector_size: the pose
    backend and the short side of the frames it reads; None = what the checkpoint records (a different backend
    is allowed, with a caution).
    """
    if pose is not None:
        pose_backend(pose)  # an unknown name is a usage error before anything loads
    if random_weights and weights:
        raise UsageError(f"--weights {weights} and --random-weights ask for different networks.",
                         "Drop --random-weights to use those weights, or --weights for a smoke test.")
    device = resolve_device(device)
    cautions = []
    if random_weights:
        torch.manual_seed(0)
        classifier, source = DanceClassifier(default_config(model)), "random"
        recipe = FeatureRecipe.for_model(classifier.config, rgb_weights=RANDOM_RGB)
    else:
        directory, source = classifier_source(model, weights)
        config, state_dict = read_checkpoint(directory)
        recipe = FeatureRecipe.from_checkpoint(config)
        classifier = load_classifier(config, state_dict, directory)
        cautions = checkpoint_cautions(config, recipe)
    recipe = replace(recipe, frame_size=detector_size or recipe.frame_size)  # training's decoding, for every stream
    chosen = pose or recipe.pose_backend
    if recipe.pose_source is not None and not random_weights:
        cautions += filter(None, [pose_caution(recipe, chosen)])
    maker = FeatureMaker(recipe, device, PoseSource(chosen, recipe.frame_size, random_weights)).ready()
    if getattr(maker.estimator, "cuda_unused", False):
        cautions.append("the pose networks run on the CPU: this onnxruntime has no CUDA; for the GPU, `pip "
                        "uninstall onnxruntime && pip install onnxruntime-gpu` (same results, models.md).")
    if getattr(maker.estimator, "torch_stand_ins", False):
        cautions.append("the random pose stand-ins run as torch modules, slower than the real weights run: "
                        "`pip install onnx` lets them be exported and run by onnxruntime as the real ones are.")
    return DanceStylePipeline(classifier, device, maker, random_weights=random_weights, source=source,
                              cautions=cautions)


def classify(path: str | Path, model: str = DEFAULT_MODEL, **load_options) -> Prediction:
    """One-call convenience: load `model` and classify one video (load once with load_model() for many)."""
    return load_model(model, **load_options).classify(path)
