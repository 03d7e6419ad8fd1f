"""--save-video: the frames the model sampled, written back as an MP4 showing what it saw and what it said.

Each sampled frame is drawn with the skeletons the pose backend found in it, a banner at the top with the top-3
styles of the window that scored it, and a strip at the bottom with the style's runs so far and a cursor at the
frame's time. The video runs at the sampling rate, so it shows exactly the samples, at their real pace.

    with pipeline.annotator("out.mp4") as video:
        pipeline.classify("clip.mp4", annotate=video)

Windows are scored after their frames: a frame waits (at most one window's worth) until the first window that
holds it is scored, and is written with that window's scores. The MP4 is written to a temporary file beside the
destination and moved onto it when closed, also after Ctrl-C, so a reader never sees half a file.
"""

from __future__ import annotations

import os
import tempfile
from collections import deque
from contextlib import suppress
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from .errors import DanceStyleError, UsageError
from .render import style_rgb
from .timeline import ScoredWindow, clock
from .video import SampledFrame

VIDEO_SUFFIXES = (".mp4",)
MIN_SHORT_SIDE = 360  # smaller videos are enlarged so the banner's text can be read
TIME_BASE = Fraction(1, 1000)  # milliseconds: any sampling interval, and a pause where watch dropped samples
# COCO's 17 keypoints (pose.KEYPOINT_NAMES) joined into limbs: head, arms, trunk, legs
LIMBS = ((0, 1), (0, 2), (1, 3), (2, 4), (5, 6), (5, 7), (7, 9), (6, 8), (8, 10), (5, 11), (6, 12), (11, 12),
         (11, 13), (13, 15), (12, 14), (14, 16))
PERSON_COLOURS = ((0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 255, 0), (255, 128, 0))  # RGB, one per person


class VideoWriteError(DanceStyleError):
    """The annotated video could not be written (a full disk, its folder gone): its temporary file is removed."""


def check_video_path(path: str | Path) -> Path:
    """Where --save-video may write: an .mp4 file in an existing, writable folder (told before any model loads)."""
    path = Path(path)
    if path.is_dir():
        raise UsageError(f"--save-video {path} is a folder.", "Give the path of a file to write, e.g. out.mp4.")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        raise UsageError(f"--save-video {path}: the video is written as MP4, so its name must end in .mp4.",
                         f"Name it e.g. {path.with_suffix('.mp4').name}.")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"--save-video {path}: the folder {folder} does not exist.", "Create it first, or "
                         "choose another place.")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise UsageError(f"--save-video {path}: the folder {folder} cannot be written to.", "Choose a folder you "
                         "can write to.")
    return path


@dataclass
class _Frame:
    """A sampled frame waiting for its window's scores: its place among the samples (as windows count them; a
    sample's own index may jump where the video's timestamps do), the image enlarged and drawn with skeletons."""

    place: int
    time: float
    image: np.ndarray


