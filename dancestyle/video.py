"""Video input: find video files, decode them with PyAV in one pass, sample frames at fixed instants.

The paper's strides count frames of 30 fps video, so a stride is really a time interval (stride / 30 s).
We sample the frame *on screen* at each instant k * interval, which picks the same moments in a 25, 30 or
60 fps video. Only sampled frames are converted to RGB, and frames are yielded as they are decoded, so memory
stays bounded whatever the video's length. Without flow, the frames no instant shows are not decoded where the codec
can skip them (non-reference frames: `UnseenFrames`); a sparse model pays for about half the decoding of an H.264
video with B-frames, and the sampled frames are the same.
"""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from . import cores
from .errors import InputError, MediaError
from .geometry import BASE_FPS

if TYPE_CHECKING:
    from .flow import FlowSettings

STDIN = "-"  # the input read from standard input
URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")  # http://, https://, rtsp://, ...: opened by FFmpeg's protocols
NETWORK_TIMEOUT = 10.0  # seconds a network input may take to connect, or to send more data
Source = Path | str  # a file; or STDIN, a URL or a camera, kept as given
VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .mkv .webm .avi .mpg .mpeg .wmv .flv .3gp .ts .mts .m2ts .ogv .gif".split()
)


@dataclass
class SampledFrame:
    """One sampled frame: its sample number, the instant it was taken for, the RGB image (H, W, 3) uint8, and
    when asked for, the flow stack around the instant (flow.py: (pairs, 2, grid, grid) float32)."""

    index: int
    time: float
    image: np.ndarray | None
    flow: np.ndarray | None = None


@dataclass
class VideoEnd:
    """Where the video ended (seconds after its first frame): the last item of iter_sampled_frames(with_end=True).
    truncated: it ended early (the decoder failed partway, or a pipe or network input closed before the length
    its container declared); what arrived was sampled."""

    seconds: float
    truncated: bool = False


# the most samples one decoded frame gives: a 1 fps video sampled every 1/30 s gives 30 of each frame; more only
# where timestamps jump (a 33-hour gap between two frames of a 3 KB file was sampled 60,000 times, the networks run
# on one held frame each time) or are broken (an MP4 of timescale 0). The instants a frame would fill beyond it
# are skipped: the video's samples go on from its next frame.
MAX_SAMPLES_PER_FRAME = 30


def sample_interval(stride: int, base_fps: int = BASE_FPS) -> Fraction:
    """Seconds between samples for a stride given in frames of `base_fps` video."""
    return Fraction(stride, base_fps)


def is_live(source: Source) -> bool:
    """Standard input, a network address or a camera: read once, front to back, as it arrives."""
    return isinstance(source, str) and (source == STDIN or bool(URL.match(source)) or is_camera(source))


def is_camera(source: Source) -> bool:
    """A Video4Linux camera (/dev/video0, ...), opened with FFmpeg's v4l2 input."""
    return isinstance(source, str) and source.startswith("/dev/video")


def find_videos(inputs: Iterable[str]) -> list[tuple[str, Source | None, InputError | None]]:
    """Expand files, directories (recursively) and glob patterns into video files; `-` (standard input) and
    URLs are kept as given.

    Returns one (input, source, error) row per video found, or one row with an error for an input that
    yields nothing, so a bad input is reported in its place and never stops the others.
    """
    rows: list[tuple[str, Source | None, InputError | None]] = []
    for given in inputs:
        if is_live(given):
            again = given == STDIN and any(source == STDIN for _, source, _ in rows)
            rows.append((given, None, InputError("-: standard input can be read only once.", "Pass - once."))
                        if again else (given, given, None))
            continue
        path = Path(given).expanduser()
        if path.is_dir():
            found = sorted(p for p in path.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS and p.is_file())
            if not found:
                rows.append((given, None, InputError(
                    f"{given}: no video files in this directory.",
                    f"Expected files ending in one of: {', '.join(sorted(VIDEO_EXTENSIONS))}.")))
            rows.extend((str(p), p, None) for p in found)
        elif path.exists() or os.path.islink(path):
            rows.append((given, path, None))
        elif glob.has_magic(given):
            matches = sorted(Path(m) for m in glob.glob(os.path.expanduser(given), recursive=True))
            files = [m for m in matches if m.is_file()]
            if not files:
                rows.append((given, None, InputError(f"{given}: the pattern matches no files.",
                                                     "Check the pattern and quote it if the shell expands it.")))
            rows.extend((str(m), m, None) for m in files)
        else:
            rows.append((given, None, InputError(f"{given}: no such file or directory.",
                                                 "Check the path.")))
    return rows


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file or directory.", "Check the path.")
    if not path.is_file():
        raise InputError(f"{path}: not a regular file.", "Pass a video file or a directory of videos.")
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: permission denied.", "Make the file readable (chmod +r) or copy it.")
    if path.stat().st_size == 0:
        raise MediaError(f"{path}: the file is empty (0 bytes).", "Re-download or re-export the video.")


