"""Sequence models over per-frame features: LSTM, LSTM with self-attention, TCN; and the registry.

Each model is a config dataclass (the paper's tuned hyper-parameters as defaults) plus modules in reading
order. `DanceClassifier` puts the pose encoder in front of a sequence model; the RGB backbone stays outside
(its weights come from the Hub, not from our checkpoints).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .errors import UnknownModelError
from .features import POSE_DIM, RGB_DIM, PoseEncoder, feature_dim

CLASSES = ("ballet", "break", "flamenco", "foxtrot", "latin", "quickstep", "square", "swing", "tango", "waltz")
HUB_ORG = "dancestyle"  # default classifier repos: f"{HUB_ORG}/letsdance-{name}"


@dataclass
class ModelConfig:
    """What rebuilds a classifier: architecture, hyper-parameters, classes, streams and frame stride.

    Stored as config.json inside every checkpoint; loading rebuilds the model from it, not from code defaults.
    """

    name: str = ""
    stride: int = 60  # frames of 30 fps video between samples
    dropout: float = 0.0
    lr: float = 0.01
    batch_size: int = 64
    weight_decay: float = 0.0
    momentum: float = 0.9
    classes: list[str] = field(default_factory=lambda: list(CLASSES))
    streams: list[str] = field(default_factory=lambda: ["rgb", "pose"])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})


@dataclass
class LSTMConfig(ModelConfig):
    name: str = "lstm"
    hidden: int = 128
    stride: int = 60
    dropout: float = 0.7
    lr: float = 0.0167
    batch_size: int = 64
    weight_decay: float = 0.0284


@dataclass
class AttentionConfig(ModelConfig):
    name: str = "attention"
    hidden: int = 32
    stride: int = 30
    dropout: float = 0.05
    lr: float = 0.0591
    batch_size: int = 16
    weight_decay: float = 1e-5


@dataclass
class TCNConfig(ModelConfig):
    name: str = "tcn"
    channels: int = 128
    levels: int = 6  # dilations 1, 2, 4, ..., 2**(levels-1)
    kernel_size: int = 3
    stride: int = 5
    dropout: float = 0.02
    lr: float = 0.0022
    batch_size: int = 64
    weight_decay: float = 0.0


def _pack(x: torch.Tensor, lengths: torch.Tensor | None):
    """Batches of unequal lengths (zero-padded at the end) go through the LSTM packed, so padding is never read."""
    if lengths is None:
        return x
    return nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)


def _padding_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    return torch.arange(steps, device=lengths.device).unsqueeze(0) >= lengths.unsqueeze(1)


class LSTMModel(nn.Module):
    """dropout -> LSTM -> Linear on the last hidden state."""

    def __init__(self, config: LSTMConfig, input_dim: int) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(input_dim, config.hidden, batch_first=True)
        self.out = nn.Linear(config.hidden, len(config.classes))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        _, (hidden, _) = self.lstm(_pack(self.dropout(x), lengths))
        return self.out(hidden[-1])


class AttentionLSTMModel(nn.Module):
    """LSTM whose outputs y_1..y_T are pooled by scaled dot-product attention against the final cell state."""

    def __init__(self, config: AttentionConfig, input_dim: int) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(input_dim, config.hidden, batch_first=True)
        self.out = nn.Linear(config.hidden, len(config.classes))

    def attend(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (context (B, hidden), attention weights alpha (B, T)); alpha sums to 1 over the valid steps."""
        outputs, (_, cell) = self.lstm(_pack(self.dropout(x), lengths))
        if lengths is not None:
            outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=x.shape[1])
        scores = torch.einsum("bth,bh->bt", outputs, cell[-1]) / math.sqrt(outputs.shape[-1])
        if lengths is not None:  # padding steps get no attention
            scores = scores.masked_fill(_padding_mask(lengths, x.shape[1]), float("-inf"))
        alpha = torch.softmax(scores, dim=1)
        return torch.einsum("bt,bth->bh", alpha, outputs), alpha

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.attend(x, lengths)[0])