class VideoAnnotator:
    """Writes the annotated MP4 of one video (or live source). Feed it with add() and scored(), as the pipeline's
    `annotate` hook does; close() (or leaving the `with` block) writes what waits and puts the file in place.
    live: a fragmented MP4, so that even the temporary file of a watch that is killed outright can be played."""

    def __init__(self, path: str | Path, interval: Fraction, live: bool = False) -> None:
        self.path = check_video_path(path)
        self.interval, self.live = Fraction(interval), live
        self.waiting: deque[_Frame] = deque()
        self.runs: list[list] = []  # [start, end, label]: the style of the frames written so far, run by run
        self.window: ScoredWindow | None = None  # the last scored window
        self.writer: _Mp4Writer | None = None  # opened with the first frame: its size sets the video's
        self.frames = 0  # frames written
        self.error: VideoWriteError | None = None  # once writing failed, nothing more is tried

    def __enter__(self) -> VideoAnnotator:
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # also after Ctrl-C or an error: what was seen until then is kept

    def add(self, samples: list[SampledFrame], people: list[np.ndarray] | None, places: list[int]) -> None:
        """The next sampled frames, the skeletons found in each ((people, 17, 2) pixel x, y; None or an empty list:
        no pose stream, no skeletons drawn) and their places among all the samples, counted from 0 (watch's
        dropped samples have a place but no frame)."""
        for number, (sample, place) in enumerate(zip(samples, places, strict=True)):
            image = enlarged(sample.image)
            scale = image.shape[1] / sample.image.shape[1]
            if people:
                draw_skeletons(image, people[number] * scale)
            self.waiting.append(_Frame(place, sample.time, image))

    def scored(self, first: int, frames: int, window: ScoredWindow) -> None:
        """A window of `frames` samples from the one at place `first` was scored: the frames waiting within it are
        written with its scores."""
        if self.error is not None:
            return
        start = max(window.start, self.runs[-1][1]) if self.runs else window.start
        if self.runs and self.runs[-1][2] == window.label:
            self.runs[-1][1] = window.end
        elif window.end > start:
            self.runs.append([start, window.end, window.label])
        self.window = window
        self._write_waiting(first + frames)

    def close(self) -> None:
        """Write the frames still waiting (with the last scores, if any: only after Ctrl-C or an error), finish
        the MP4 and move it onto the destination. Nothing is written when no frame came."""
        self._write_waiting(None)
        if self.writer is not None and self.error is None:
            writer, self.writer = self.writer, None
            self._guarded(writer.close, self.path)

    def _write_waiting(self, end: int | None) -> None:
        """Write the frames waiting before sample `end` (None: all of them)."""
        while self.error is None and self.waiting and (end is None or self.waiting[0].place < end):
            frame = self.waiting.popleft()
            if self.writer is None:
                self.writer = self._guarded(_Mp4Writer, self.path, frame.image.shape[1] // 2 * 2,
                                            frame.image.shape[0] // 2 * 2, 1 / self.interval, self.live)
            draw_banner(frame.image, self.window, frame.time)
            draw_strip(frame.image, self.runs, frame.time, float(self.interval))
            self._guarded(self.writer.write, frame.image, frame.time)
            self.frames += 1

    def _guarded(self, action, *args):
        """Run one step of writing; a failure removes the temporary file and is raised as a VideoWriteError."""
        import av

        try:
            return action(*args)
        except (OSError, av.FFmpegError) as error:
            if self.writer is not None:
                self.writer.discard()
            self.waiting.clear()
            self.error = VideoWriteError(f"--save-video {self.path}: the video could not be written ({error}).",
                                         "Check the disk and the folder it goes to, then run again.")
            raise self.error from error


class _Mp4Writer:
    """H.264 (libx264; MPEG-4 part 2 where PyAV lacks it) in MP4, written to a temporary file beside `path`."""

    def __init__(self, path: Path, width: int, height: int, fps: Fraction, live: bool) -> None:
        import av

        handle, self.temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(self.temp, 0o666 & ~umask)  # a video like any other file the user writes, not mkstemp's 0600
        options = {"movflags": "frag_keyframe+empty_moov+default_base_moof"} if live else {}
        self.container = av.open(self.temp, "w", format="mp4", options=options)
        try:
            h264 = "libx264" in av.codecs_available
            self.stream = self.container.add_stream("libx264" if h264 else "mpeg4", rate=fps)
            self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
            self.stream.time_base = TIME_BASE
            keyframes = str(max(1, round(2 * fps)))  # a keyframe every 2 s: players can seek
            self.stream.options = {"crf": "20", "preset": "veryfast", "bf": "0", "g": keyframes} if h264 else {
                "g": keyframes, "qscale": "3"}
        except BaseException:
            self.discard()
            raise
        self.last_pts = -1

    def write(self, image: np.ndarray, seconds: float) -> None:
        import av

        height, width = self.stream.height, self.stream.width
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:height, :width]), format="rgb24")
        frame.pts = max(self.last_pts + 1, round(seconds / TIME_BASE))
        frame.time_base, self.last_pts = TIME_BASE, frame.pts
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self, path: Path) -> None:
        """Flush the encoder, close the container and put the file at `path` (a temporary file until then)."""
        try:
            for packet in self.stream.encode():
                self.container.mux(packet)
            self.container.close()
            os.replace(self.temp, path)
        except BaseException:
            self.discard()
            raise

    def discard(self) -> None:
        """Close the container and remove the temporary file (a failure to close is moot: the file goes)."""
        import av

        with suppress(OSError, av.FFmpegError):
            self.container.close()
        Path(self.temp).unlink(missing_ok=True)