def _open(path: Source):
    """An opened container with a video stream: a file, standard input (FFmpeg's pipe:0, so MP4 works when its
    index comes first) or a URL (with NETWORK_TIMEOUT to connect and between reads)."""
    import av

    if isinstance(path, Path):
        _check_readable(path)
    if path == STDIN and os.isatty(0):  # FFmpeg would wait for a video typed at the keyboard
        raise InputError("-: standard input is a terminal, not a video.",
                         "Pipe a video in, e.g. cat clip.mkv | dancestyle classify -")
    target, timeout = ("pipe:0", None) if path == STDIN else (str(path), NETWORK_TIMEOUT if is_live(path) else None)
    try:
        container = av.open(target, mode="r", timeout=timeout, format="v4l2" if is_camera(path) else None)
    except PermissionError as e:
        raise InputError(f"{path}: permission denied.", "Make the file readable or copy it.") from e
    except (av.FFmpegError, OSError, UnicodeDecodeError, ValueError) as e:
        raise _stream_error(path, e) or MediaError(
            f"{path}: not a video FFmpeg can read ({_reason(e)}).",
            "Check that it is a complete video file; re-export it if it was cut short (" + PIPED_MP4_HINT + ").") from e
    if not container.streams.video:
        container.close()
        raise MediaError(f"{path}: the file has no video stream (audio only?).",
                         "Pass a file that contains video.")
    return container


def _stream_error(source: Source, error: Exception) -> InputError | None:
    """A network input that could not be reached or went silent, said as such (None for other inputs and for
    content FFmpeg cannot read, which is a MediaError)."""
    import av

    if not is_live(source) or source == STDIN:
        return None
    if isinstance(error, av.ExitError):  # the timeout's interrupt
        return InputError(f"{source}: no data for {NETWORK_TIMEOUT:g} s (timed out).",
                          "Check that the address is right and the server is sending video.")
    if isinstance(error, (OSError, av.HTTPError, av.HTTPClientError, av.HTTPServerError)):
        return InputError(f"{source}: could not be opened ({_reason(error)}).",
                          "Check that the camera is connected and free (ls /dev/video*)." if is_camera(source) else
                          "Check the address, and that FFmpeg supports its protocol (ffmpeg -protocols).")
    return None


# an MP4 written as usual keeps its index (moov) at the end, which a pipe reaches only after the frames
PIPED_MP4_HINT = ("an MP4 on standard input needs its index first: ffmpeg -movflags +faststart, or pipe Matroska: "
                  "-f matroska")


def _corrupt_hint(source: Source) -> str:
    if source == STDIN:
        return f"{PIPED_MP4_HINT[0].upper()}{PIPED_MP4_HINT[1:]} (or pass the file itself); otherwise it is corrupt."
    return "The video is corrupt or truncated; re-export or re-download it."


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.split(":")[-1].strip() or type(error).__name__


def _display_size(width: int, height: int, max_short_side: int | None) -> tuple[int, int]:
    """Scale (width, height) down so the short side is at most max_short_side, keeping the aspect."""
    short = min(width, height)
    if not max_short_side or short <= max_short_side:
        return width, height
    scale = max_short_side / short
    # even sizes keep swscale's chroma handling exact; never below 2 px
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def _reformatter():
    """A swscale converter to keep across a video's frames: frame.to_ndarray(width=..., height=...) sets one up for
    every frame (0.2-1.5 ms each at 360p-1080p on 2 cores, more than the conversion itself); the pixels are the same."""
    from av.video.reformatter import VideoReformatter

    return VideoReformatter()


def _to_rgb(frame, max_short_side: int | None, reformatter) -> np.ndarray:
    width, height = _display_size(frame.width, frame.height, max_short_side)
    return _upright(frame, reformatter.reformat(frame, width=width, height=height, format="rgb24").to_ndarray())


