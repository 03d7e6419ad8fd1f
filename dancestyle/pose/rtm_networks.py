"""PyTorch stand-ins for the RTMDet-nano person detector and the RTMPose-t/-s pose networks, random weights only.

The fast pose backend runs OpenMMLab's published mmdeploy ONNX exports (``end2end.onnx`` in the onnx_sdk zips
rtmdet_nano_8xb32-100e_coco-obj365-person-05d8511e, rtmpose-t_simcc-body7_pt-body7_420e-256x192-026a1439_20230504
and rtmpose-s_simcc-body7_pt-body7_420e-256x192-acd4a1ef_20230504; Apache-2.0) through onnxruntime. Those files
need a download. The networks here rebuild the same layers, so the same compute cost, and take and give the same
ONNX inputs and outputs, with random weights: for ``--random-weights`` smoke runs and speed measurements offline,
for benchmarks, and for tests that export them with `export_onnx` and serve them in place of the real files. They
never load real weights; the real weights are the ONNX files.

Architecture, from open-mmlab/mmpose and open-mmlab/mmdetection (our own code, not theirs):

- RTMDet-nano: mmpose ``projects/rtmpose/rtmdet/person/rtmdet_nano_320-8xb32_coco-person.py`` on mmdet's
  ``configs/rtmdet/rtmdet_l_8xb32-300e_coco.py``: CSPNeXt backbone (P5, deepen 0.33, widen 0.25, depthwise),
  CSPNeXtPAFPN neck (in 64/128/256, out 64, one block), RTMDetSepBNHead (64 channels, 2 stacked depthwise convs,
  separate convs per level, 1 class). Input 320x320. Published: 0.99 M params, 0.31 GFLOPs.
- RTMPose-t/-s: mmpose ``projects/rtmpose/rtmpose/body_2d_keypoint/rtmpose-{t,s}_8xb256-420e_coco-256x192.py``:
  CSPNeXt (P5, deepen 0.167/0.33, widen 0.375/0.5, last stage only) and RTMCCHead (7x7 conv to 17 maps,
  ScaleNorm, Linear to 256, one gated attention unit with s=128 and expansion 2, Linear to 384 x-bins and 512
  y-bins). Input 256 high x 192 wide. Published: 3.34 M params, 0.36 GFLOPs (t); 5.47 M, 0.68 GFLOPs (s).

The figures are from mmpose's ``projects/rtmpose/README.md``; mmcv counts one multiply-add as one FLOP.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from . import NUM_KEYPOINTS

POSE_INPUT_SIZE = (192, 256)  # (width, height)
DETECTOR_INPUT_SIZE = (320, 320)  # (width, height)
SIMCC_SPLIT_RATIO = 2.0  # SimCC bins per input pixel
ONNX_OPSET = 17
ONNX_NAMES = {"detector": (["input"], ["dets", "labels"]), "pose": (["input"], ["simcc_x", "simcc_y"])}

# The channel and block counts of CSPNeXt's P5 stages at widen = deepen = 1:
# (in channels, out channels, blocks, residual blocks, spatial pyramid pooling)
P5_STAGES = ((64, 128, 3, True, False), (128, 256, 6, True, False), (256, 512, 6, True, False),
             (512, 1024, 3, False, True))


# --- building blocks ---------------------------------------------------------------------------------------------

class ConvBNAct(nn.Sequential):
    """Conv (no bias: the BN after it has one), BatchNorm, SiLU: mmcv's ConvModule as RTM* configure it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 groups: int = 1) -> None:
        super().__init__(
            nn.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2, groups=groups, bias=False),
            nn.BatchNorm2d(out_channels), nn.SiLU(inplace=True))


