"""Videos made inside the tests (never committed): frames that carry their own index, and bad files."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

INDEX_BITS = 12  # frames up to 4095 carry their index
SMALL_CORPUS_STYLES = ("ballet", "break", "flamenco", "waltz")  # conftest's `corpus`


def index_frame(index: int, width: int = 64, height: int = 96) -> np.ndarray:
    """A frame whose horizontal bands spell `index` in binary (white = 1): survives lossy codecs."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    band = height // INDEX_BITS
    for bit in range(INDEX_BITS):
        if index >> bit & 1:
            image[bit * band:(bit + 1) * band] = 255
    return image


def read_index(image: np.ndarray) -> int:
    """Recover the index written by index_frame from a decoded (possibly resized) frame."""
    band = image.shape[0] / INDEX_BITS
    index = 0
    for bit in range(INDEX_BITS):
        centre = image[int((bit + 0.5) * band)]
        if centre.mean() > 127:
            index |= 1 << bit
    return index


def make_video(path: Path, frames: int = 30, fps: int | Fraction = 30, codec: str = "libx264",
               pix_fmt: str = "yuv420p", size: tuple[int, int] = (64, 96), images: list[np.ndarray] | None = None,
               ) -> Path:
    """Encode `frames` index frames (or the given images) at `fps` into `path`; the container follows the suffix."""
    width, height = size
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=fps)
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    for i in range(frames):
        image = images[i] if images is not None else index_frame(i, width, height)
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def make_audio_only(path: Path, seconds: float = 0.5) -> Path:
    """An audio-only file (no video stream)."""
    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=16000)
    samples = int(16000 * seconds)
    for start in range(0, samples, 1024):
        tone = np.sin(np.arange(start, start + 1024) / 10).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 16000
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path
