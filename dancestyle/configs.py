"""What configures a classifier and a training run, and the registry of model names. No torch here.

The CLI builds its options and help text from this module alone, so `dancestyle --help` never loads torch.
models.py builds the networks from these configs; train.py runs a `TrainOptions`.
"""

from __future__ import annotations

import math
import reprlib
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import ClassVar, get_type_hints

from .errors import UnknownModelError, UsageError
from .flow import DEFAULT_FLOW, FlowSettings
from .geometry import DEFAULT_DETECTOR_SIZE
from .pose import DEFAULT_POSE

STREAM_NAMES = ("rgb", "pose", "flow")  # features.STREAMS, without importing torch
FUSIONS = ("early", "late")  # ModelConfig.fusion
POSE_ENCODER_NAMES = ("people", "slots", "placed")  # ModelConfig.pose_encoder; the modules: features.POSE_ENCODERS
OPTIMIZERS = ("sgd", "adamw")  # ModelConfig.optimizer; train.py builds them
LR_SCHEDULES = ("constant", "cosine")  # ModelConfig.lr_schedule
TEST_FLIPS = ("none", "mirror", "behind")  # ModelConfig.test_flip: none, or one of augment.FLIPS

# Bounds on a model's settings, above all those that size what it allocates: generous for any real model (the
# defaults: hidden 32-128, 128 channels, 6 levels, kernel 3, batch 16-64, grid 32, width 16) yet far below what
# exhausts memory, for a config.json is someone else's file (hidden 1e9 asked torch for 8 TB). A float setting not
# named here is finite and 0 or more; see typed_settings.
MODEL_LIMITS: dict[str, tuple[float, float]] = {
    "stride": (1, 300),  # frames between samples: every frame, up to one sample per 10 s window
    "hidden": (1, 4096), "channels": (1, 4096),
    "levels": (1, 16),  # dilations up to 2**15 steps: far past any window
    "kernel_size": (1, 31),
    "front": (0, 31), "front_stride": (1, 31),  # the recurrent models' convolution before the LSTM (0: none)
    "batch_size": (1, 4096),
    "pretrain_epochs": (0, 10_000),
    "clip_steps": (1, 300),  # r3d's steps per clip: up to a window sampled at every frame
    "grid": (8, 256),  # r3d's heat-map side, cells: its three halvings need 8
    "width": (1, 256),  # r3d's first 3D convolution's channels, doubled three times
    "rgb_size": (16, 512),  # r3d's square frames, px (R3D-18 reads 112)
    "dropout": (0, 1), "stream_dropout": (0, 1), "input_dropout": (0, 1), "momentum": (0, 1),
    "ema": (0, 0.9999),  # 1 would never move from the first weights
}
KIND_NAMES = {bool: "true or false", int: "a whole number", float: "a number", str: "a string",
              list[str]: "a non-empty list of distinct names"}