def _upright(frame, image: np.ndarray) -> np.ndarray:
    quarter_turns = round(frame.rotation / 90) % 4  # the display matrix's counter-clockwise angle
    if quarter_turns:  # phone videos: turn the stored frame the way players show it
        image = np.ascontiguousarray(np.rot90(image, k=quarter_turns))
    return image


def iter_sampled_frames(path: Source, interval: Fraction, max_short_side: int | None = None,
                        flow: FlowSettings | None = None, with_end: bool = False) -> Iterator[SampledFrame]:
    """Decode `path` once and yield the frame on screen at each instant 0, interval, 2*interval, ...

    Instants run up to the end of the last frame. Times are exact fractions of the stream's time base,
    measured from the first decoded frame; a frame starting within an eighth of a frame after an instant
    counts as on screen at it. With `flow`, each sample also carries its flow stack (flow.py), computed here
    from the frames that follow it, so it is yielded a few frames later. with_end: a VideoEnd comes last.
    """
    if flow is None:
        for item in _sampled_frames(path, interval, max_short_side, with_decoded=with_end, skip_unseen=True):
            if isinstance(item, SampledFrame):
                yield item
            elif item[0] == "end":
                yield VideoEnd(float(item[1]), item[5])
        return
    from .flow import MotionStacks, StackQueue

    stacks, queue, reformatter = None, StackQueue(), _reformatter()
    for item in _sampled_frames(path, interval, max_short_side, with_decoded=True):
        if isinstance(item, SampledFrame):
            queue.add_item(item.index, item)
            continue
        kind, time, frame, slack, frame_duration, truncated = item  # ("frame", start, av frame, ...), ("end", ...)
        stacks = stacks or MotionStacks(flow, interval, slack)
        if kind == "frame":
            time = _on_frame_grid(time, frame_duration)
            queue.add_stacks(stacks.push(time, lambda f=frame: _flow_grey(f, flow.size, reformatter)))
        else:
            queue.add_stacks(stacks.finish(time))
        for sample, stack in queue.ready():
            sample.flow = stack
            yield sample
        if kind == "end" and with_end:
            yield VideoEnd(float(time), truncated)


def _on_frame_grid(time: Fraction, frame_duration: Fraction) -> Fraction:
    """A frame's start snapped to the stream's nominal frame grid when within an eighth of a frame of it:
    Matroska stores milliseconds, so 30 fps frames lie 33 or 34 ms apart, and flow is scaled by the gap."""
    if not frame_duration:
        return time
    nearest = round(time / frame_duration) * frame_duration
    return nearest if abs(time - nearest) <= frame_duration / 8 else time


def _flow_grey(frame, size: int, reformatter) -> np.ndarray:
    """A decoded frame's luma at the flow's short side, upright. Luma, not grey made from RGB: it is what the
    encoder kept at full resolution (chroma is halved), and equals frame folders' grey (BT.601) where no codec
    changed it."""
    from .flow import flow_frame_size, to_grey

    width, height = _display_size(frame.width, frame.height, None)
    if min(width, height) > size:  # let swscale do the big shrink; to_grey makes the short side exact
        width, height = flow_frame_size(width, height, size)
    grey = reformatter.reformat(frame, width=width, height=height, format="gray").to_ndarray()
    return to_grey(_upright(frame, grey), size)


