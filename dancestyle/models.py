"""Models over per-frame features: LSTM, LSTM with self-attention, TCN, Castro's frame-by-frame baseline, and
(models3d.py) Castro's temporal 3D CNN over limb heat-maps.

Each model is a config dataclass (configs.py, with the registry of names: no torch, so the CLI starts fast)
plus the modules here in reading order. `DanceClassifier` puts the trained per-frame encoders (pose, flow) in
front of a sequence model; the RGB backbone stays outside (its weights come from the Hub, not our checkpoints).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch
from torch import nn
from torch.nn.utils.parametrizations import weight_norm

from .configs import (CLASSES, DEFAULT_MODEL, MODELS, AttentionConfig, FrameConfig, LSTMConfig, ModelConfig,
                      R3DConfig, RecurrentConfig, TCNConfig, available_models, config_from_dict, default_config,
                      model_spec)
from .augment import flipped_batch
from .features import POSE_DIM, POSE_ENCODERS, RGB_DIM, STREAM_DIMS, STREAMS, FlowEncoder
from .recipe import frames_side
from .flow import DEFAULT_FLOW, FlowSettings
from .models3d import FramePixels, LimbHeatmaps, R3DModel, late_fusion, streams_loss

TIME_NORM_FLOOR = 1e-3  # the least spread over time a feature is divided by (ModelConfig.time_norm)


def _pack(x: torch.Tensor, lengths: torch.Tensor | None):
    """Batches of unequal lengths (zero-padded at the end) go through the LSTM packed, so padding is never read."""
    if lengths is None:
        return x
    return nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)


def _padding_mask(lengths: torch.Tensor, steps: int) -> torch.Tensor:
    return torch.arange(steps, device=lengths.device).unsqueeze(0) >= lengths.unsqueeze(1)


def with_deltas(x: torch.Tensor) -> torch.Tensor:
    """(B, T, D) steps -> (B, T, 2 D): each step's features, then their change since the step before (0 at the
    first). Padding at the end is never read: the LSTMs take packed batches."""
    changes = torch.cat([torch.zeros_like(x[:, :1]), x[:, 1:] - x[:, :-1]], dim=1)
    return torch.cat([x, changes], dim=-1)


class ConvFront(nn.Module):
    """A convolution over `kernel` steps centred on each `stride`-th one (zeros beyond the clip's real steps) ->
    batch norm -> ReLU: (B, T, D) -> (B, ceil(T / stride), channels), with the real lengths of its output; the
    padding after a shorter clip's steps is kept at zero."""

    def __init__(self, input_dim: int, channels: int, kernel: int, stride: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(input_dim, channels, kernel, stride=stride, padding=kernel // 2)
        self.norm = nn.BatchNorm1d(channels)
        self.stride = stride

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        y = self.conv((x * _valid_steps(x, lengths).unsqueeze(-1)).transpose(1, 2)).transpose(1, 2)
        if lengths is not None:
            lengths = torch.div(lengths + self.stride - 1, self.stride, rounding_mode="floor")
        valid = _valid_steps(y, lengths).unsqueeze(-1)
        return torch.relu(self.norm(y.transpose(1, 2)).transpose(1, 2)) * valid, lengths


class RecurrentInput(nn.Module):
    """What an LSTM of ours reads: dropout on the steps' features, with their changes too (config.deltas), through
    a convolution over steps where config.front asks for one."""

    def __init__(self, config: RecurrentConfig, input_dim: int) -> None:
        super().__init__()
        self.dropout = nn.Dropout(config.dropout)
        self.deltas = config.deltas
        read = input_dim * 2 if config.deltas else input_dim
        # without a front no weights: the state dict is as before it existed
        self.front = ConvFront(read, config.hidden, config.front, config.front_stride) if config.front else None
        self.dim = config.hidden if config.front else read

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, T, D) steps -> the (B, T', D') steps the LSTM reads and their real lengths (None: all real)."""
        steps = self.dropout(with_deltas(x) if self.deltas else x)
        return (steps, lengths) if self.front is None else self.front(steps, lengths)


def _lstm(input_dim: int, config: RecurrentConfig) -> nn.LSTM:
    """One LSTM layer, forwards only or both ways (config.bidirectional); output_dim: what each step gives."""
    lstm = nn.LSTM(input_dim, config.hidden, batch_first=True, bidirectional=config.bidirectional)
    lstm.output_dim = config.hidden * (2 if config.bidirectional else 1)
    return lstm


def _final(state: torch.Tensor, bidirectional: bool) -> torch.Tensor:
    """(directions, B, H) final hidden or cell state -> (B, H * directions): the forward reader's state after the
    last step, joined by the backward one's after the first (the same order as each step's outputs)."""
    return torch.cat([state[-2], state[-1]], dim=-1) if bidirectional else state[-1]


class LSTMModel(nn.Module):
    """dropout -> LSTM -> Linear on the last hidden state (readout "last", the paper's) or on the mean of the
    hidden states over the real steps ("mean")."""

    def __init__(self, config: LSTMConfig, input_dim: int) -> None:
        super().__init__()
        self.steps_in = RecurrentInput(config, input_dim)
        self.lstm = _lstm(self.steps_in.dim, config)
        self.out = nn.Linear(self.lstm.output_dim, len(config.classes))
        self.readout = config.readout

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        steps, lengths = self.steps_in(x, lengths)
        outputs, (hidden, _) = self.lstm(_pack(steps, lengths))
        if self.readout == "last":
            return self.out(_final(hidden, self.lstm.bidirectional))
        if lengths is not None:
            outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=steps.shape[1])
        return self.out(_mean_over_steps(outputs, _valid_steps(steps, lengths)))


class AttentionLSTMModel(nn.Module):
    """LSTM whose outputs y_1..y_T are pooled by scaled dot-product attention against the final cell state."""

    def __init__(self, config: AttentionConfig, input_dim: int) -> None:
        super().__init__()
        self.steps_in = RecurrentInput(config, input_dim)
        self.lstm = _lstm(self.steps_in.dim, config)
        self.out = nn.Linear(self.lstm.output_dim, len(config.classes))

    def attend(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Return (context (B, hidden), attention weights alpha (B, T')) over the steps the LSTM reads (T' = T, or
        fewer with a strided front); alpha sums to 1 over the valid steps."""
        steps, lengths = self.steps_in(x, lengths)
        outputs, (_, cell) = self.lstm(_pack(steps, lengths))
        if lengths is not None:
            outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True, total_length=steps.shape[1])
        query = _final(cell, self.lstm.bidirectional)
        scores = torch.einsum("bth,bh->bt", outputs, query) / math.sqrt(outputs.shape[-1])
        if lengths is not None:  # padding steps get no attention
            scores = scores.masked_fill(_padding_mask(lengths, steps.shape[1]), float("-inf"))
        alpha = torch.softmax(scores, dim=1)
        return torch.einsum("bt,bth->bh", alpha, outputs), alpha

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.out(self.attend(x, lengths)[0])


def _dilated_conv(in_channels: int, out_channels: int, kernel_size: int, dilation: int, init: str) -> nn.Module:
    """A weight-normed dilated Conv1d whose filters start as `init` says (TCNConfig.conv_init; drawn before the
    weight norm, so they hold)."""
    return weight_norm(_initialised(nn.Conv1d(in_channels, out_channels, kernel_size, dilation=dilation), init))


def _initialised(conv: nn.Conv1d, init: str) -> nn.Conv1d:
    if init == "normal":
        nn.init.normal_(conv.weight, 0.0, 0.01)  # the paper's init for conv filters
    return conv  # "pytorch": as nn.Conv1d drew them


class TemporalBlock(nn.Module):
    """Bai et al.'s TemporalBlock (the authors' TCN): two weight-normed dilated causal convs, each -> (batch
    norm, with norm) -> ReLU -> dropout, plus the input (a 1x1 conv where widths differ), then ReLU. With
    causal=False each conv pads both sides (its output at t hears as many steps after t as before)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, dilation: int,
                 dropout: float, norm: bool = False, causal: bool = True, init: str = "normal") -> None:
        super().__init__()
        heard = (kernel_size - 1) * dilation  # steps a conv's output hears besides its own
        # causal: pad only the past, so output t never sees t+1
        self.pad = (heard, 0) if causal else (heard // 2, heard - heard // 2)
        self.conv1 = _dilated_conv(in_channels, out_channels, kernel_size, dilation, init)
        self.conv2 = _dilated_conv(out_channels, out_channels, kernel_size, dilation, init)
        self.norm1, self.norm2 = ((nn.BatchNorm1d(out_channels), nn.BatchNorm1d(out_channels)) if norm
                                  else (nn.Identity(), nn.Identity()))
        self.dropout = nn.Dropout(dropout)
        self.match = (_initialised(nn.Conv1d(in_channels, out_channels, 1), init) if in_channels != out_channels
                      else nn.Identity())

    def forward(self, x: torch.Tensor, valid: torch.Tensor | None = None) -> torch.Tensor:
        """x: (B, C, T); valid: (B, 1, T), 1.0 at real steps. The padding after a shorter clip's steps is zeroed
        after each convolution, so the next one hears zeros there, as it would at that clip's own end."""
        def kept(y: torch.Tensor) -> torch.Tensor:
            return y if valid is None else y * valid

        y = kept(self.dropout(torch.relu(self.norm1(self.conv1(nn.functional.pad(x, self.pad))))))
        y = kept(self.dropout(torch.relu(self.norm2(self.conv2(nn.functional.pad(y, self.pad))))))
        return kept(torch.relu(y + self.match(x)))


class TCNModel(nn.Module):
    """Temporal convolutional network: `levels` residual blocks with dilations 1..2**(levels-1).

    Each block's two convolutions add 2 * (kernel_size - 1) * dilation steps, so a step hears receptive_field =
    2 * (k - 1) * (2**levels - 1) others: with 6 levels, 252, all before it with the authors' causal padding, 126
    on each side with padding "same" (ours). The clip's scores come
    from the last step's outputs (readout "last", the authors') or from their mean over the steps ("mean").
    """

    def __init__(self, config: TCNConfig, input_dim: int) -> None:
        super().__init__()
        self.input_dropout = nn.Dropout(config.input_dropout)
        widths = [input_dim] + [config.channels] * config.levels
        self.blocks = nn.Sequential(*(
            TemporalBlock(widths[i], widths[i + 1], config.kernel_size, 2**i, config.dropout, config.norm,
                          causal=config.padding == "causal", init=config.conv_init)
            for i in range(config.levels)))
        self.readout = config.readout
        self.out = nn.Linear(config.channels, len(config.classes))
        self.receptive_field = 2 * (config.kernel_size - 1) * (2**config.levels - 1)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs) -> None:
        # checkpoints of the earlier one-convolution network have blocks.<i>.conv.*: say so, not just list keys
        if any(key.startswith(f"{prefix}blocks.") and ".conv." in key for key in state_dict):
            raise RuntimeError("this is a tcn checkpoint of the earlier network with one convolution per residual "
                               "block; tcn now has the authors' two (Bai et al.'s TemporalBlock), so these weights "
                               "cannot be loaded: train it again")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        steps = _valid_steps(x, lengths)
        valid = None if lengths is None else steps.unsqueeze(1)  # all real: nothing to zero
        y = self.input_dropout(x).transpose(1, 2)  # (B, C, T)
        for block in self.blocks:
            y = block(y, valid)
        if self.readout == "mean":
            return self.out(_mean_over_steps(y.transpose(1, 2), steps))
        if lengths is None:
            return self.out(y[:, :, -1])
        # causal: the output at the last real step has not seen the padding after it
        last = (lengths.to(y.device) - 1).view(-1, 1, 1).expand(-1, y.shape[1], 1)
        return self.out(y.gather(2, last).squeeze(2))


