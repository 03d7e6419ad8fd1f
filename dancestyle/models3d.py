"""Castro et al.'s temporal 3D CNNs: 16-step clips of a stream, trained end to end. Pose: skeletons drawn as
limb heat-maps, a small 3D CNN from scratch; rgb: the frames, torchvision's R3D-18 (Kinetics-400 weights); flow:
the trained per-step flow features through temporal convolutions. Several streams: late fusion.

`LimbHeatmaps` is the pose stream's per-step input for this model (no weights): each step's skeletons, in frame
coordinates (pose.frame_pose_array), become LIMB_GROUPS channels of Gaussian-blurred line segments on a square
grid that the frame's long side spans. `R3DModel` is the model over time: it tiles a window of steps with clips
of `clip_steps`, classifies each clip and averages their probabilities (a window shorter than one clip is looped
to its length, which keeps the dancers' tempo, unlike stretching it). `FramePixels` is the rgb stream's per-step
input for it: square frames (features.square_frames), normalised as Kinetics' video models expect.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from .configs import STREAM_NAMES, R3DConfig
from .errors import WeightsError
from .features import FLOW_DIM

# torchvision's R3D_18_Weights.KINETICS400_V1.transforms(): what its Kinetics-400 weights were trained on
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
R3D18_FEATURES = 512

# COCO keypoint pairs (pose.KEYPOINT_NAMES) by channel; left and right are channels of their own, so a mirrored
# dancer's map is the mirror image with the left and right channels swapped
LIMB_GROUPS: dict[str, tuple[tuple[int, int], ...]] = {
    "head": ((0, 1), (0, 2), (1, 3), (2, 4)),
    "torso": ((5, 6), (11, 12), (5, 11), (6, 12)),
    "left_arm": ((5, 7), (7, 9)),
    "right_arm": ((6, 8), (8, 10)),
    "left_leg": ((11, 13), (13, 15)),
    "right_leg": ((12, 14), (14, 16)),
}
MIRRORED_GROUPS = [0, 1, 3, 2, 5, 4]  # the channel order of a mirrored map
LINE_SIGMA = 0.75  # the lines' Gaussian blur, in grid cells


class LimbHeatmaps(nn.Module):
    """(..., people, 2, 17) skeletons in frame coordinates ([-1, 1] over the long side; absent people all zeros)
    -> (..., channels * grid * grid) heat-maps, flattened so the model over time reads them like other per-step
    features. A cell holds exp(-d^2 / 2 sigma^2) for its distance d to the nearest limb of its channel, over
    every person (the maximum, so overlapping dancers stay in [0, 1])."""

    CPU_BLOCK = 32  # skeletons drawn at once on a CPU (_draw)

    def __init__(self, grid: int) -> None:
        super().__init__()
        self.grid, self.channels = grid, len(LIMB_GROUPS)
        self.dim = self.channels * grid * grid
        pairs = [pair for group in LIMB_GROUPS.values() for pair in group]
        self.register_buffer("starts", torch.tensor([a for a, _ in pairs]), persistent=False)
        self.register_buffer("ends", torch.tensor([b for _, b in pairs]), persistent=False)
        sizes = [len(group) for group in LIMB_GROUPS.values()]  # limbs are listed channel by channel
        self.channel_limbs = [(sum(sizes[:c]), sum(sizes[:c + 1])) for c in range(len(sizes))]
        centres = (torch.arange(grid, dtype=torch.float32) * 2 + 1) / grid - 1  # symmetric about 0: mirrors exactly
        ys, xs = torch.meshgrid(centres, centres, indexing="ij")
        self.register_buffer("cells", torch.stack([xs, ys], -1).reshape(-1, 2), persistent=False)  # (grid^2, 2)
        self.register_buffer("cell_norms", (self.cells * self.cells).sum(-1), persistent=False)  # |cell|^2
        self.sigma = LINE_SIGMA * 2 / grid

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        leading, per_step = poses.shape[:-3], poses.shape[-3]
        people = poses.reshape(-1, 2, poses.shape[-1])  # (steps * people, 2, 17)
        steps = people.shape[0] // per_step
        present = people.flatten(1).ne(0).any(1)  # only drawn people cost anything
        step_of = torch.arange(steps, device=poses.device).repeat_interleave(per_step)[present]
        maps = torch.zeros(steps, self.channels, self.grid * self.grid, device=poses.device, dtype=poses.dtype)
        if bool(present.any()):
            drawn = self._draw(people[present].transpose(1, 2).float()).to(maps.dtype)  # (n, channels, cells)
            maps.scatter_reduce_(0, step_of.view(-1, 1, 1).expand_as(drawn), drawn, "amax")
        return maps.reshape(*leading, self.dim)

    def _draw(self, skeletons: torch.Tensor) -> torch.Tensor:
        """(n, 17, 2) skeletons -> (n, channels, cells), a block of skeletons at a time: on a CPU, blocks whose
        (skeletons, limbs, cells) tensors stay in cache draw 6x faster than one tensor for a whole batch."""
        block = len(skeletons) if skeletons.is_cuda else self.CPU_BLOCK
        return torch.cat([self._draw_block(part) for part in skeletons.split(max(block, 1))])

    def _draw_block(self, skeletons: torch.Tensor) -> torch.Tensor:
        """Each limb's blurred segment, the max per channel. With r = cell - start and a = end - start, the
        nearest point of the segment is at t = clamp(r.a / |a|^2, 0, 1) and d^2 = |r|^2 - 2 t r.a + t^2 |a|^2:
        dot products with the cells (matrix products) instead of (n, limbs, cells, 2) differences."""
        start, end = skeletons[:, self.starts], skeletons[:, self.ends]  # (n, limbs, 2)
        along = end - start
        cells = self.cells.T  # (2, cells)
        length = (along * along).sum(-1, keepdim=True).clamp_min(1e-12)
        r_along = along @ cells - (start * along).sum(-1, keepdim=True)  # (n, limbs, cells)
        r_squared = self.cell_norms - 2 * (start @ cells) + (start * start).sum(-1, keepdim=True)
        t = (r_along / length).clamp_(0, 1)
        distance_squared = (r_squared - t * (2 * r_along - t * length)).clamp_(min=0)
        lines = torch.exp(distance_squared.mul_(-1 / (2 * self.sigma ** 2)))
        return torch.stack([lines[:, first:last].amax(1) for first, last in self.channel_limbs], 1)


class FramePixels(nn.Module):
    """(..., side, side, 3) frames, 0..255 -> (..., 3 * side * side), Kinetics-normalised, channels first."""

    def __init__(self, side: int) -> None:
        super().__init__()
        self.side, self.channels, self.dim = side, 3, 3 * side * side
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(3, 1, 1) * 255, persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(3, 1, 1) * 255, persistent=False)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        leading = frames.shape[:-3]
        x = frames.reshape(-1, self.side, self.side, 3).permute(0, 3, 1, 2).float()
        return ((x - self.mean) / self.std).reshape(*leading, self.dim)


def _conv3d(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv3d(in_channels, out_channels, 3, stride, 1, bias=False), nn.BatchNorm3d(out_channels),
                         nn.ReLU(inplace=True))


def clip_starts(length: int, clip_steps: int) -> list[int]:
    """Where the clips that tile `length` steps start: every clip_steps, the last one ending at the end (as
    windows tile a video); one clip at 0 when the length is shorter than a clip."""
    return sorted({min(start, max(0, length - clip_steps)) for start in range(0, max(length, 1), clip_steps)})


def pose_trunk(config: R3DConfig) -> nn.Module:
    """A small 3D CNN from scratch over limb heat-maps: conv 3x3x3 (width) -> three conv 3x3x3 stride 2 (2, 4, 8 x
    width; each halves time and space) -> global average pool: 8 x width features."""
    width = config.width
    trunk = nn.Sequential(_conv3d(len(LIMB_GROUPS), width, 1), _conv3d(width, 2 * width, 2),
                          _conv3d(2 * width, 4 * width, 2), _conv3d(4 * width, 8 * width, 2),
                          nn.AdaptiveAvgPool3d(1), nn.Flatten())
    trunk.features = 8 * width
    return trunk


def rgb_trunk(config: R3DConfig) -> nn.Module:
    """torchvision's R3D-18 without its Kinetics classifier: 512 features. Random here; the training starts it from
    the Kinetics-400 weights (load_kinetics), a checkpoint from its own."""
    from torchvision.models.video import r3d_18

    trunk = r3d_18(weights=None)
    trunk.fc = nn.Identity()
    trunk.features = R3D18_FEATURES
    return trunk


def load_kinetics(trunk: nn.Module) -> None:
    """Load R3D-18's Kinetics-400 weights into `trunk` through torchvision's weights API, which downloads them
    once (torch.hub's cache) and checks the hash in their file name."""
    from torchvision.models.video import R3D_18_Weights

    try:
        state = R3D_18_Weights.KINETICS400_V1.get_state_dict(progress=False, check_hash=True)
    except (OSError, RuntimeError) as e:  # URLError is an OSError; a hash mismatch a RuntimeError
        raise WeightsError(f"Could not get R3D-18's Kinetics-400 weights ({e}).",
                           "Run once online (torchvision caches them), or train with --random-weights.") from e
    trunk.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=True)