class CausalConvBlock(nn.Module):
    """Residual block: weight-normed dilated causal conv -> ReLU -> dropout, plus the (1x1-matched) input."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 dropout: float) -> None:
        super().__init__()
        self.left_pad = (kernel_size - 1) * dilation  # pad only the past: output t never sees t+1
        conv = nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation)
        nn.init.normal_(conv.weight, 0.0, 0.01)  # the paper's init for conv filters
        self.conv = weight_norm(conv)
        self.dropout = nn.Dropout(dropout)
        self.match = nn.Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else nn.Identity()
        if isinstance(self.match, nn.Conv1d):
            nn.init.normal_(self.match.weight, 0.0, 0.01)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(nn.functional.pad(x, (self.left_pad, 0)))
        return torch.relu(self.dropout(torch.relu(y)) + self.match(x))


class TCNModel(nn.Module):
    """Temporal convolutional network: `levels` causal residual blocks with dilations 1..2**(levels-1).

    Each block adds (kernel_size - 1) * dilation steps of history, so the last step sees
    receptive_field = (k - 1) * (1 + 2 + ... + 32) = 126 earlier steps (plus itself).
    """

    def __init__(self, config: TCNConfig, input_dim: int) -> None:
        super().__init__()
        widths = [input_dim] + [config.channels] * config.levels
        self.blocks = nn.Sequential(*(
            CausalConvBlock(widths[i], widths[i + 1], config.kernel_size, 2**i, config.dropout)
            for i in range(config.levels)))
        self.out = nn.Linear(config.channels, len(config.classes))
        self.receptive_field = (config.kernel_size - 1) * (2**config.levels - 1)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        y = self.blocks(x.transpose(1, 2))  # (B, C, T)
        if lengths is None:
            return self.out(y[:, :, -1])
        # causal: the output at the last real step has not seen the padding after it
        last = (lengths.to(y.device) - 1).view(-1, 1, 1).expand(-1, y.shape[1], 1)
        return self.out(y.gather(2, last).squeeze(2))


@dataclass(frozen=True)
class ModelSpec:
    config: type[ModelConfig]
    module: type[nn.Module]
    summary: str

    @property
    def hub_repo(self) -> str:
        return f"{HUB_ORG}/letsdance-{self.config.name}"


MODELS: dict[str, ModelSpec] = {
    "lstm": ModelSpec(LSTMConfig, LSTMModel, "LSTM, 128 hidden; paper 65.9%"),
    "attention": ModelSpec(AttentionConfig, AttentionLSTMModel, "LSTM, 32 hidden, self-attention; paper 63.7%"),
    "tcn": ModelSpec(TCNConfig, TCNModel, "causal TCN, 6 x 128 channels; paper 58.2%"),
}
DEFAULT_MODEL = "lstm"


def available_models() -> list[str]:
    """Names accepted by --model and load_model()."""
    return list(MODELS)


def model_spec(name: str) -> ModelSpec:
    try:
        return MODELS[name]
    except KeyError:
        raise UnknownModelError(f"Unknown model {name!r}.",
                                f"Choose one of: {', '.join(available_models())}.") from None


def default_config(name: str, **overrides) -> ModelConfig:
    """The paper's hyper-parameters for `name`, with any field overridden."""
    return model_spec(name).config(**overrides)


def config_from_dict(data: dict) -> ModelConfig:
    return model_spec(data.get("name", "")).config.from_dict(data)


class DanceClassifier(nn.Module):
    """Pose encoder + sequence model: per-frame RGB features and normalised poses -> class scores."""

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.streams = tuple(config.streams)
        self.pose_encoder = PoseEncoder(len(config.classes)) if "pose" in self.streams else None
        self.sequence = model_spec(config.name).module(config, feature_dim(self.streams))

    def frame_features(self, rgb: torch.Tensor | None, poses: torch.Tensor | None) -> torch.Tensor:
        """(B, T, 512) RGB features and (B, T, 20, 2, 17) poses -> (B, T, 614), in stream order."""
        parts = []
        for stream in self.streams:
            if stream == "rgb":
                parts.append(rgb)
            else:
                parts.append(self.pose_encoder(poses))
        return torch.cat(parts, dim=-1)

    def forward(self, rgb: torch.Tensor | None, poses: torch.Tensor | None,
                lengths: torch.Tensor | None = None) -> torch.Tensor:
        """lengths: real steps per sequence when a batch is zero-padded at the end (None: all full)."""
        return self.sequence(self.frame_features(rgb, poses), lengths)


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


__all__ = ["CLASSES", "DEFAULT_MODEL", "MODELS", "POSE_DIM", "RGB_DIM", "DanceClassifier", "ModelConfig",
           "available_models", "config_from_dict", "default_config", "model_spec", "parameter_count"]
