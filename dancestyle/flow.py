"""The motion stream's input: dense optical flow (OpenCV's DIS, or Farneback's) around each sampled instant, as a
small stack.

At a sampled instant t, the stack holds `pairs` flow fields (30: one second of motion): for k = 0 .. pairs-1,
the flow from the frame on screen at t + k/30 s to the frame after it. Every field is:

1. computed on greyscale frames resized to a short side of `size` px (whatever the video's resolution), with DIS
   (the default) or Farneback's algorithm (`algorithm`: Castro et al.'s two-/three-stream flow);
2. rescaled to pixels per 1/30 s: a field between frames dt seconds apart is multiplied by (1/30) / dt, so a 25,
   30 or 60 fps video of the same motion gives the same numbers (at 60 fps the pairs are 1/60 s apart and
   doubled; at 25 fps one frame may serve two instants);
3. mean-subtracted per component (Simonyan & Zisserman: cancels a camera pan), clipped to +-`bound` and divided
   by it (two-stream practice: TSN and MMAction2 clip at 20 px at 256 px; ours is 7.5 px at 96 px), so [-1, 1];
4. area-averaged to a `grid` x `grid` field (the flow encoder's input: small enough to cache and train on a CPU).

The result per instant is (pairs, 2, grid, grid) float32, x first. A video with one frame, or a still sequence,
gives zeros; the last frame, which has no successor, borrows the flow into it from the frame before.
No torch here: the decode thread computes flow while the networks run.
"""

from __future__ import annotations

import hashlib
import json
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from fractions import Fraction

import numpy as np

from .errors import DanceStyleError, WeightsError
from .geometry import FLOW_BASE

OPENCV_PACKAGE = "opencv-python-headless"
DIS_PRESETS = {"ultrafast": 0, "fast": 1, "medium": 2}  # cv2.DISOPTICAL_FLOW_PRESET_*
FLOW_ALGORITHMS = ("dis", "farneback")
# cv2.calcOpticalFlowFarneback's pyr_scale, levels, winsize, iterations, poly_n, poly_sigma, flags: the values of
# OpenCV's own optical-flow tutorial and samples/python/opt_flow.py, and of MMAction2's flow_extraction.py
# (research/flow.md); poly_sigma 1.2 is what OpenCV's docs advise for poly_n 5 (1.1) to 7 (1.5). Not settings:
# changing them would change a cached flow without changing its FlowSettings.id
FARNEBACK_PARAMETERS = (0.5, 3, 15, 3, 5, 1.2, 0)


class OpenCVMissing(DanceStyleError):
    """The flow stream needs OpenCV's DIS optical flow, and cv2 is absent or too old."""