def flow_trunk(config: R3DConfig) -> nn.Module:
    """The flow stream's model over a clip: its trained per-step flow features (features.FlowEncoder, 64-d) through
    two temporal convolutions, averaged over the clip: 64 features."""
    trunk = nn.Sequential(nn.Conv1d(FLOW_DIM, FLOW_DIM, 3, padding=1), nn.BatchNorm1d(FLOW_DIM), nn.ReLU(inplace=True),
                          nn.Conv1d(FLOW_DIM, FLOW_DIM, 3, padding=1), nn.BatchNorm1d(FLOW_DIM), nn.ReLU(inplace=True),
                          nn.AdaptiveAvgPool1d(1), nn.Flatten())
    trunk.features = FLOW_DIM
    return trunk


TRUNKS = {"rgb": rgb_trunk, "pose": pose_trunk, "flow": flow_trunk}  # r3d's network for each stream it reads
IMAGE_STREAMS = {"rgb", "pose"}  # streams read as clips of images: 3D convolutions, channels last


def step_shape(config: R3DConfig, stream: str) -> tuple[int, ...]:
    """One step of a stream as r3d's network reads it: an image (channels, side, side), or flow's features."""
    return {"rgb": (3, config.rgb_size, config.rgb_size), "pose": (len(LIMB_GROUPS), config.grid, config.grid),
            "flow": (FLOW_DIM,)}[stream]