CLASSES = ("ballet", "break", "flamenco", "foxtrot", "latin", "quickstep", "square", "swing", "tango", "waltz")


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
    # in training, the chance that a clip loses one of its streams (chosen at random) for the step: the model must
    # classify from each stream alone as well as from all (modality dropout, Neverova et al.'s ModDrop); 0: off
    stream_dropout: float = 0.0
    # with several streams: "early", their per-step features concatenated into one model over time; "late", one
    # model over time per stream, each trained on its own, their class probabilities averaged (as r3d does)
    fusion: str = "early"
    # how each sampled instant's skeletons become 102 features: "people", one network per person pooled over the
    # people present (whatever order they are listed in); "slots", the paper's convolution over 20 person slots;
    # "placed", as "people" with each person's box in the frame too (skeletons cached in frame coordinates)
    pose_encoder: str = "people"
    # "sgd": SGD with Nesterov momentum (the paper's); "adamw": Adam with decoupled weight decay
    optimizer: str = "sgd"
    # each per-step feature centred and scaled over the clip's steps before the model over time reads it: what
    # stays the same through a window (who dances, where the camera is) cannot reach it, only how things change
    time_norm: bool = False
    # epochs of per-frame pre-training of the pose and flow encoders before the model over time trains (paper.md:
    # 10); 0: the encoders train with the model over time only
    pretrain_epochs: int = 10
    # "constant", or "cosine": the lr falls along half a cosine from lr to 0 over the run's most epochs (train
    # --epochs), so its last epochs take small steps instead of jumping about a minimum (the recipe's plateau
    # schedule, --recipe paper, applies to "constant" only)
    lr_schedule: str = "constant"
    # the weights validated and kept are an exponential moving average of the trained ones, each step's weights
    # entering with weight 1 - ema (0: off, the trained weights themselves): steadier from epoch to epoch, so the
    # epoch chosen on validation is less a lucky draw (about 1 / (1 - ema) steps are averaged)
    ema: float = 0.0
    # in evaluation (validation, evaluate, classify, watch): each window's class probabilities averaged with those
    # of the window flipped ("mirror" or "behind", as augment.py flips training windows); "none": the window alone
    test_flip: str = "none"
    allowed_streams: ClassVar[tuple[str, ...]] = STREAM_NAMES  # the streams this architecture can read
    mixed_precision: ClassVar[bool] = False  # train, evaluate and classify in bfloat16 on CUDA (models.py)
    limb_heatmaps: ClassVar[bool] = False  # pose goes in as limb heat-maps of frame-coordinate skeletons (r3d)
    fusions: ClassVar[tuple[str, ...]] = FUSIONS  # the fusions this architecture can take

    def __post_init__(self) -> None:
        for key, value in typed_settings(type(self), vars(self), MODEL_LIMITS).items():
            setattr(self, key, value)  # an integral float (JSON's 128.0) as the int it means
        if self.fusion not in self.fusions:
            raise UsageError(f"{self.name} takes fusion {' or '.join(self.fusions)} (asked: {self.fusion!r}).",
                             f"Use fusion={self.fusions[0]}.")
        check_choice("pose encoder", "pose_encoder", self.pose_encoder, POSE_ENCODER_NAMES)
        check_choice("optimizer", "optimizer", self.optimizer, OPTIMIZERS)
        check_choice("lr schedule", "lr_schedule", self.lr_schedule, LR_SCHEDULES)
        check_choice("test-time flip", "test_flip", self.test_flip, TEST_FLIPS)
        if not set(self.streams) <= set(self.allowed_streams):
            raise UsageError(f"{self.name} reads {' or '.join(self.allowed_streams)} only (asked: --streams "
                             f"{','.join(self.streams)}).", f"Use --streams {','.join(self.allowed_streams)}.")

    @property
    def one_model_per_stream(self) -> bool:
        """Whether the streams go through a model over time each (models.LateFusion): fusion late, with several."""
        return self.fusion == "late" and len(self.streams) > 1

    @property
    def stream_forms(self) -> dict[str, str]:
        """How a stream's per-step input is laid out when not as usual, each a feature cache kind of its own
        (features.StreamSpec.form): {"pose": "frame"} for skeletons in frame coordinates instead of each in its
        own box, {"rgb": "frames112"} for 112 x 112 pixels instead of ResNet-18 features. Follows from the
        architecture and the pose encoder, so it is not in config.json."""
        return {"pose": "frame"} if self.pose_encoder == "placed" else {}

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def before_recorded(cls) -> dict:
        """Settings added after checkpoints were first written, each with what a config.json without it meant:
        no stream dropout, the one fusion the model had then (its first), the paper's pose encoder and optimizer,
        no normalisation over time, the paper's 10 epochs of per-frame pre-training, a constant lr, no average, no
        flip at test."""
        return {"stream_dropout": 0.0, "fusion": cls.fusions[0], "pose_encoder": "slots", "optimizer": "sgd",
                "time_norm": False, "pretrain_epochs": 10, "lr_schedule": "constant", "ema": 0.0,
                "test_flip": "none"}

    @classmethod
    def from_dict(cls, data: dict) -> ModelConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{**cls.before_recorded(), **{key: value for key, value in data.items() if key in known}})


