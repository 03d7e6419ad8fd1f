"""Per-frame features: the RGB stream (ResNet-18 trunk, 512-d), the pose encoders (102-d) and the flow encoder
(64-d).

Each sees one sampled instant only (flow: the short stack of fields around it); the sequence models in models.py
see the concatenation over time (614-d for rgb + pose).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .configs import POSE_ENCODER_NAMES, STREAM_NAMES
from .geometry import CACHE_STRIDE, RGB_SIZE
from .pose import MAX_PEOPLE, NUM_KEYPOINTS
from .weights import atomic_write_bytes, home

RGB_DIM = 512
POSE_DIM = 3 * 2 * NUM_KEYPOINTS  # 102: PoseEncoder's three conv channels over the (2, 17) grid
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FLOW_DIM = 64
# torchvision's R3D_18_Weights.KINETICS400_V1.transforms(): VideoClassification(crop_size=(112, 112),
# resize_size=(128, 171)), (height, width) resized to whatever the aspect ratio (transforms/_presets.py)
KINETICS_RESIZE, KINETICS_CROP = (128, 171), 112
STREAMS = STREAM_NAMES  # the order of the per-frame concatenation, whatever order a user names them in
Window = dict[str, np.ndarray]  # one window of a clip: stream -> its (steps, ...) per-step features
STREAM_DIMS = dict(zip(STREAMS, (RGB_DIM, POSE_DIM, FLOW_DIM)))


def feature_dim(streams: tuple[str, ...]) -> int:
    """Width of the per-frame feature vector for the given streams (614 for both)."""
    return sum(STREAM_DIMS[stream] for stream in streams)


class BasicBlock(nn.Module):
    """ResNet's two-convolution residual block, with torchvision's parameter names."""

    def __init__(self, in_channels: int, channels: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride, bias=False),
                                            nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + shortcut)


class ResNet18(nn.Module):
    """torchvision's resnet18(), same layers, names and initialisation (so its state dicts load strictly and a
    seeded random one is the same network). Ours because importing torchvision costs ~1.2 s of every `classify`
    here (its ops pull in torch._dynamo), and the fast pose backend needs nothing else from it."""

    def __init__(self, num_classes: int = 1000) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        widths = (64, 128, 256, 512)
        for number, (before, width) in enumerate(zip((64, *widths), widths), 1):
            stride = 1 if number == 1 else 2
            self.add_module(f"layer{number}", nn.Sequential(BasicBlock(before, width, stride), BasicBlock(width, width)))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)
        for module in self.modules():  # torchvision's initialisation, in its order
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.constant_(module.weight, 1)
                nn.init.constant_(module.bias, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class RGBBackbone(nn.Module):
    """ImageNet ResNet-18 with the final fc replaced by identity: (N, H, W, 3) uint8 frames -> (N, 512)."""

    def __init__(self, state_dict: dict[str, torch.Tensor] | None = None) -> None:
        super().__init__()
        self.trunk = ResNet18()
        if state_dict is not None:
            self.trunk.load_state_dict(state_dict, strict=True)
        self.trunk.fc = nn.Identity()
        # channels last: oneDNN's convolutions on a CPU take ~27% less time so (36 -> 26 ms a 256 x 256 frame, 2
        # cores); the features agree with the default layout's to float rounding (a test)
        self.trunk.to(memory_format=torch.channels_last)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """Resize each frame to 256 x 256 and normalise with ImageNet's mean and std."""
        device = self.mean.device
        batch = []
        for image in images:
            tensor = torch.from_numpy(np.ascontiguousarray(image)).to(device).permute(2, 0, 1).unsqueeze(0)
            tensor = nn.functional.interpolate(tensor.float(), size=(RGB_SIZE, RGB_SIZE), mode="bilinear",
                                               antialias=True, align_corners=False)
            batch.append(tensor)
        return (torch.cat(batch) / 255 - self.mean) / self.std

    @torch.inference_mode()
    def forward(self, images: list[np.ndarray]) -> torch.Tensor:
        return self.trunk(self.preprocess(images).contiguous(memory_format=torch.channels_last))


class PoseEncoder(nn.Module):
    """Per-frame pose CNN (after Khalid & Yu 2018): 20 people as channels over a (2, 17) grid of (x, y).

    conv(20->3) -> conv(3->3) -> flatten (102) -> ReLU is the pose feature; `head` (102 -> classes) is used
    only to pre-train the encoder frame by frame, then dropped.
    """

    def __init__(self, num_classes: int = 10, people: int = MAX_PEOPLE) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(people, 3, kernel_size=3, padding=1)
        self.conv2 = nn.Conv2d(3, 3, kernel_size=3, padding=1)
        self.head = nn.Linear(POSE_DIM, num_classes)
        for layer in (self.conv1, self.conv2, self.head):
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        """poses: (..., 20, 2, 17) normalised skeletons -> (..., 102) features."""
        leading = poses.shape[:-3]
        x = self.conv2(self.conv1(poses.reshape(-1, *poses.shape[-3:])))
        return torch.relu(x.flatten(1)).reshape(*leading, POSE_DIM)

    def classify(self, poses: torch.Tensor) -> torch.Tensor:
        """Frame-level class scores, for pre-training the encoder."""
        return self.head(self(poses))