class DepthwiseSeparable(nn.Sequential):
    """A depthwise k x k ConvBNAct then a pointwise 1x1 ConvBNAct (mmcv's DepthwiseSeparableConvModule)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1) -> None:
        super().__init__(ConvBNAct(in_channels, in_channels, kernel_size, stride, groups=in_channels),
                         ConvBNAct(in_channels, out_channels, 1))


def conv3x3(in_channels: int, out_channels: int, stride: int, depthwise: bool) -> nn.Module:
    """The 3x3 convolution of a block: depthwise-separable in the nano detector, plain in the pose backbones."""
    if depthwise:
        return DepthwiseSeparable(in_channels, out_channels, 3, stride)
    return ConvBNAct(in_channels, out_channels, 3, stride)


class ChannelAttention(nn.Module):
    """Reweights channels by a hard-sigmoid of their global mean (one 1x1 conv with bias)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.fc = nn.Conv2d(channels, channels, 1)
        self.gate = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gate(self.fc(x.mean(dim=(2, 3), keepdim=True)))


class CSPNeXtBlock(nn.Module):
    """A 3x3 conv then a depthwise-separable 5x5 conv (the 'large kernel' of CSPNeXt), optionally residual."""

    def __init__(self, channels: int, residual: bool, depthwise: bool) -> None:
        super().__init__()
        self.conv1 = conv3x3(channels, channels, 1, depthwise)
        self.conv2 = DepthwiseSeparable(channels, channels, 5)
        self.residual = residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.residual else out


class CSPLayer(nn.Module):
    """Cross-stage partial layer: half the channels go through the blocks, half take a 1x1 shortcut, then both
    are concatenated, optionally reweighted by channel attention, and mixed by a 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, blocks: int, residual: bool, depthwise: bool = False,
                 attention: bool = False) -> None:
        super().__init__()
        middle = out_channels // 2  # expand_ratio 0.5 in every RTM* config
        self.main_conv = ConvBNAct(in_channels, middle, 1)
        self.short_conv = ConvBNAct(in_channels, middle, 1)
        self.blocks = nn.Sequential(*(CSPNeXtBlock(middle, residual, depthwise) for _ in range(blocks)))
        self.attention = ChannelAttention(2 * middle) if attention else nn.Identity()
        self.final_conv = ConvBNAct(2 * middle, out_channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        both = torch.cat([self.blocks(self.main_conv(x)), self.short_conv(x)], dim=1)
        return self.final_conv(self.attention(both))


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: max-pools of 5, 9 and 13 pixels concatenated with their input."""

    def __init__(self, channels: int, kernel_sizes: tuple[int, ...] = (5, 9, 13)) -> None:
        super().__init__()
        middle = channels // 2
        self.conv1 = ConvBNAct(channels, middle, 1)
        self.pools = nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernel_sizes)
        self.conv2 = ConvBNAct(middle * (len(kernel_sizes) + 1), channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.pools], dim=1))


# --- backbone and neck -------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CSPNeXtConfig:
    deepen: float
    widen: float
    depthwise: bool  # depthwise-separable 3x3 convs (the nano detector) or plain ones (the pose networks)
    out_stages: tuple[int, ...]  # 1..4: which stages' outputs forward returns (strides 4, 8, 16, 32)

    def stage_channels(self, stage: int) -> int:
        return int(P5_STAGES[stage - 1][1] * self.widen)