def typed_settings(cls: type, data: dict, limits: dict[str, tuple[float, float]], prefix: str = "") -> dict:
    """`data`'s settings of dataclass `cls`, each as its field's type takes it (an integral float as an int) and
    within `limits`, else one UsageError naming the first that is not (`prefix` + its name). A float not in
    `limits` is finite and 0 or more; a list of names is non-empty, without repeats; bool is not a number."""
    kinds = get_type_hints(cls)
    typed = {}
    for f in fields(cls):
        if f.name in data:
            typed[f.name] = _typed(data[f.name], kinds[f.name], limits.get(f.name))
            if typed[f.name] is None:
                # no hint: the message says what it takes, for --set and config.json alike
                raise UsageError(f"{prefix}{f.name} is {reprlib.repr(data[f.name])}, expected "
                                 f"{_expected(kinds[f.name], limits.get(f.name))}.")
    return typed


def _typed(value, kind, bounds: tuple[float, float] | None):
    """`value` as a setting of type `kind` takes it, or None where it cannot (see typed_settings)."""
    if kind is bool or isinstance(value, bool):
        return value if kind is bool and isinstance(value, bool) else None
    if kind == list[str]:
        ok = isinstance(value, list) and value and all(isinstance(v, str) for v in value)
        return list(value) if ok and len(set(value)) == len(value) else None
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)
    elif kind is float and isinstance(value, int):
        value = float(value) if abs(value) < 1e308 else math.inf  # float() of a longer int overflows
    if not isinstance(value, kind) or (kind is float and not math.isfinite(value)):
        return None
    if kind is float and bounds is None:
        bounds = (0, math.inf)
    return None if kind in (int, float) and bounds and not bounds[0] <= value <= bounds[1] else value


def _expected(kind, bounds: tuple[float, float] | None) -> str:
    if kind is float and bounds is None:
        return "a finite number, 0 or more"
    return f"{KIND_NAMES[kind]} from {bounds[0]} to {bounds[1]}" if bounds else KIND_NAMES[kind]


def check_choice(what: str, key: str, value: str, choices: tuple[str, ...]) -> None:
    """Refuse a setting that is not one of its choices, naming them as `--set` takes them."""
    if value not in choices:
        raise UsageError(f"Unknown {what} {value!r}.", f"Use {key}={f' or {key}='.join(choices)}.")


@dataclass
class RecurrentConfig(ModelConfig):
    """What the recurrent models (lstm, attention) share."""

    # each step reads its features and their change since the step before (0 at the first): the LSTM is given the
    # motion a convolution over time (tcn) finds by itself, instead of having to keep the last step in its state
    deltas: bool = False
    # a second LSTM reads the clip backwards and each step's output joins both: every step hears the whole clip, as
    # the tcn's padding "same" lets it (the paper's LSTMs read forwards only)
    bidirectional: bool = False
    # a convolution over this many steps (odd; then batch norm and ReLU, `hidden` channels) before the LSTM: each
    # step it reads is the motion around an instant, as a tcn's first block finds it, and the LSTM follows those
    # motions through the clip; 0: none, the LSTM reads the steps themselves (the paper's)
    front: int = 0
    # that convolution centred on every front_stride-th step only: the LSTM reads a step every front_stride (each
    # the motion of front steps around it), so it follows a clip through fewer steps; 1: every step
    front_stride: int = 1

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.front and self.front % 2 == 0:
            raise UsageError(f"front is {self.front}: the convolution before the LSTM needs an odd number of steps "
                             "(as many after each step as before).", f"Use front={self.front + 1} or front=0.")
        if self.front_stride > 1 and not self.front:
            raise UsageError(f"front_stride={self.front_stride} strides the convolution before the LSTM, and there "
                             "is none (front=0).", f"Add front=K (odd, e.g. front={self.front_stride | 1}).")

    @classmethod
    def before_recorded(cls) -> dict:
        return {**super().before_recorded(), "deltas": False, "bidirectional": False, "front": 0,
                "front_stride": 1}