class PeopleEncoder(nn.Module):
    """Per-frame pose encoder that does not depend on the order people are listed in: each person's 34
    box-normalised coordinates go through one shared MLP (34 -> 128 -> 51, ReLU), then the mean and the maximum
    over the people present (zero-padded slots are skipped) make the 102-d feature.

    Neither Let's Dance's skeleton files nor a detector keep people in one order from frame to frame; the paper's
    PoseEncoder reads person slot k as one channel, so a swap between frames looks like motion. On the synthetic
    corpus, where only motion tells styles apart, a tcn over this encoder learns what the slot encoder cannot
    (models.md). `head` (102 -> classes) is for frame-by-frame pre-training only, as PoseEncoder's.
    """

    person_inputs = 2 * NUM_KEYPOINTS  # what the shared MLP reads of each person

    def __init__(self, num_classes: int = 10, hidden: int = 128) -> None:
        super().__init__()
        self.person = nn.Sequential(nn.Linear(self.person_inputs, hidden), nn.ReLU(),
                                    nn.Linear(hidden, POSE_DIM // 2), nn.ReLU())
        self.head = nn.Linear(POSE_DIM, num_classes)

    def each_person(self, poses: torch.Tensor) -> torch.Tensor:
        """(..., people, 2, 17) skeletons -> (..., people, person_inputs): the box-normalised coordinates."""
        return poses.flatten(-2)

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        """poses: (..., people, 2, 17) skeletons, absent people all zeros -> (..., 102) features."""
        present = (poses.flatten(-2) != 0).any(-1, keepdim=True).to(poses.dtype)
        each = self.person(self.each_person(poses)) * present
        mean = each.sum(-2) / present.sum(-2).clamp(min=1)
        return torch.cat([mean, each.max(-2).values], -1)

    def classify(self, poses: torch.Tensor) -> torch.Tensor:
        """Frame-level class scores, for pre-training the encoder."""
        return self.head(self(poses))


class PlacedPeopleEncoder(PeopleEncoder):
    """PeopleEncoder that also reads where each person is and how big: it takes skeletons in frame coordinates
    (pose form "frame") and gives the MLP each one's 34 box-normalised coordinates and its box's centre, width and
    height (38 numbers). A skeleton in its own box cannot show a body rising and falling, travelling or turning
    about a partner; the box does (pose_encoder "placed")."""

    person_inputs = 2 * NUM_KEYPOINTS + 4

    def each_person(self, poses: torch.Tensor) -> torch.Tensor:
        low, high = poses.amin(-1, keepdim=True), poses.amax(-1, keepdim=True)  # (..., people, 2, 1)
        size = high - low
        in_box = torch.where(size > 0, 2 * (poses - low) / size.clamp(min=1e-6) - 1, torch.zeros_like(poses))
        box = torch.cat([(low + high) / 2, size], -1).flatten(-2)  # centre x, width, centre y, height
        return torch.cat([in_box.flatten(-2), box], -1)


POSE_ENCODERS = dict(zip(POSE_ENCODER_NAMES, (PeopleEncoder, PoseEncoder, PlacedPeopleEncoder)))  # configs.ModelConfig.pose_encoder


class FlowEncoder(nn.Module):
    """Per-instant flow CNN: a (pairs, 2, grid, grid) stack as 2 x pairs channels -> batch norm -> conv 3x3
    stride 2 (32) -> conv 3x3 stride 2 (32) -> flatten -> Linear -> ReLU: 64-d. Simonyan & Zisserman's temporal
    net scaled down to a pooled field, ~0.7 M multiply-adds per 30-pair instant, so it trains with the sequence
    model on a CPU (tcn reads 60 instants per window). The input batch norm learns the scale of the data's motion
    (pooled fields of small dancers are mostly far below the clipping bound); `head` is used only for
    pre-training, frame by frame, as the pose encoder's is."""

    def __init__(self, num_classes: int, pairs: int, grid: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.BatchNorm2d(2 * pairs),
            nn.Conv2d(2 * pairs, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU())
        reduced = (grid + 3) // 4  # two stride-2 convolutions, padded
        self.project = nn.Linear(32 * reduced * reduced, FLOW_DIM)
        self.head = nn.Linear(FLOW_DIM, num_classes)

    def forward(self, stacks: torch.Tensor) -> torch.Tensor:
        """stacks: (..., pairs, 2, grid, grid) -> (..., 64) features."""
        leading = stacks.shape[:-4]
        x = stacks.reshape(-1, stacks.shape[-4] * 2, *stacks.shape[-2:])
        return torch.relu(self.project(self.convs(x).flatten(1))).reshape(*leading, FLOW_DIM)

    def classify(self, stacks: torch.Tensor) -> torch.Tensor:
        """Frame-level class scores, for pre-training the encoder."""
        return self.head(self(stacks))


def square_frames(images: list[np.ndarray], side: int, resize: str = "kinetics") -> np.ndarray:
    """(T, side, side, 3) uint8: each frame resized, then its centre cropped to side x side. resize "kinetics": to
    KINETICS_RESIZE scaled by side / KINETICS_CROP whatever the frame's aspect ratio, as torchvision's preset for
    R3D-18's Kinetics-400 weights does (a 16:9 frame keeps 112/171 = 65% of its width; a portrait one is
    squeezed, as Kinetics' own would be); "short-side" (r3d checkpoints before 2026-12-07): the short side to 8/7
    of `side`, the aspect ratio kept (49% of a 16:9 frame's width). PIL's bilinear filter, which smooths when it
    shrinks; the preset's torch resize does not (antialias=False, kept there only for old results' sake)."""
    from PIL import Image

    frames = []
    for image in images:
        height, width = image.shape[:2]
        size = _resized_size(width, height, side, resize)
        resized = np.asarray(Image.fromarray(image).resize(size, Image.BILINEAR))
        top, left = (size[1] - side) // 2, (size[0] - side) // 2
        frames.append(resized[top:top + side, left:left + side])
    return np.stack(frames) if frames else np.zeros((0, side, side, 3), np.uint8)


def _resized_size(width: int, height: int, side: int, resize: str) -> tuple[int, int]:
    """(width, height) a frame is resized to before square_frames' centre crop of `side`."""
    if resize == "kinetics":
        return (max(side, round(side * KINETICS_RESIZE[1] / KINETICS_CROP)),
                max(side, round(side * KINETICS_RESIZE[0] / KINETICS_CROP)))
    scale = round(side * 8 / 7) / min(height, width)
    return max(side, round(width * scale)), max(side, round(height * scale))


def mirror_flow(stacks: np.ndarray) -> np.ndarray:
    """A left-right mirrored video's flow stacks (..., pairs, 2, grid, grid): the fields flipped left to right and
    their x component negated (TSN inverts the x images of flipped clips)."""
    mirrored = stacks[..., ::-1].copy()
    mirrored[..., 0, :, :] *= -1
    return mirrored


# -- the per-clip feature cache ------------------------------------------------------------------------------------
#
# Training and evaluation read features from a cache, one safetensors file per clip and stream:
#   <DANCESTYLE_HOME>/features/<dataset id>/<stream spec>/<class>/<clip id>.safetensors
# holding "rgb" (T, 512) float16, "pose" (T, 20, 2, 17) float32 (normalised skeletons: the pose encoder is
# trained, so its input is what is cached; each in its own box, or in frame coordinates for a model whose
# stream_forms say "frame") or "flow" (T, pairs, 2, grid, grid) float16 (the flow encoder's input). Samples are
# every CACHE_STRIDE-th frame of 30 fps video for every model whose stride is a multiple of it (one cache serves
# them all), else every stride-th (geometry.cache_stride). The folder name says what produced the features, so
# features made another way are never mixed in.



@dataclass(frozen=True)
class StreamSpec:
    """What produces one stream's cached features; its `name` keys the cache folder."""

    stream: str  # "rgb", "pose" or "flow"
    source: str  # FeatureRecipe.source_id: rgb: weights id @ frame size; pose: a PoseSource id; flow: FlowSettings.id
    stride: int = CACHE_STRIDE
    form: str = ""  # a model's own layout of the stream (ModelConfig.stream_forms; pose: "frame"); "": the usual

    @property
    def name(self) -> str:
        readable = re.sub(r"[^A-Za-z0-9.-]+", "-", self.source)[:40]
        # "time": frame folders are sampled at instants in seconds, like videos (before: every stride-th frame)
        key = f"{self.stream}|{self.source}|{self.stride}|time" + (f"|{self.form}" if self.form else "")
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        form = f"-{self.form}" if self.form else ""  # the usual form keeps the names caches already have
        return f"{self.stream}-{readable}{form}-s{self.stride}-{digest}"


def cache_root(dataset_root: Path) -> Path:
    """Where a dataset's features live: named after the folder, keyed by its absolute path."""
    resolved = Path(dataset_root).expanduser().resolve()
    digest = hashlib.sha256(str(resolved).encode()).hexdigest()[:8]
    return home() / "features" / f"{resolved.name}-{digest}"


def cache_path(dataset_root: Path, spec: StreamSpec, clip_key: str) -> Path:
    return cache_root(dataset_root) / spec.name / f"{clip_key}.safetensors"


def read_cached(path: Path) -> np.ndarray:
    from safetensors.numpy import load_file

    return load_file(path)["features"]


def write_cached(path: Path, features: np.ndarray) -> None:
    from safetensors.numpy import save

    atomic_write_bytes(path, save({"features": np.ascontiguousarray(features)}))