@dataclass(frozen=True)
class FlowSettings:
    """Everything that decides the flow stream's numbers; recorded in checkpoints and in cache keys."""

    algorithm: str = "dis"  # FLOW_ALGORITHMS; "farneback" ignores the DIS settings (preset, refinement)
    preset: str = "medium"  # "fast" cost accuracy (models.md)
    # DIS variational refinement iterations per scale (the preset's 5; 0: off, since 2026-12-05: more than half a
    # call's cost, for no accuracy on the seeds table)
    refinement: int = 0
    size: int = 96  # short side of the frames flow is computed on, px (128 until 2026-12-05)
    pairs: int = 30  # consecutive pairs per instant: one second of motion (models.md: 5 and 15 did worse)
    bound: float = 7.5  # px per 1/30 s at `size`, clipped to this and scaled to [-1, 1] (10 px at 128 px)
    grid: int = 12  # each field area-averaged to grid x grid

    def to_dict(self) -> dict:
        return asdict(self)

    def at_size(self, size: int) -> FlowSettings:
        """These settings on frames of another short side, the clip bound scaled with it (the same motion)."""
        return replace(self, size=size, bound=self.bound * size / self.size)

    @classmethod
    def from_dict(cls, data: dict) -> FlowSettings:
        """The settings a checkpoint records; refused when this version cannot compute exactly those."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        data = {**RECORDED_BEFORE, **data}  # a checkpoint older than a setting was made with its value then
        settings = cls(**{key: value for key, value in data.items() if key in known})
        problems = [f"unknown settings {unknown}"] if unknown else []
        if settings.algorithm not in FLOW_ALGORITHMS:
            problems.append(f"algorithm {settings.algorithm!r} (this version computes {' or '.join(FLOW_ALGORITHMS)})")
        if settings.preset not in DIS_PRESETS:
            problems.append(f"DIS preset {settings.preset!r}")
        if settings.refinement < 0:
            problems.append(f"refinement {settings.refinement!r}")
        if problems:
            raise WeightsError(f"This checkpoint's flow stream was made with settings this dancestyle cannot "
                               f"reproduce: {'; '.join(problems)}.",
                               "Use the dancestyle version that trained it, or train the model again.")
        return settings

    @property
    def id(self) -> str:
        """A short readable key for caches: changes whenever any setting does."""
        digest = hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:8]
        method = f"dis-{self.preset}" if self.algorithm == "dis" else self.algorithm  # DIS's ids as they have been
        return f"{method}-{self.size}px-L{self.pairs}-g{self.grid}-{digest}"

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (self.pairs, 2, self.grid, self.grid)


DEFAULT_FLOW = FlowSettings()
# settings added after checkpoints were first made, with the value every earlier checkpoint was computed with
RECORDED_BEFORE = {"refinement": 5}


def check_opencv() -> None:
    """Raise OpenCVMissing (naming the package to install) unless OpenCV with DIS is importable."""
    _cv2()


def _cv2():
    try:
        import cv2
    except ImportError as e:
        raise OpenCVMissing("The flow stream needs OpenCV, which is not installed.",
                            f"pip install '{OPENCV_PACKAGE}>=4.8'") from e
    if not hasattr(cv2, "DISOpticalFlow_create"):
        raise OpenCVMissing(f"This OpenCV ({getattr(cv2, '__version__', '?')}) has no DIS optical flow.",
                            f"pip install -U '{OPENCV_PACKAGE}>=4.8'")
    return cv2


def flow_frame_size(width: int, height: int, size: int) -> tuple[int, int]:
    """(width, height) scaled so the short side is exactly `size` (up or down: flow is measured in its pixels)."""
    scale = size / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def to_grey(image: np.ndarray, size: int) -> np.ndarray:
    """An RGB (H, W, 3) or grey (H, W) uint8 image as grey at short side `size`."""
    cv2 = _cv2()
    if image.ndim == 3:
        image = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY)
    width, height = flow_frame_size(image.shape[1], image.shape[0], size)
    if (width, height) == (image.shape[1], image.shape[0]):
        return np.ascontiguousarray(image)
    shrinking = width < image.shape[1]
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)


class FlowField:
    """Flow between two grey frames by the settings' algorithm, encoded as described at the top of this module."""

    def __init__(self, settings: FlowSettings = DEFAULT_FLOW) -> None:
        self.settings = settings
        self._cv2 = _cv2()
        self._dis = None
        if settings.algorithm == "dis":
            self._dis = self._cv2.DISOpticalFlow_create(DIS_PRESETS[settings.preset])
            self._dis.setVariationalRefinementIterations(settings.refinement)

    def raw(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """(H, W, 2) displacement in pixels from `first` to `second` (same-size grey uint8 frames)."""
        if first.shape != second.shape:  # a resolution change mid-stream: compare at the first's size
            second = self._cv2.resize(second, (first.shape[1], first.shape[0]), interpolation=self._cv2.INTER_AREA)
        if self._dis is None:
            return self._cv2.calcOpticalFlowFarneback(first, second, None, *FARNEBACK_PARAMETERS)
        return self._dis.calc(first, second, None)

    def encode(self, displacement: np.ndarray, seconds: float) -> np.ndarray:
        """(H, W, 2) px over `seconds` -> (2, grid, grid) in [-1, 1]: per 1/30 s, mean-free, clipped, pooled."""
        bound, grid = self.settings.bound, self.settings.grid
        field = displacement * np.float32(float(FLOW_BASE) / seconds)
        # per component, in OpenCV: 50x numpy's strided mean, 10x its broadcast subtraction (the same float32s)
        mean_x, mean_y = self._cv2.mean(field)[:2]
        field = self._cv2.subtract(field, (mean_x, mean_y, 0, 0))
        np.clip(field, -bound, bound, out=field)
        pooled = self._cv2.resize(field, (grid, grid), interpolation=self._cv2.INTER_AREA)
        return np.ascontiguousarray((pooled / bound).transpose(2, 0, 1), dtype=np.float32)

    def __call__(self, first: np.ndarray, second: np.ndarray, seconds: float) -> np.ndarray:
        return self.encode(self.raw(first, second), seconds)


@dataclass
class _Frame:
    time: Fraction
    grey: Callable[[], np.ndarray]  # loads or converts only when a pair needs it
    _cached: np.ndarray | None = None

    def image(self) -> np.ndarray:
        if self._cached is None:
            self._cached = self.grey()
        return self._cached


class MotionStacks:
    """Streaming flow stacks: fed every frame of a video in order, gives each sampled instant's stack.

    Instants are 0, interval, 2 interval, ...; `slack` is the sampling rule's tolerance (a frame starting within
    it after an instant counts as on screen at it), so the frame of slot k=0 is the frame sampled at the instant.
    Only frames that belong to a pair are converted (`grey` callbacks), and at most a few are held.
    """

    def __init__(self, settings: FlowSettings, interval: Fraction, slack: Fraction) -> None:
        self.settings, self.interval, self.slack = settings, Fraction(interval), Fraction(slack)
        self.field = FlowField(settings)
        self._slots: dict[int, list[np.ndarray | None]] = {}  # sample index -> one field per pair
        self._next_sample = 0  # the first sample whose slots are not yet opened
        self._previous: _Frame | None = None
        self._before_previous: _Frame | None = None
        self._last_field: tuple[Fraction, np.ndarray] | None = None  # (start of its first frame, field)

    def _open_slots(self, until: Fraction) -> list[tuple[int, int]]:
        """(sample, pair) of every empty slot whose instant (+ slack) is before `until`, opening samples as their
        first instant comes up."""
        while self._next_sample * self.interval + self.slack < until or self._next_sample == 0:
            self._slots[self._next_sample] = [None] * self.settings.pairs
            self._next_sample += 1
        return [(sample, k) for sample, fields_ in self._slots.items() for k, value in enumerate(fields_)
                if value is None and sample * self.interval + k * FLOW_BASE + self.slack < until]

    def _pair(self, first: _Frame, second: _Frame) -> np.ndarray:
        """The encoded flow from `first` to `second`, scaled by the time between them."""
        return self.field(first.image(), second.image(), float(second.time - first.time) or float(FLOW_BASE))

    def push(self, time: Fraction, grey: Callable[[], np.ndarray]) -> list[tuple[int, np.ndarray]]:
        """Add the next frame (its start time, a way to get it as grey at the flow size); returns the samples
        whose stacks are now complete, as (sample index, stack), in order."""
        frame = _Frame(Fraction(time), grey)
        previous = self._previous
        if previous is not None:
            # every slot whose instant falls while `previous` is on screen gets the flow previous -> frame
            waiting = self._open_slots(frame.time)
            if waiting:
                encoded = self._pair(previous, frame)
                self._last_field = (previous.time, encoded)
                for sample, k in waiting:
                    self._slots[sample][k] = encoded
        self._before_previous, self._previous = previous, frame
        return self._complete()

    def finish(self, end: Fraction) -> list[tuple[int, np.ndarray]]:
        """The video ended at `end` (the last frame's end): slots on the last frame get the flow into it from the
        frame before (zeros for a one-frame video); instants past the end are not sampled."""
        if self._previous is not None:
            self._open_slots(end)
            for fields_ in self._slots.values():
                for k, value in enumerate(fields_):
                    if value is None:
                        fields_[k] = self._into_last()
        return self._complete()

    def _into_last(self) -> np.ndarray:
        last, before = self._previous, self._before_previous
        if before is None:
            return np.zeros(self.settings.shape[1:], np.float32)
        if self._last_field is None or self._last_field[0] != before.time:
            self._last_field = (before.time, self._pair(before, last))
        return self._last_field[1]

    def _complete(self) -> list[tuple[int, np.ndarray]]:
        """The samples whose every slot is filled, in order, up to the first that is not."""
        done = []
        for sample in sorted(self._slots):
            if any(value is None for value in self._slots[sample]):
                break
            done.append((sample, np.stack(self._slots.pop(sample))))
        return done


class StackQueue:
    """Pairs sampled items with their flow stacks as both arrive (stacks come a few frames later)."""

    def __init__(self) -> None:
        self._waiting: deque = deque()
        self._stacks: dict[int, np.ndarray] = {}

    def add_item(self, index: int, item) -> None:
        self._waiting.append((index, item))

    def add_stacks(self, stacks: list[tuple[int, np.ndarray]]) -> None:
        self._stacks.update(stacks)

    def ready(self) -> list[tuple[object, np.ndarray]]:
        out = []
        while self._waiting and self._waiting[0][0] in self._stacks:
            index, item = self._waiting.popleft()
            out.append((item, self._stacks.pop(index)))
        return out