def _sampled_frames(path: Source, interval: Fraction, max_short_side: int | None,
                    with_decoded: bool = False, skip_unseen: bool = False) -> Iterator:
    """iter_sampled_frames without flow. with_decoded: also yield ("frame", start, av frame, slack, frame
    duration, False) for every decoded frame after the samples it ends, and ("end", end time, None, slack, frame
    duration, truncated) last. skip_unseen: the decoder skips non-reference frames that no instant can show
    (`UnseenFrames`), so "frame" items are then not every frame: flow, which needs them all, leaves it off."""
    import av

    path = path if is_live(path) else Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # several times faster; frames still come out in order
        stream.codec_context.thread_count = cores.decode_threads()  # its share of the cores, beside the networks
        rate = stream.average_rate or stream.guessed_rate
        frame_duration = Fraction(1, 1) / Fraction(rate) if rate else Fraction(0)
        # Containers such as Matroska round timestamps to milliseconds: allow an eighth of a frame of slack
        # so an instant that falls exactly on a frame's start picks that frame.
        slack = frame_duration / 8 if rate else Fraction(1, 2000)
        reformatter = _reformatter()
        first_pts = None
        previous = None  # the last decoded frame: it is on screen until the next one starts
        previous_time = Fraction(0)
        target = 0
        decoded = 0
        held = 0  # samples taken of the frame on screen
        truncated = False
        try:
            unseen = UnseenFrames(interval, slack) if skip_unseen else None
            for frame in _decode(container, stream, unseen):
                if frame.pts is not None and frame.time_base is not None:
                    first_pts = frame.pts if first_pts is None else first_pts
                    time = (frame.pts - first_pts) * Fraction(frame.time_base)
                else:
                    time = decoded * frame_duration
                decoded += 1
                while previous is not None and target * interval + slack < time:
                    if held == MAX_SAMPLES_PER_FRAME:  # the timestamps jump: go on from the next frame
                        target = _first_instant_from(time - slack, interval)
                        break
                    image = _to_rgb(previous, max_short_side, reformatter)
                    yield SampledFrame(target, float(target * interval), image)
                    target, held = target + 1, held + 1
                if with_decoded:
                    yield "frame", time, frame, slack, frame_duration, False
                previous, previous_time, held = frame, time, 0
        except av.FFmpegError as e:
            if previous is None:
                raise _stream_error(path, e) or MediaError(
                    f"{path}: no frame could be decoded ({_reason(e)}).", _corrupt_hint(path)) from e
            truncated = True  # keep what decoded, like a player would, and say so
        if previous is None:
            raise MediaError(f"{path}: the video stream holds no decodable frames.", _corrupt_hint(path))
        end = previous_time + frame_duration
        truncated = truncated or _ended_early(path, container, end)
        while target == 0 or (target * interval + slack < end and held < MAX_SAMPLES_PER_FRAME):
            image = _to_rgb(previous, max_short_side, reformatter)
            yield SampledFrame(target, float(target * interval), image)
            target, held = target + 1, held + 1
        if with_decoded:
            yield "end", end, None, slack, frame_duration, truncated
    finally:
        container.close()


class UnseenFrames:
    """Which frames no sampling instant shows, told from a packet before it is decoded, so that a sparse model
    (lstm: an instant every 2 s) does not pay for decoding the frames between its instants.

    A frame starting at t is on screen at the instants k * interval with t <= k * interval + slack < the next
    frame's start (the rule of _sampled_frames). The next frame's start is not known before decoding (B-frames
    come out of order), but it is at most the earliest later timestamp among the packets seen so far, which
    include a B-frame's forward reference: judged with that bound, a frame said to be unseen is never one an
    instant shows. Only non-reference frames are skipped (FFmpeg's skip_frame NONREF: no other frame is decoded
    from them), so every frame kept decodes exactly as before; codecs without the option decode everything."""

    RECENT = 64  # timestamps kept for the bound: far more than any decoder's reordering depth

    def __init__(self, interval: Fraction, slack: Fraction) -> None:
        from collections import deque

        self.interval, self.slack = interval, slack
        self.first_pts: int | None = None  # the first decoded frame's, which times count from (set by _decode)
        self.recent: deque[int] = deque(maxlen=self.RECENT)
        self.off = False  # a packet without a timestamp: frames are then timed by their count, so keep them all

    def unseen(self, packet) -> bool:
        """Whether `packet`'s frame is on screen at no instant (a packet with no frame, or no time, is seen)."""
        if packet.pts is None or packet.time_base is None:
            self.off = self.off or packet.size > 0
            return False
        later = [pts for pts in self.recent if pts > packet.pts]
        self.recent.append(packet.pts)
        if self.off or self.first_pts is None or not later:
            return False
        time_base = Fraction(packet.time_base)
        start, next_start = (packet.pts - self.first_pts) * time_base, (min(later) - self.first_pts) * time_base
        instant = max(0, _first_instant_from(start - self.slack, self.interval))  # the first it could show
        return instant * self.interval + self.slack >= next_start


def _decode(container, stream, unseen: UnseenFrames | None) -> Iterator:
    """container.decode(stream), the decoder told to skip the non-reference frames `unseen` says no instant shows."""
    if unseen is None:
        yield from container.decode(stream)
        return
    codec, skipping = stream.codec_context, False
    for packet in container.demux(stream):
        if unseen.unseen(packet) != skipping:  # frame threads copy the setting as each packet goes in
            skipping = not skipping
            codec.skip_frame = "NONREF" if skipping else "DEFAULT"
        for frame in packet.decode():
            if unseen.first_pts is None and frame.pts is not None:
                unseen.first_pts = frame.pts
            yield frame