@dataclass
class LSTMConfig(RecurrentConfig):
    """The paper's tuned lstm: a sample every 2 s, which cannot see a beat (on synthetic corpus v3 it stays at
    chance). On v3's validation split `--set stride=5 --set time_norm=true --set readout=mean --set optimizer=adamw
    --set lr=0.001 --set weight_decay=0.01 --set dropout=0.3` learns (models.md); not the default yet, because at
    stride 5 classify samples 12 times the frames (a pose backend's work per frame)."""

    name: str = "lstm"
    hidden: int = 128
    stride: int = 60
    dropout: float = 0.7
    lr: float = 0.0167
    batch_size: int = 64
    weight_decay: float = 0.0284
    readout: str = "last"  # the clip's scores from the last hidden state (the paper's), or the mean of them all
    readouts: ClassVar[tuple[str, ...]] = ("last", "mean")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("lstm readout", "readout", self.readout, self.readouts)

    @classmethod
    def before_recorded(cls) -> dict:
        return {**super().before_recorded(), "readout": "last"}


@dataclass
class AttentionConfig(RecurrentConfig):
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
    # residual blocks of two convolutions; dilations 1, 2, 4, ..., 2**(levels-1). 6 (the authors') hear 252 steps
    # around a step, 4 hear 60 (a 10 s window at stride 5): on v3's validation split (seed 0, AdamW, padding "same")
    # 6 kept 78.6%, 4 72.2%
    levels: int = 6
    kernel_size: int = 3
    # a step every 1/10 s (a cache of its own: geometry.cache_stride): a quick step of quickstep, jive or cha-cha
    # lasts about 0.3 s, under 2 samples at stride 5. On v3's validation split (batch 64, the encoder pre-trained):
    # stride 3 kept 80.2 and 74.9% on seeds 0 and 1, stride 5 78.6 and 67.4 (models.md)
    stride: int = 3
    dropout: float = 0.02  # inside the residual blocks (the paper's tuned value)
    # on each step's features (not in the authors' tcn). 0.5 was chosen on corpus v2's test split; on v3's validation
    # split (seed 0, pose), 0.5 with lr 0.0022 had 18% after 18 epochs, none with lr 0.01 had 40% (and 48.7% at
    # epoch 29): none, as the authors
    input_dropout: float = 0.0
    # with several streams and fusion=early (not in the authors' tcn either): pose alone is at 100% on the synthetic
    # corpus, and pose,flow without it missed 1-2 clips a seed (97.7-98.9%); with 0.25, 99.2% over 3 seeds
    stream_dropout: float = 0.25
    # with several streams: one tcn per stream, calibrated on the validation split (calibration.py): pose,flow
    # 100% on 3 seeds where early fusion gave 99.2 (models.md); the authors' tcn (--recipe paper) fuses early
    fusion: str = "late"
    # batch norm after each convolution, and the clip's scores from the mean of the steps' outputs (not the last
    # step's): not in the authors' tcn (--recipe paper: False, "last"). On synthetic corpus v3, where only motion
    # tells styles apart, the tcn without them learnt nothing (training loss flat at ln 10) or memorised the
    # training clips at chance on validation (models.md)
    norm: bool = True
    readout: str = "mean"
    # AdamW at lr 0.001 with weight decay 0.01, and padding "same" (each step's output hears as many steps after it
    # as before; "causal": only those before, the authors'), chosen on v3's validation split (seed 0): 78.6% against
    # 63.1% for SGD at lr 0.01 (the paper's 0.0022 learnt too slowly with norm and the mean readout) and causal
    optimizer: str = "adamw"
    lr: float = 0.001
    # twice the steps an epoch of 64: a probe network outside the product had 86% on validation after 25 epochs of
    # batch 32, 71% with 64; the tcn itself (seed 0, stride 3) kept 80.7% and 80.2%
    batch_size: int = 32
    weight_decay: float = 0.01
    padding: str = "same"
    # no per-frame pre-training of the pose encoder: a single frame says nothing of a style on corpus v3 (the frame
    # control is at chance), and on its validation split (seed 0) the tcn kept 82.9% without it, 80.7% with it
    pretrain_epochs: int = 0
    # the filters' first draw: "normal", N(0, 0.01) (the authors'), or "pytorch", torch's own (Kaiming-uniform, sd
    # ~0.03 here; Adam's steps of ~lr turn filters of 0.01 by 10%). v3's validation split, seeds 0-2: 91.3 vs 81.5%
    conv_init: str = "pytorch"
    # the weights validated and kept: an average over about the last 100 steps (1.2 epochs of v3), not the last
    # step's. The tcn's validation accuracy jumped by up to 13 points between epochs; on v3's validation split
    # (seed 0) it kept 92.5% with the average, 90.9% without (models.md); the authors' tcn had none
    ema: float = 0.99
    readouts: ClassVar[tuple[str, ...]] = ("last", "mean")
    paddings: ClassVar[tuple[str, ...]] = ("causal", "same")
    conv_inits: ClassVar[tuple[str, ...]] = ("normal", "pytorch")

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("tcn readout", "readout", self.readout, self.readouts)
        check_choice("tcn padding", "padding", self.padding, self.paddings)
        check_choice("tcn conv_init", "conv_init", self.conv_init, self.conv_inits)

    @classmethod
    def before_recorded(cls) -> dict:
        # the authors' tcn had no input dropout, no norm, read the last step, and drew filters from N(0, 0.01)
        return {**super().before_recorded(), "input_dropout": 0.0, "norm": False, "readout": "last",
                "padding": "causal", "conv_init": "normal"}