class CSPNeXt(nn.Module):
    """The CSPNeXt backbone of RTMDet and RTMPose: a three-conv stem (stride 2), then four stages that each halve
    the resolution and run one CSPLayer (the last after spatial pyramid pooling)."""

    def __init__(self, config: CSPNeXtConfig) -> None:
        super().__init__()
        self.config = config
        stem_channels = int(P5_STAGES[0][0] * config.widen)
        self.stem = nn.Sequential(ConvBNAct(3, stem_channels // 2, 3, 2),
                                  ConvBNAct(stem_channels // 2, stem_channels // 2, 3),
                                  ConvBNAct(stem_channels // 2, stem_channels, 3))
        self.stages = nn.ModuleList()
        for in_channels, out_channels, blocks, residual, spp in P5_STAGES:
            in_channels, out_channels = int(in_channels * config.widen), int(out_channels * config.widen)
            layers = [conv3x3(in_channels, out_channels, 2, config.depthwise)]
            if spp:
                layers.append(SPPBottleneck(out_channels))
            layers.append(CSPLayer(out_channels, out_channels, max(round(blocks * config.deepen), 1), residual,
                                   config.depthwise, attention=True))
            self.stages.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        outputs = []
        for number, stage in enumerate(self.stages, start=1):
            x = stage(x)
            if number in self.config.out_stages:
                outputs.append(x)
        return outputs


class CSPNeXtPAFPN(nn.Module):
    """Path-aggregation neck over three levels: top-down (1x1 reduce, 2x nearest upsample, CSPLayer), then
    bottom-up (stride-2 conv, CSPLayer), then a 3x3 conv bringing every level to `out_channels`. No channel
    attention here, unlike the backbone."""

    def __init__(self, in_channels: tuple[int, int, int], out_channels: int, blocks: int, depthwise: bool) -> None:
        super().__init__()
        c3, c4, c5 = in_channels
        self.upsample = nn.Upsample(scale_factor=2, mode="nearest")
        self.reduce = nn.ModuleList([ConvBNAct(c5, c4, 1), ConvBNAct(c4, c3, 1)])
        self.top_down = nn.ModuleList([CSPLayer(2 * c4, c4, blocks, residual=False, depthwise=depthwise),
                                       CSPLayer(2 * c3, c3, blocks, residual=False, depthwise=depthwise)])
        self.downsample = nn.ModuleList([conv3x3(c3, c3, 2, depthwise), conv3x3(c4, c4, 2, depthwise)])
        self.bottom_up = nn.ModuleList([CSPLayer(2 * c3, c4, blocks, residual=False, depthwise=depthwise),
                                        CSPLayer(2 * c4, c5, blocks, residual=False, depthwise=depthwise)])
        self.out_convs = nn.ModuleList(conv3x3(c, out_channels, 1, depthwise) for c in in_channels)

    def forward(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        p3, p4, p5 = features
        p5 = self.reduce[0](p5)
        p4 = self.top_down[0](torch.cat([self.upsample(p5), p4], dim=1))
        p4_reduced = self.reduce[1](p4)
        n3 = self.top_down[1](torch.cat([self.upsample(p4_reduced), p3], dim=1))
        n4 = self.bottom_up[0](torch.cat([self.downsample[0](n3), p4_reduced], dim=1))
        n5 = self.bottom_up[1](torch.cat([self.downsample[1](n4), p5], dim=1))
        return [conv(x) for conv, x in zip(self.out_convs, (n3, n4, n5))]


# --- RTMDet-nano person detector ---------------------------------------------------------------------------------

class SepBNHead(nn.Module):
    """RTMDet's head with separate (not shared) convs per level: two stacked 3x3 convs each for classification
    and box regression, then 1x1 predictions of one class score and four box side distances per location."""

    def __init__(self, levels: int, channels: int, stacked: int, depthwise: bool) -> None:
        super().__init__()
        self.cls_convs = nn.ModuleList(
            nn.Sequential(*(conv3x3(channels, channels, 1, depthwise) for _ in range(stacked))) for _ in range(levels))
        self.reg_convs = nn.ModuleList(
            nn.Sequential(*(conv3x3(channels, channels, 1, depthwise) for _ in range(stacked))) for _ in range(levels))
        self.cls_preds = nn.ModuleList(nn.Conv2d(channels, 1, 1) for _ in range(levels))
        self.reg_preds = nn.ModuleList(nn.Conv2d(channels, 4, 1) for _ in range(levels))

    def forward(self, features: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(cls_pred(cls_convs(x)), reg_pred(reg_convs(x))) for x, cls_convs, reg_convs, cls_pred, reg_pred
                in zip(features, self.cls_convs, self.reg_convs, self.cls_preds, self.reg_preds)]


def person_boxes(people: int, width: int, height: int) -> torch.Tensor:
    """`people` person-shaped boxes side by side across the image, (people, 5) of x1, y1, x2, y2, score: each
    80 % of its 1/people-wide slot and 75 % of the height, scores 0.9, 0.89, ... (a smaller step past 80)."""
    slot = width / max(people, 1)
    step = min(0.01, 0.8 / max(people, 1))
    return torch.tensor([[slot * (i + 0.1), height * 0.125, slot * (i + 0.9), height * 0.875, 0.9 - step * i]
                         for i in range(people)], dtype=torch.float32).reshape(people, 5)


class RTMDetNano(nn.Module):
    """RTMDet-nano with the I/O of its mmdeploy export: (B, 3, 320, 320) normalised images in, ``dets``
    (B, N, 5) = x1, y1, x2, y2, score in input pixels, best first, and ``labels`` (B, N) int64, 0 = person, out.

    Random weights find nobody real, so instead of decoding and NMS the detections are `people` fixed boxes. They
    still depend on the head's output through a term below 1e-6, so onnxruntime cannot prune the network away
    and the cost stays the real one.
    """

    def __init__(self, people: int = 5) -> None:
        super().__init__()
        if people < 0:
            raise ValueError(f"people must be 0 or more, not {people}.")
        self.backbone = CSPNeXt(CSPNeXtConfig(deepen=0.33, widen=0.25, depthwise=True, out_stages=(2, 3, 4)))
        self.neck = CSPNeXtPAFPN((64, 128, 256), 64, blocks=1, depthwise=True)
        self.head = SepBNHead(levels=3, channels=64, stacked=2, depthwise=True)
        # in the top-left 180 x 180: the part of the letterboxed input that any frame up to 16:9, landscape or
        # portrait, covers, so every box lands on the frame whatever its shape
        self.register_buffer("boxes", person_boxes(people, 180, 180))

    def forward(self, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # named after the ONNX input
        levels = self.head(self.neck(self.backbone(input)))
        # one number per image from every level's scores and distances; tanh keeps it bounded (and finite)
        summary = sum(scores.sigmoid().flatten(1).amax(1) + distances.flatten(1).mean(1)
                      for scores, distances in levels)
        dets = self.boxes + 1e-6 * torch.tanh(summary)[:, None, None]  # (B, N, 5), even for N = 0
        labels = torch.zeros_like(dets[..., 0], dtype=torch.int64)
        return dets, labels


def rtmdet_nano(people: int = 5) -> nn.Module:
    """RTMDet-nano (0.99 M params, 0.31 GFLOPs at 320x320) with random weights, in eval mode; it reports exactly
    `people` fixed person boxes per image (see `RTMDetNano`)."""
    return RTMDetNano(people).eval()


# --- RTMPose ----------------------------------------------------------------------------------------------------

class ScaleNorm(nn.Module):
    """Divides each vector by its root-mean-square and multiplies by one learned scalar."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.scale = dim ** -0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class GatedAttentionUnit(nn.Module):
    """RTMCCBlock: one gated attention unit over the keypoint tokens (self-attention with a squared-ReLU kernel
    and one shared low-dimensional query/key), with a learned per-channel scale on the residual."""

    def __init__(self, dim: int, s: int = 128, expansion: int = 2) -> None:
        super().__init__()
        self.e, self.s = dim * expansion, s
        self.norm = ScaleNorm(dim)
        self.uv = nn.Linear(dim, 2 * self.e + s, bias=False)
        self.gamma = nn.Parameter(torch.rand(2, s))
        self.beta = nn.Parameter(torch.rand(2, s))
        self.o = nn.Linear(self.e, dim, bias=False)
        self.res_scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v, base = torch.split(nn.functional.silu(self.uv(self.norm(x))), [self.e, self.e, self.s], dim=-1)
        q, k = torch.unbind(base.unsqueeze(2) * self.gamma + self.beta, dim=2)  # (B, K, s) each
        kernel = torch.square(torch.relu(q @ k.transpose(1, 2) / self.s ** 0.5))  # (B, K, K)
        return x * self.res_scale + self.o(u * (kernel @ v))


class SimCCHead(nn.Module):
    """RTMCCHead: a 7x7 conv to one map per keypoint, each map flattened into a token, then ScaleNorm + Linear,
    one gated attention unit, and two Linear classifiers over the x and y bins (SimCC: 2 bins per pixel)."""

    def __init__(self, in_channels: int, feature_size: tuple[int, int], hidden: int = 256) -> None:
        super().__init__()
        width, height = POSE_INPUT_SIZE
        self.token_size = feature_size[0] * feature_size[1]
        self.final_layer = nn.Conv2d(in_channels, NUM_KEYPOINTS, 7, padding=3)
        self.mlp = nn.Sequential(ScaleNorm(self.token_size), nn.Linear(self.token_size, hidden, bias=False))
        self.gau = GatedAttentionUnit(hidden)
        self.cls_x = nn.Linear(hidden, int(width * SIMCC_SPLIT_RATIO), bias=False)
        self.cls_y = nn.Linear(hidden, int(height * SIMCC_SPLIT_RATIO), bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # a reshape to constants (not flatten) keeps the keypoint axis a static 17 in the exported graph
        tokens = self.gau(self.mlp(self.final_layer(x).reshape(-1, NUM_KEYPOINTS, self.token_size)))
        return self.cls_x(tokens), self.cls_y(tokens)


class RTMPose(nn.Module):
    """RTMPose with the I/O of its mmdeploy export: (B, 3, 256, 192) normalised crops in, raw SimCC logits
    ``simcc_x`` (B, 17, 384) and ``simcc_y`` (B, 17, 512) out."""

    def __init__(self, backbone: CSPNeXtConfig) -> None:
        super().__init__()
        width, height = POSE_INPUT_SIZE
        self.backbone = CSPNeXt(backbone)
        self.head = SimCCHead(backbone.stage_channels(4), (width // 32, height // 32))

    def forward(self, input: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # named after the ONNX input
        return self.head(self.backbone(input)[-1])


POSE_BACKBONES = {
    "t": CSPNeXtConfig(deepen=0.167, widen=0.375, depthwise=False, out_stages=(4,)),  # 3.34 M params, 0.36 GFLOPs
    "s": CSPNeXtConfig(deepen=0.33, widen=0.5, depthwise=False, out_stages=(4,)),  # 5.47 M params, 0.68 GFLOPs
}


def rtmpose(variant: str = "t") -> nn.Module:
    """RTMPose-t or -s (256x192, 17 COCO keypoints) with random weights, in eval mode."""
    if variant not in POSE_BACKBONES:
        raise ValueError(f"Unknown RTMPose variant {variant!r}; choose one of {', '.join(POSE_BACKBONES)}.")
    return RTMPose(POSE_BACKBONES[variant]).eval()


# --- ONNX export --------------------------------------------------------------------------------------------------

def export_onnx(module: nn.Module, kind: str, path: str | Path) -> Path:
    """Write `module` ("detector" or "pose") to `path` as ONNX with mmdeploy's input/output names and a dynamic
    batch, atomically (a temporary file in the same folder, then a rename), and return the path.

    Uses torch's TorchScript exporter (``dynamo=False``): it needs the ``onnx`` package but not ``onnxscript``
    (torch's default exporter needs both), and folds every BatchNorm into its conv as mmdeploy's exports do.
    """
    if kind not in ONNX_NAMES:
        raise ValueError(f"Unknown ONNX kind {kind!r}; choose one of {', '.join(ONNX_NAMES)}.")
    input_names, output_names = ONNX_NAMES[kind]
    width, height = DETECTOR_INPUT_SIZE if kind == "detector" else POSE_INPUT_SIZE
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        # the legacy exporter is chosen on purpose (see above); its deprecation notices are not the caller's to fix
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                module.eval(), (torch.zeros(1, 3, height, width),), temporary, dynamo=False,
                input_names=input_names, output_names=output_names, opset_version=ONNX_OPSET,
                dynamic_axes={name: {0: "batch"} for name in input_names + output_names})
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