def late_fusion(scores, temperatures: Sequence[float] | None = None) -> torch.Tensor:
    """Each stream's class scores (N, classes) -> the mean of their class probabilities (N, classes); each
    stream's scores divided by its temperature first, where given (calibration.py)."""
    temperatures = temperatures if temperatures is not None else [1.0] * len(scores)
    return torch.stack([torch.softmax(stream_scores.float() / temperature, -1)
                        for stream_scores, temperature in zip(scores, temperatures, strict=True)]).mean(0)


def streams_loss(scores, labels: torch.Tensor) -> torch.Tensor:
    """Each stream's cross-entropy against `labels`, averaged: every stream learns to classify on its own."""
    return torch.stack([nn.functional.cross_entropy(stream_scores, labels) for stream_scores in scores]).mean()


class R3DModel(nn.Module):
    """A network over clips for each stream (TRUNKS: limb heat-maps through a small 3D CNN, frames through R3D-18,
    flow features through temporal convolutions), each -> dropout -> Linear; with several streams, late fusion:
    the mean of their class probabilities.

    forward: (B, T, D) per-step inputs (the streams' concatenation) -> log of the mean fused probabilities of the
    clips tiling each window (as FrameModel returns log vote shares: classify and evaluate average probabilities
    over windows as for the other models). `loss`: each stream's cross-entropy on every clip (each learns to
    classify alone, as in two-stream networks), averaged."""

    def __init__(self, config: R3DConfig, input_dim: int) -> None:
        super().__init__()
        self.clip_steps = config.clip_steps
        self.shapes = {stream: step_shape(config, stream) for stream in STREAM_NAMES if stream in config.streams}
        widths = [math.prod(shape) for shape in self.shapes.values()]
        if sum(widths) != input_dim:
            raise ValueError(f"r3d reads {self.shapes} per step, not {input_dim} features")
        self.edges = [sum(widths[:i]) for i in range(len(widths) + 1)]  # each stream's slice of a step
        self.trunks = nn.ModuleDict({stream: TRUNKS[stream](config) for stream in self.shapes})
        for stream in IMAGE_STREAMS & self.trunks.keys():
            self.trunks[stream].to(memory_format=torch.channels_last_3d)  # 1.6x faster 3D convolutions on a CPU
        self.dropout = nn.Dropout(config.dropout)
        self.outs = nn.ModuleDict({stream: nn.Linear(trunk.features, len(config.classes))
                                   for stream, trunk in self.trunks.items()})

    def load_pretrained(self) -> None:
        """Start from published weights where a stream's network has them (rgb: Kinetics-400)."""
        if "rgb" in self.trunks:
            load_kinetics(self.trunks["rgb"])

    def clips(self, x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        """(clips (N, clip_steps, D), the window each came from (N,)). A window's steps beyond its length (batch
        padding) are never read; a window shorter than a clip is looped."""
        steps = [x.shape[1]] * x.shape[0] if lengths is None else [int(n) for n in lengths]
        rows, owners = [], []
        for window, length in enumerate(steps):
            for start in clip_starts(length, self.clip_steps):
                rows.append((torch.arange(self.clip_steps) + start) % length)
                owners.append(window)
        owner = torch.tensor(owners, device=x.device)
        return x[owner.unsqueeze(1), torch.stack(rows).to(x.device)], owner

    def stream_clips(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each stream's part of (N, clip_steps, D) clips, channels first: (N, C, clip_steps, side, side) images,
        (N, 64, clip_steps) flow features."""
        parts = {stream: clips[..., first:last].reshape(*clips.shape[:2], *shape).transpose(1, 2)
                 for (stream, shape), first, last in zip(self.shapes.items(), self.edges, self.edges[1:])}
        return {stream: part.contiguous(memory_format=torch.channels_last_3d) if stream in IMAGE_STREAMS else part
                for stream, part in parts.items()}

    def clip_scores(self, clips: torch.Tensor) -> dict[str, torch.Tensor]:
        """Each stream's class scores for every clip."""
        return {stream: self.outs[stream](self.dropout(self.trunks[stream](part)))
                for stream, part in self.stream_clips(clips).items()}

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        clips, owner = self.clips(x, lengths)
        return self._mean_log_probability(self.clip_scores(clips), owner, x.shape[0])

    @staticmethod
    def _mean_log_probability(scores: dict[str, torch.Tensor], owner: torch.Tensor, windows: int) -> torch.Tensor:
        probabilities = late_fusion(scores.values())
        total = torch.zeros(windows, probabilities.shape[1], device=owner.device).index_add_(0, owner, probabilities)
        count = torch.bincount(owner, minlength=windows).clamp_min(1).unsqueeze(1)
        return torch.log(total / count + 1e-8)

    def loss(self, x: torch.Tensor, lengths: torch.Tensor | None, labels: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """(each stream's cross-entropy over every clip, averaged; the windows' log mean fused probabilities)."""
        clips, owner = self.clips(x, lengths)
        scores = self.clip_scores(clips)
        loss = streams_loss(scores.values(), labels[owner])
        return loss, self._mean_log_probability({k: s.detach() for k, s in scores.items()}, owner, x.shape[0])