@dataclass
class FrameConfig(ModelConfig):
    """Castro et al.'s frame-by-frame baseline: a per-frame classifier, plurality vote over the sampled frames."""

    name: str = "frame"
    hidden: int = 128
    stride: int = 5  # every cached sample votes: 60 frames per 10 s window
    dropout: float = 0.5
    lr: float = 0.01
    batch_size: int = 64
    weight_decay: float = 1e-4
    fusions: ClassVar[tuple[str, ...]] = ("early",)  # each frame is classified from all its streams, then voted


@dataclass
class R3DConfig(ModelConfig):
    """Castro et al.'s temporal 3D CNNs over 16-step clips (models3d.py), trained end to end, one per stream:
    pose: each step's skeletons drawn as limb heat-maps in frame coordinates, a small 3D CNN from scratch;
    rgb: the frames, torchvision's R3D-18 (Kinetics-400 weights, or random with --random-weights); flow: the
    trained flow encoder's per-step features through temporal convolutions. Several streams: late fusion (the
    mean of their probabilities).

    A 10 s window (60 steps at stride 5) is tiled by 16-step clips (the last one ending at the window's end); the
    window's probabilities are the mean of its clips' (shorter than 16 steps: the steps repeated in a loop).
    """

    name: str = "r3d"
    stride: int = 5  # 16 steps = 2.7 s: a few bars of any of the styles
    clip_steps: int = 16
    grid: int = 32  # heat-map side, cells; the frame's long side spans it
    width: int = 16  # channels of the first 3D convolution, doubled by each of the three that halve the clip
    dropout: float = 0.5
    lr: float = 0.01
    batch_size: int = 16
    weight_decay: float = 1e-4
    rgb_size: int = 112  # rgb: the square frames R3D-18 reads (Kinetics: a 112 crop of frames 128 high)
    streams: list[str] = field(default_factory=lambda: ["pose"])
    fusion: str = "late"  # always: one network per stream (models3d.R3DModel fuses them itself)
    fusions: ClassVar[tuple[str, ...]] = ("late",)
    mixed_precision: ClassVar[bool] = True
    limb_heatmaps: ClassVar[bool] = True

    @property
    def one_model_per_stream(self) -> bool:
        return False  # its late fusion is inside the one network (models3d.R3DModel)

    @property
    def stream_forms(self) -> dict[str, str]:
        return {"pose": "frame", "rgb": f"frames{self.rgb_size}"}


@dataclass(frozen=True)
class ModelSpec:
    config: type[ModelConfig]
    summary: str


