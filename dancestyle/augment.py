"""What training does to a window of a clip's features so the model sees more than the clips themselves.

Always (but under `--recipe paper`, as the authors' code had no flip), half of the time, one flip in every stream
that has a left and a right (skeletons, flow, RGB frames read as pixels: r3d; ResNet-18 features cannot be flipped
after the fact), by default DEFAULT_FLIP; `--augment` names the other instead (and then flips under either recipe):
- `mirror`: the mirrored dance (x negated; a skeleton's left and right keypoints swapped, so a left foot stays a
  left foot);
- `behind`: the dance seen from the other side of the floor. Pixels and flow flip as in the mirror (in two
  dimensions they cannot tell front from back); skeletons have x negated and keep their sides (a dancer seen from
  behind has its left hand on the left of the picture). It keeps which way dancers turn and which foot leads.

On request (`dancestyle train --augment jitter,rotate,shift`; the paper named jitter, shift, rotate and blur as
next steps), each on every training window:
- `jitter` (pose): every keypoint of every present skeleton moves by Gaussian noise of sd JITTER_SD (skeletons are
  normalised to their box, so 0.03 is 1.5% of the box);
- `rotate` (pose): each window's skeletons turn by one angle up to ROTATE_DEGREES about their box centre, then are
  normalised to their box again (scaling a skeleton is no augmentation: the normalisation undoes it);
- `shift` (flow): each window's flow fields move by up to one grid cell in x and y, zeros filling in (the dancers
  framed a little differently).
None is on by default: models.md has what each did over three seeds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import torch

from .features import Window, mirror_flow
from .pose import normalise_skeletons

# COCO keypoint order (pose.py) with left and right swapped
MIRROR = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
JITTER_SD = 0.03
ROTATE_DEGREES = 15.0


def mirror(poses: np.ndarray) -> np.ndarray:
    """Left-right mirror of normalised skeletons (..., people, 2, 17): x negated, sides swapped."""
    mirrored = poses[..., MIRROR].copy()
    mirrored[..., 0, :] *= -1
    return mirrored


def mirror_rgb(rgb: np.ndarray) -> np.ndarray:
    """Frames as pixels (steps, height, width, 3) flipped left-right; per-frame ResNet-18 features (steps, 512)
    cannot be, and come back as they are."""
    return np.ascontiguousarray(rgb[..., ::-1, :]) if rgb.ndim == 4 else rgb


def behind(poses: np.ndarray) -> np.ndarray:
    """Normalised skeletons (..., people, 2, 17) seen from the other side: x negated, each keypoint keeps its side."""
    turned = poses.copy()
    turned[..., 0, :] *= -1
    return turned


MIRRORS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"pose": mirror, "flow": mirror_flow, "rgb": mirror_rgb}
FLIPS = {"mirror": MIRRORS, "behind": {**MIRRORS, "pose": behind}}  # name -> stream -> the flip
# chosen on synthetic corpus v3's validation split (seed 0, pose): the tcn kept 63.1% with "behind", 48.7% with the
# mirror (models.md); a probe network outside the product, 78.6% against 50.3% after 30 epochs
DEFAULT_FLIP = "behind"


def flipped_batch(inputs: dict[str, torch.Tensor], flip: str) -> dict[str, torch.Tensor]:
    """A batch of windows {stream: (B, steps, ...)}, each window flipped as FLIPS[flip] flips a training window
    (the test-time flip, models.py)."""
    flips = FLIPS[flip]

    def flipped(stream: str, batch: torch.Tensor) -> torch.Tensor:
        if stream not in flips:
            return batch
        windows = [flips[stream](window) for window in batch.detach().cpu().numpy()]
        return torch.from_numpy(np.stack(windows)).to(batch.device, batch.dtype)

    return {stream: flipped(stream, batch) for stream, batch in inputs.items()}


def flip_window(window: Window, generator: torch.Generator, flip: str = DEFAULT_FLIP) -> Window:
    """The window flipped (FLIPS[flip]) half of the time (one draw from `generator` either way)."""
    if bool(torch.rand(1, generator=generator) < 0.5):
        flips = FLIPS[flip]
        return {stream: flips[stream](array) if stream in flips else array for stream, array in window.items()}
    return window


def _present(poses: np.ndarray) -> np.ndarray:
    """(..., people, 1, 1) True where a skeleton is there (padding is all zeros)."""
    return np.any(poses != 0, axis=(-2, -1), keepdims=True)


def jitter(poses: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """(steps, people, 2, 17) skeletons with Gaussian noise on present ones, kept within [-1, 1]."""
    noise = torch.randn(poses.shape, generator=generator).numpy() * JITTER_SD
    return np.clip(poses + noise * _present(poses), -1, 1).astype(poses.dtype)


def rotate(poses: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """(steps, people, 2, 17) skeletons turned by one random angle about their box centre, re-normalised."""
    angle = math.radians(float(torch.empty(1).uniform_(-ROTATE_DEGREES, ROTATE_DEGREES, generator=generator)))
    turn = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]], np.float32)
    points = np.einsum("ij,...jk->...ik", turn, poses)  # (x, y) of each keypoint
    flat = points.reshape(-1, 2, poses.shape[-1]).transpose(0, 2, 1)  # (skeletons, 17, 2)
    turned = normalise_skeletons(flat).transpose(0, 2, 1).reshape(poses.shape)
    return np.where(_present(poses), turned, 0).astype(poses.dtype)


def shift(stacks: np.ndarray, generator: torch.Generator) -> np.ndarray:
    """(steps, pairs, 2, grid, grid) flow moved by (dy, dx) in {-1, 0, 1} cells, zeros filling the edge."""
    dy, dx = (int(step) for step in torch.randint(-1, 2, (2,), generator=generator))
    moved = np.zeros_like(stacks)
    rows, columns = stacks.shape[-2:]
    moved[..., max(dy, 0):rows + min(dy, 0), max(dx, 0):columns + min(dx, 0)] = \
        stacks[..., max(-dy, 0):rows - max(dy, 0), max(-dx, 0):columns - max(dx, 0)]
    return moved


# name -> (the stream it changes, what it does)
AUGMENTATIONS: dict[str, tuple[str, Callable[[np.ndarray, torch.Generator], np.ndarray]]] = {
    "jitter": ("pose", jitter), "rotate": ("pose", rotate), "shift": ("flow", shift)}


def augment_window(window: Window, names: Sequence[str], generator: torch.Generator, flip: bool = True) -> Window:
    """The window flipped half of the time (by the flip named, else DEFAULT_FLIP; not at all when no flip is
    named and `flip` is False: the paper's recipe), then each other named augmentation applied to its stream."""
    named = next((name for name in names if name in FLIPS), None)
    if named or flip:
        window = flip_window(window, generator, named or DEFAULT_FLIP)
    for name in names:
        if name in FLIPS:
            continue
        stream, change = AUGMENTATIONS[name]
        if stream in window:
            window = {**window, stream: change(window[stream], generator)}
    return window