def _first_instant_from(time: Fraction, interval: Fraction) -> int:
    """The first sampling instant at or after `time`."""
    return -(-time // interval)


def _ended_early(source: Source, container, end: Fraction) -> bool:
    """Whether a pipe or network input stopped short of the length its container declared (by more than a second:
    audio often outlasts video a little). A file's length is what it holds; a live stream declares none."""
    if isinstance(source, Path) or not container.duration:
        return False
    return end < Fraction(container.duration, 1_000_000) - 1  # AV_TIME_BASE: microseconds


class ReadAhead:
    """Runs an iterator (a video's decoding) in a background thread, at most `depth` items ahead of its consumer,
    so decoding overlaps the networks (PyAV, OpenCV and the networks release the GIL). It starts on creation;
    iterate it once. An exception in the iterator is raised to the consumer at the item where it happened."""

    _END = object()

    def __init__(self, items: Iterator, depth: int = 16) -> None:
        import queue
        import threading

        cores.apply_to_torch()  # the networks that run while this decodes keep to their share of the cores
        self._items, self._queue = items, queue.Queue(maxsize=depth)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="dancestyle-decode", daemon=True)
        self._thread.start()

    def _put(self, entry) -> bool:
        import queue

        while not self._stopped.is_set():
            try:
                self._queue.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _produce(self) -> None:
        try:
            for item in self._items:
                if not self._put((item, None)):
                    return
            self._put((self._END, None))
        except BaseException as error:  # handed to the consumer, raised there
            self._put((self._END, error))
        finally:
            close = getattr(self._items, "close", None)
            if close:
                close()  # a generator's own clean-up (closing the container) runs in the thread that ran it

    def __iter__(self) -> Iterator:
        try:
            while True:
                item, error = self._next()
                if error is not None:
                    raise error
                if item is self._END:
                    return
                yield item
        finally:
            self.close()

    def _next(self) -> tuple:
        """The next entry, waiting in short slices: a Ctrl-C that the OS hands to the decoding thread (blocked
        reading a silent pipe) only flags the main thread, which must wake to raise it, not wait on forever."""
        import queue

        while True:
            try:
                return self._queue.get(timeout=0.1)
            except queue.Empty:
                continue

    def close(self, wait: float = 1.0) -> None:
        """Stop decoding (e.g. the consumer gave up) and wait for the thread to finish, at most `wait` seconds: a
        thread blocked reading a pipe or camera that sends nothing more is left behind (it is a daemon, so it never
        keeps the process alive), rather than hanging Ctrl-C."""
        self._stopped.set()
        self._thread.join(wait)


@dataclass(frozen=True)
class Decoding:
    """How a model reads a video: an instant every `interval` seconds, frames of at most `max_short_side` px on
    the short side, and the flow stacks decoded with them (None: none)."""

    interval: Fraction
    max_short_side: int | None = None
    flow: FlowSettings | None = None

    def read_ahead(self, source: Source) -> ReadAhead:
        """Start decoding `source`'s sampled frames in a background thread, a VideoEnd last."""
        return ReadAhead(iter_sampled_frames(source, self.interval, self.max_short_side, self.flow, with_end=True))


class EarlyStart:
    """A local file's decoding started before the networks load (importing torch alone takes a second or more), so
    the two overlap. Whoever then asks for the same file decoded the same way takes it over (`take`); anything else
    decodes afresh, and `close` stops what nobody took. Not for live sources: they can be read only once."""

    def __init__(self, source: Source, decoding: Decoding) -> None:
        self.source, self.decoding = source, decoding
        self.reader: ReadAhead | None = decoding.read_ahead(source)

    def take(self, source: Source, decoding: Decoding) -> ReadAhead | None:
        if self.reader is None or str(source) != str(self.source) or decoding != self.decoding:
            return None
        reader, self.reader = self.reader, None
        return reader

    def close(self) -> None:
        if self.reader is not None:
            self.reader.close()
            self.reader = None


def chunked(items: Iterable, size: int) -> Iterator[list]:
    """Consecutive lists of `size` items (the last may be shorter), without holding more than one list."""
    chunk: list = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