# the registry: models.py maps each config class to its network
MODELS: dict[str, ModelSpec] = {
    "lstm": ModelSpec(LSTMConfig, "LSTM, 128 hidden; paper 65.9%"),
    "attention": ModelSpec(AttentionConfig, "LSTM, 32 hidden, self-attention; paper 63.7%"),
    "tcn": ModelSpec(TCNConfig, "TCN, 6 x 128 channels; paper 58.2% (causal)"),
    "frame": ModelSpec(FrameConfig, "per-frame classifier, plurality vote (Castro's baseline: RGB 56.4%)"),
    "r3d": ModelSpec(R3DConfig, "3D CNN over 16-step clips of limb heat-maps (Castro's temporal pose CNN: 57.1%)"),
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


def parse_settings(items: Iterable[str], defaults, option: str = "--set") -> dict:
    """["fusion=early", "hidden=64"] -> {"fusion": "early", "hidden": 64}: each KEY a setting of the `defaults`
    dataclass (a model's config, or FlowSettings), each VALUE typed as that setting's default is."""
    known = {f.name: getattr(defaults, f.name) for f in fields(defaults)
             if f.name != "name" and isinstance(getattr(defaults, f.name), (bool, int, float, str))}
    parsed = {}
    for item in items:
        key, equals, text = item.partition("=")
        if not equals or key.strip() not in known:
            raise UsageError(f"{option} {item}: not KEY=VALUE with a known KEY.",
                             f"Use one of: {', '.join(f'{k}={v}' for k, v in known.items())}.")
        key, kind = key.strip(), type(known[key.strip()])
        try:
            parsed[key] = {"true": True, "false": False}[text.lower()] if kind is bool else kind(text)
        except (KeyError, ValueError):
            raise UsageError(f"{option} {item}: {key} takes {kind.__name__} values (its default: {known[key]}).",
                             f"Use e.g. {option} {key}={known[key]}.") from None
    return parsed


def config_from_dict(data: dict) -> ModelConfig:
    name = data.get("name", "")
    if not isinstance(name, str):
        raise UnknownModelError(f"Model name {reprlib.repr(name)}: not a name.",
                                f"Choose one of: {', '.join(available_models())}.")
    return model_spec(name).config.from_dict(data)


EPOCHS, PATIENCE = 200, 40


@dataclass(frozen=True)
class Recipe:
    """How a classifier is trained around the paper's hyper-parameters (`train --recipe`)."""

    name: str
    summary: str
    freeze_pose_encoder: bool  # after its frame-by-frame pre-training
    select_on: str  # the epoch kept: "accuracy" (best validation accuracy, ties by loss) or "loss" (lowest loss)
    plateau_factor: float | None  # multiply the lr by this when the validation loss stalls for patience // 2 epochs
    pose_pretrain_lr: float
    patience: int  # default epochs without a better epoch before stopping (a model's own: patience_for)
    # model hyper-parameters this recipe sets over the model's defaults, by model name
    model_settings: dict = field(default_factory=dict)
    epochs: int = EPOCHS  # default most epochs (train --epochs)
    clip_gradients: bool = True  # each step's gradient clipped to optimizers.MAX_GRAD_NORM
    # each epoch a new window of each clip (a random offset within the stride and start: windows.training_window);
    # False: the same window every epoch
    random_windows: bool = True
    flip_windows: bool = True  # half of the training windows flipped (augment.DEFAULT_FLIP, or --augment's flip)
    # validation, and evaluate of the recipe's checkpoints, score each clip on its one fixed window
    # (windows.fixed_window); False: the mean over all its windows at offset 0, as classify
    score_fixed_window: bool = False
    model_patience: dict = field(default_factory=dict)  # a patience of its own, by model name

    def settings_for(self, model: str) -> dict:
        return dict(self.model_settings.get(model, {}))

    def patience_for(self, model: str) -> int:
        """The default patience of `model` under this recipe (train --patience overrides it)."""
        return self.model_patience.get(model, self.patience)


RECIPES = {
    "ours": Recipe("ours", "fine-tune the pose encoder (no weight decay), keep the most accurate epoch, constant lr",
                   freeze_pose_encoder=False, select_on="accuracy", plateau_factor=None, pose_pretrain_lr=0.01,
                   patience=PATIENCE),
    # the authors' run.py (github.com/noa-codes/danceClassification): encoder pre-trained at lr 1e-3 (the paper's
    # text says 0.01) then frozen (its features are precomputed); ReduceLROnPlateau on the validation loss (factor
    # 0.1 in one version of run.py, 0.5 in another; scheduler patience = --patience, run.py:366); stop after
    # 2 x --patience epochs without a lower validation loss (run.py:361), --patience as run.sh passes it: 20 for
    # the lstm, 30 for attention, none for the tcn (run.py's default 10); the lowest-loss epoch is the one kept.
    # Its train() steps with no gradient clipping, and training and validation read frame_select=range(5,305,5)
    # whatever --frame-freq says (run.py:266; test: range(5,305,5) too at the default --frame-freq 5, run.py:280):
    # the same 60 frames at stride 5 every epoch and each clip scored on them (so stride 5 for every model; the
    # paper's text says 60 for the lstm and 30 for attention: --set stride=60 or 30), never flipped (dataset.py has
    # no flip); run.sh trains with --epochs=500
    "paper": Recipe("paper", "as the authors' code: their pose encoder (person slots), pre-trained then frozen, lowest "
                    "validation loss, lr x0.1 on plateaus, the authors' tcn (no input or stream dropout, early "
                    "fusion), stride 5 for every model, the same window every epoch, no flips, no gradient "
                    "clipping, 500 epochs, validation on the training window, run.sh's patience per model",
                    freeze_pose_encoder=True, select_on="loss", plateau_factor=0.1, pose_pretrain_lr=1e-3, patience=20,
                    epochs=500, clip_gradients=False, random_windows=False, flip_windows=False,
                    score_fixed_window=True, model_patience={"lstm": 40, "attention": 60, "tcn": 20},
                    model_settings={"lstm": {"pose_encoder": "slots", "stride": 5},
                                    "attention": {"pose_encoder": "slots", "stride": 5},
                                    "frame": {"pose_encoder": "slots"},
                                    "tcn": {"input_dropout": 0.0, "stream_dropout": 0.0, "fusion": "early",
                                            "pose_encoder": "slots", "norm": False, "readout": "last",
                                            "lr": 0.0022, "optimizer": "sgd", "weight_decay": 0.0,
                                            "padding": "causal", "levels": 6, "stride": 5, "batch_size": 64,
                                            "pretrain_epochs": 10, "conv_init": "normal", "ema": 0.0}}),
}
DEFAULT_RECIPE = "ours"  # until the seeds table (models.md) shows "paper" better


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise UsageError(f"Unknown recipe {name!r}.", f"Use one of: {', '.join(RECIPES)}.")
    return RECIPES[name]


@dataclass
class TrainOptions:
    model: str = DEFAULT_MODEL
    data: Path | None = None
    out: Path | None = None
    epochs: int | None = None  # most epochs; None: the recipe's, or when resuming, the run's own
    patience: int | None = None  # epochs without a better epoch before stopping; None: the recipe's, or when
    # resuming, the run's own
    recipe: str = DEFAULT_RECIPE
    streams: list[str] = field(default_factory=lambda: ["rgb", "pose"])
    classes: int = 10  # Let's Dance: the paper's 10 or all 16 (a <style>/<video> dataset: every style folder)
    seed: int = 0
    device: str = "cpu"
    random_weights: bool = False  # random (seeded) RGB backbone: offline runs
    pose_source: str = "dataset"
    pose: str = DEFAULT_POSE  # the pose backend, for pose_source "estimator" and <style>/<video> datasets
    detector_size: int = DEFAULT_DETECTOR_SIZE
    resume: bool = False
    overwrite: bool = False  # replace the run already in `out` (without it, train refuses to)
    shuffle_frames: bool = False  # control experiment: destroy the order of each clip's frames
    augment: list[str] = field(default_factory=list)  # augment.py's names, beyond the mirror (e.g. ["jitter"])
    flow: FlowSettings = DEFAULT_FLOW  # how the flow stream is computed (flow.py)
    overrides: dict = field(default_factory=dict)  # model hyper-parameters, e.g. {"hidden": 64}