def _valid_steps(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """(B, T): 1.0 for the real steps of a batch zero-padded at the end, 0.0 for the padding."""
    if lengths is None:
        return torch.ones(x.shape[:2], device=x.device)
    return (~_padding_mask(lengths.to(x.device), x.shape[1])).float()


def _mean_over_steps(x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """(B, T, D) and the real steps (B, T) as 1.0 -> (B, D): the mean over the real steps."""
    return (x * valid.unsqueeze(-1)).sum(1) / valid.sum(1, keepdim=True)


def normalised_over_time(x: torch.Tensor, lengths: torch.Tensor | None) -> torch.Tensor:
    """(B, T, D) per-step features, each of the D centred on its clip's mean over the real steps and divided by
    their standard deviation (at least TIME_NORM_FLOOR, so a feature that never changes becomes zeros); padding
    stays 0."""
    valid = _valid_steps(x, lengths)
    centred = (x - _mean_over_steps(x, valid).unsqueeze(1)) * valid.unsqueeze(-1)
    # the floor inside the root: a feature that never changes (spread 0) must not give the root an infinite gradient
    spread = (_mean_over_steps(centred ** 2, valid) + TIME_NORM_FLOOR ** 2).sqrt().unsqueeze(1)
    return centred / spread


class FrameModel(nn.Module):
    """Castro et al.'s frame-by-frame baseline: each sampled frame is classified on its own (dropout -> Linear ->
    ReLU -> Linear over that frame's features) and the clip's label is the plurality vote of its frames.

    forward returns log vote shares (softmax gives each class's share of the frames; a tie goes to the class
    with the higher mean probability), so classify and evaluate average votes over windows like the other
    models' probabilities. Training uses `loss`: every frame is a training example labelled with its clip."""

    def __init__(self, config: FrameConfig, input_dim: int) -> None:
        super().__init__()
        self.classify_frames = nn.Sequential(nn.Dropout(config.dropout), nn.Linear(input_dim, config.hidden),
                                             nn.ReLU(), nn.Linear(config.hidden, len(config.classes)))

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self._vote(self.classify_frames(x), _valid_steps(x, lengths))

    @staticmethod
    def _vote(scores: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Per-frame scores (B, T, classes) and the real frames (B, T) -> log vote shares (B, classes)."""
        shares = _mean_over_steps(nn.functional.one_hot(scores.argmax(-1), scores.shape[-1]).float(), valid)
        mean_probability = _mean_over_steps(torch.softmax(scores, -1), valid)
        return torch.log(shares + 1e-3 * mean_probability + 1e-6)

    def loss(self, x: torch.Tensor, lengths: torch.Tensor | None, labels: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """(per-frame cross-entropy over the real (unpadded) frames, log vote shares), from one pass."""
        scores, valid = self.classify_frames(x), _valid_steps(x, lengths)
        per_frame = nn.functional.cross_entropy(scores.transpose(1, 2), labels.unsqueeze(1).expand(-1, x.shape[1]),
                                                reduction="none")
        return (per_frame * valid).sum() / valid.sum(), self._vote(scores, valid)


class LateFusion(nn.Module):
    """One model over time per stream (`fusion: late`), each reading its own part of the per-step features and
    trained on its own (the mean of the streams' cross-entropies, as in two-stream networks); their class
    probabilities are averaged, each stream's scores divided by its temperature (1 until the trained run is
    calibrated on its validation split: calibration.py). forward returns the log of that mean, as R3DModel does:
    classify and evaluate take the softmax, which gives the mean back."""

    def __init__(self, config: ModelConfig, widths: dict[str, int]) -> None:
        super().__init__()
        network = NETWORKS[model_spec(config.name).config]
        self.widths = list(widths.values())
        self.networks = nn.ModuleDict({stream: network(config, width) for stream, width in widths.items()})
        self.temperatures = {stream: 1.0 for stream in widths}  # in config.json, not the weights

    def stream_scores(self, x: torch.Tensor, lengths: torch.Tensor | None) -> list[torch.Tensor]:
        """Each stream's class scores, uncalibrated."""
        parts = torch.split(x, self.widths, dim=-1)
        return [network(part, lengths) for network, part in zip(self.networks.values(), parts, strict=True)]

    def _fused(self, scores: list[torch.Tensor]) -> torch.Tensor:
        return torch.log(late_fusion(scores, [self.temperatures[stream] for stream in self.networks]) + 1e-8)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self._fused(self.stream_scores(x, lengths))

    def loss(self, x: torch.Tensor, lengths: torch.Tensor | None, labels: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """(the streams' cross-entropies, averaged; the log fused probabilities), from one pass."""
        scores = self.stream_scores(x, lengths)
        return streams_loss(scores, labels), self._fused([stream_scores.detach() for stream_scores in scores])


# the network of each registered config (the registry itself, names and configs, is in configs.py)
NETWORKS: dict[type[ModelConfig], type[nn.Module]] = {
    LSTMConfig: LSTMModel, AttentionConfig: AttentionLSTMModel, TCNConfig: TCNModel, FrameConfig: FrameModel,
    R3DConfig: R3DModel,
}


def ordered_streams(streams) -> tuple[str, ...]:
    """Streams in the order of the per-frame concatenation (rgb, pose, flow), whatever order they were named in."""
    return tuple(stream for stream in STREAMS if stream in streams)


class DanceClassifier(nn.Module):
    """Trained per-frame encoders + a model over time: per-frame RGB features, normalised poses and flow stacks
    -> class scores. `flow` must be the settings the flow stacks were made with (the encoder's input shape)."""

    def __init__(self, config: ModelConfig, flow: FlowSettings = DEFAULT_FLOW) -> None:
        super().__init__()
        self.config = config
        self.streams = ordered_streams(config.streams)
        for stream, (attribute, make) in PER_STEP_INPUTS.items():  # the attributes name the weights' keys
            setattr(self, attribute, make(config, flow) if stream in self.streams else None)
        network = NETWORKS[model_spec(config.name).config]
        if config.one_model_per_stream:
            self.sequence = LateFusion(config, self._stream_widths())
        else:
            self.sequence = network(config, self._feature_dim())

    def _per_step(self) -> dict[str, nn.Module]:
        """What each stream's per-step input goes through (rgb features go in as they are)."""
        return {stream: getattr(self, attribute) for stream, (attribute, _) in PER_STEP_INPUTS.items()
                if getattr(self, attribute) is not None}

    def load_pretrained(self) -> None:
        """Start the model over time from published weights where it has some (r3d on rgb: Kinetics-400); the
        training calls this unless --random-weights."""
        if hasattr(self.sequence, "load_pretrained"):
            self.sequence.load_pretrained()

    def _stream_widths(self) -> dict[str, int]:
        """Each stream's width in the per-step features, in their order."""
        per_step = self._per_step()
        return {stream: getattr(per_step.get(stream), "dim", STREAM_DIMS[stream]) for stream in self.streams}

    def _feature_dim(self) -> int:
        return sum(self._stream_widths().values())

    def encoders(self) -> dict[str, nn.Module]:
        """The trained per-frame encoders, by the stream they read (a fixed drawing such as r3d's limb heat-maps
        is none: it has nothing to learn)."""
        return {stream: encoder for stream, encoder in self._per_step().items() if hasattr(encoder, "classify")}

    def frame_features(self, inputs: dict[str, torch.Tensor], lengths: torch.Tensor | None = None
                       ) -> torch.Tensor:
        """{"rgb": (B, T, 512), "pose": (B, T, 20, 2, 17), "flow": (B, T, pairs, 2, g, g)} -> (B, T, D): what
        the model over time reads (with time_norm, each feature normalised over the real steps of its clip)."""
        encoders = self._per_step()
        features = [encoders[s](inputs[s]) if s in encoders else inputs[s] for s in self.streams]
        # (late fusion trains each stream's model on that stream alone: nothing to drop)
        if self.training and self.config.stream_dropout > 0 and len(features) > 1 and self.config.fusion != "late":
            features = self._drop_streams(features)
        joined = torch.cat(features, dim=-1)
        return normalised_over_time(joined, lengths) if self.config.time_norm else joined

    def _drop_streams(self, features: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each clip of the batch loses one stream, chosen at random, with chance stream_dropout (zeros)."""
        batch = features[0].shape[0]
        dropping = torch.rand(batch) < self.config.stream_dropout
        lost = torch.randint(len(features), (batch,))
        return [feature * ~(dropping & (lost == number)).to(feature.device).view(-1, *[1] * (feature.dim() - 1))
                for number, feature in enumerate(features)]

    def forward(self, inputs: dict[str, torch.Tensor], lengths: torch.Tensor | None = None) -> torch.Tensor:
        """lengths: real steps per sequence when a batch is zero-padded at the end (None: all full). In evaluation
        with config.test_flip, the log of the mean of the windows' class probabilities and their flips' (a softmax
        of it gives that mean back, as everything that scores a model takes one)."""
        scores = self.sequence(self.frame_features(inputs, lengths), lengths)
        if self.training or self.config.test_flip == "none":
            return scores
        flipped = self.sequence(self.frame_features(flipped_batch(inputs, self.config.test_flip), lengths), lengths)
        both = torch.stack([torch.log_softmax(scores.float(), -1), torch.log_softmax(flipped.float(), -1)])
        return torch.logsumexp(both, dim=0) - math.log(2)

    def loss(self, inputs: dict[str, torch.Tensor], lengths: torch.Tensor | None, labels: torch.Tensor
             ) -> tuple[torch.Tensor, torch.Tensor]:
        """(training loss, class scores): the model's own loss where it has one (frame), else cross-entropy."""
        features = self.frame_features(inputs, lengths)
        if hasattr(self.sequence, "loss"):
            return self.sequence.loss(features, lengths, labels)
        scores = self.sequence(features, lengths)
        return nn.functional.cross_entropy(scores, labels), scores


def _rgb_input(config: ModelConfig, flow: FlowSettings) -> nn.Module | None:
    """The rgb stream goes in as its ResNet-18 features, or for a model that reads frames (r3d) as pixels to
    normalise."""
    form = config.stream_forms.get("rgb", "")
    return FramePixels(frames_side(form)) if form else None


def _pose_encoder(config: ModelConfig, flow: FlowSettings) -> nn.Module:
    """The pose stream's per-step input: the config's trained pose encoder, or for a model that reads limb
    heat-maps (r3d), those of the skeletons in frame coordinates."""
    if config.limb_heatmaps:
        return LimbHeatmaps(config.grid)
    return POSE_ENCODERS[config.pose_encoder](len(config.classes))


def _flow_encoder(config: ModelConfig, flow: FlowSettings) -> nn.Module:
    """The flow stream's trained encoder, over stacks of the shape the flow settings make."""
    return FlowEncoder(len(config.classes), flow.pairs, flow.grid)


# stream -> (the DanceClassifier attribute its per-step input lives in, which names its weights in a checkpoint;
# what builds that input from the model config and the flow settings: None, the features go in as they are)
PER_STEP_INPUTS: dict[str, tuple[str, Callable[[ModelConfig, FlowSettings], nn.Module | None]]] = {
    "rgb": ("rgb_input", _rgb_input), "pose": ("pose_encoder", _pose_encoder), "flow": ("flow_encoder", _flow_encoder)}


def mixed_precision(config: ModelConfig, device: str):
    """bfloat16 autocast on CUDA for models that ask for it (ModelConfig.mixed_precision: r3d's 3D convolutions);
    bfloat16 keeps float32's range, so no loss scaling is needed. Elsewhere a no-op."""
    enabled = str(device).startswith("cuda") and config.mixed_precision
    return torch.autocast("cuda", dtype=torch.bfloat16) if enabled else contextlib.nullcontext()


def parameter_count(module: nn.Module) -> int:
    return sum(parameter.numel() for parameter in module.parameters())


__all__ = ["CLASSES", "DEFAULT_MODEL", "MODELS", "NETWORKS", "POSE_DIM", "RGB_DIM", "DanceClassifier", "ModelConfig",
           "available_models", "config_from_dict", "default_config", "model_spec", "ordered_streams",
           "parameter_count"]
