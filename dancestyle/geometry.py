"""The input's geometry: the times and sizes every path shares (train's cache, classify, watch, the checkpoint
format). One place, so a path cannot drift from the others; no imports from the package, so any module may use it.
"""

from __future__ import annotations

from fractions import Fraction

BASE_FPS = 30  # the paper's strides are in frames of 30 fps video
WINDOW_SECONDS = 10  # the training clips of Let's Dance are ~10 s long
CACHE_STRIDE = 5  # the training cache samples every 5th frame for every model whose stride is a multiple of it
RGB_SIZE = 256  # the paper resizes frames to 256 x 256 for the ResNet-18 trunk
DEFAULT_DETECTOR_SIZE = 512  # short side of the frames a pose backend reads; see models.md for the trade
FLOW_BASE = Fraction(1, 30)  # flow is measured in pixels per 1/30 s, the paper's frame time
WATCH_HOP = 2.0  # seconds between `watch`'s reports by default: a live view wants news more often than every 10 s


def cache_stride(stride: int) -> int:
    """Frames between the cached samples a model of `stride` reads: CACHE_STRIDE when it divides the stride (one
    cache serves all those models, each reading every (stride / CACHE_STRIDE)-th sample), else the model's own
    stride (a cache of its own)."""
    return CACHE_STRIDE if stride % CACHE_STRIDE == 0 else stride