def enlarged(image: np.ndarray) -> np.ndarray:
    """A copy of `image`, enlarged so that its short side is at least MIN_SHORT_SIDE."""
    import cv2

    scale = MIN_SHORT_SIDE / min(image.shape[:2])
    if scale <= 1:
        return image.copy()
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)


def _sizes(image: np.ndarray) -> tuple[int, float, int]:
    """Row height of the banner's and the strip's lines, the font scale for it, and the lines' thickness."""
    row = max(14, round(min(image.shape[:2]) * 0.045))
    return row, row * 0.6 / 22, max(1, row // 12)  # Hershey simplex: 22 px tall at scale 1


def draw_skeletons(image: np.ndarray, people: np.ndarray) -> None:
    """Each person's limbs and joints, in a colour of its own (a joint at 0, 0 is one the backend did not find)."""
    import cv2

    row, _, thickness = _sizes(image)
    for number, person in enumerate(people):
        colour = PERSON_COLOURS[number % len(PERSON_COLOURS)]
        found = np.isfinite(person).all(axis=1) & (person != 0).any(axis=1)
        points = np.nan_to_num(person).round().astype(int)
        for a, b in LIMBS:
            if found[a] and found[b]:
                cv2.line(image, tuple(points[a]), tuple(points[b]), colour, thickness + 1, cv2.LINE_AA)
        for joint in np.flatnonzero(found):
            cv2.circle(image, tuple(points[joint]), max(3, row // 4), colour, -1, cv2.LINE_AA)


def draw_banner(image: np.ndarray, window: ScoredWindow | None, seconds: float) -> None:
    """At the top, on a darkened band: the frame's time and its window, then the window's top-3 styles as
    labelled bars (colours as in the terminal's timeline)."""
    import cv2

    row, font, thickness = _sizes(image)
    entries = window.top_k[:3] if window is not None else []
    _darken(image, 0, row * (1 + max(1, len(entries))) + row // 2)
    header = (f"{clock(seconds)}  window {clock(window.start)}-{clock(window.end)}" if window is not None
              else f"{clock(seconds)}  not scored yet")
    _text(image, header, (row // 2, row), font, thickness)
    label_width, score_width = image.shape[1] * 0.35, 3 * row
    bar_room = max(1.0, image.shape[1] - label_width - score_width - row)
    for number, entry in enumerate(entries):
        top = row * (number + 1) + row // 4
        _text(image, _drawable(entry["label"]), (row // 2, top + row * 3 // 4), font, thickness)
        left = int(label_width)
        right = left + int(bar_room * min(1.0, max(0.0, float(entry["score"]))))
        cv2.rectangle(image, (left, top + 2), (max(left + 1, right), top + row - 2), style_rgb(entry["label"]), -1)
        _text(image, f"{float(entry['score']):.2f}", (max(left + 1, right) + row // 4, top + row * 3 // 4), font,
              thickness)


def draw_strip(image: np.ndarray, runs: list[list], seconds: float, interval: float) -> None:
    """At the bottom: one coloured segment per run of one style so far (0 s at the left, the last scored window's
    end at the right) and a white cursor at the frame's time."""
    import cv2

    row, _, thickness = _sizes(image)
    height, width = image.shape[:2]
    top = height - row
    _darken(image, top, height)
    span = max([end for _, end, _ in runs] + [seconds + interval])
    for start, end, label in runs:
        cv2.rectangle(image, (int(start / span * width), top + 2), (int(end / span * width), height - 3),
                      style_rgb(label), -1)
    cursor = int(seconds / span * width)
    cv2.line(image, (cursor, top), (cursor, height - 1), (255, 255, 255), thickness + 1)


def _darken(image: np.ndarray, top: int, bottom: int) -> None:
    band = image[top:bottom]
    band[:] = (band * 0.35).astype(np.uint8)


def _text(image: np.ndarray, text: str, origin: tuple[int, int], font: float, thickness: int) -> None:
    import cv2

    cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, font, (255, 255, 255), thickness, cv2.LINE_AA)


def _drawable(label: str, length: int = 24) -> str:
    """A class name (from a checkpoint: any text) as the printable ASCII the Hershey font draws, at most `length`."""
    return "".join(char if " " <= char <= "~" else "?" for char in label)[:length]
