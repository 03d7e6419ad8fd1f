"""How a checkpoint's features are made: one typed, frozen FeatureRecipe. No torch here.

The recipe is what training made its features with and what evaluate and classify must make again: the short side
frames are decoded at, the streams and the model's own layouts of them, the RGB weights, where the poses come from
(and which backend classify runs for them), and the flow settings. It is read from config.json (every layout a
checkpoint has ever had, legacy keys included) in `from_checkpoint` only, and written as config.json's `features`
block by `to_json` only.
"""

from __future__ import annotations

import reprlib
from collections.abc import Iterable
from dataclasses import dataclass

from .configs import STREAM_NAMES, ModelConfig, check_choice, config_from_dict, parse_settings, typed_settings
from .errors import UsageError, WeightsError
from .flow import DEFAULT_FLOW, DIS_PRESETS, FLOW_ALGORITHMS, FlowSettings
from .geometry import CACHE_STRIDE, DEFAULT_DETECTOR_SIZE, RGB_SIZE, cache_stride
from .pose import DEFAULT_POSE, FRAME_FORM, LEGACY_ESTIMATOR, POSE_BACKENDS, PoseSource
from .weights import RESNET18

RANDOM_RGB = "random-seed-0"  # a random but reproducible ResNet-18, for offline runs
KINETICS_START = "torchvision R3D_18_Weights.KINETICS400_V1"  # what an r3d on rgb starts from (config.json)
FRAMES_FORM = "frames"  # the rgb stream as pixels, "frames<side>" (a model that reads frames: r3d)
# how those frames are brought to their square side (features.square_frames): "kinetics" as torchvision's preset
# for R3D-18's Kinetics weights (128 x 171, then the centre); "short-side", r3d's until 2026-12-07 (aspect kept)
FRAME_RESIZES = ("kinetics", "short-side")
LEGACY_FRAME_RESIZE = "short-side"  # what an r3d config.json without features.rgb.resize was made with
POSE_PEOPLE, POSE_KEYPOINTS = 20, 17  # what config.json records of the pose input's shape
# bounds on the recorded sizes that decoding allocates by (a config.json is someone else's file): up to a 4K
# video's short side for the frames, a tenth of it for flow's; a second of pairs at 300 fps; DIS's refinement
# (the presets' 5) and a clip bound in px far past any real one
FRAME_LIMITS = {"frame_size": (32, 2160)}
FLOW_LIMITS = {"size": (16, 1080), "pairs": (1, 300), "grid": (1, 96), "refinement": (0, 100), "bound": (0.01, 1000)}


def flow_overrides(items: Iterable[str]) -> dict:
    """`--flow-set` items (["pairs=1", "size=128"]) as FlowSettings fields, each typed, within FLOW_LIMITS and
    computable by this version, else one UsageError with a hint: `train --flow-set` and benchmarks/seeds_table.py."""
    parsed = parse_settings(items, DEFAULT_FLOW, "--flow-set")
    try:
        typed = typed_settings(FlowSettings, parsed, FLOW_LIMITS, "--flow-set ")
    except UsageError as e:
        bounds = ", ".join(f"{key} {low:g} to {high:g}" for key, (low, high) in FLOW_LIMITS.items())
        raise UsageError(e.message, f"Flow settings take: {bounds}.") from None
    check_choice("flow algorithm", "algorithm", typed.get("algorithm", DEFAULT_FLOW.algorithm), FLOW_ALGORITHMS)
    check_choice("DIS preset", "preset", typed.get("preset", DEFAULT_FLOW.preset), tuple(DIS_PRESETS))
    return typed


def rgb_weights_id(random_weights: bool) -> str:
    return RANDOM_RGB if random_weights else f"{RESNET18.repo}@{RESNET18.revision}"


def frames_side(form: str) -> int:
    """The side of the square frames an rgb form "frames<side>" names."""
    if not form.startswith(FRAMES_FORM) or not form[len(FRAMES_FORM):].isdigit():
        raise ValueError(f"not an rgb frames form: {form!r}")
    return int(form[len(FRAMES_FORM):])


@dataclass(frozen=True)
class FeatureRecipe:
    """Everything that decides a checkpoint's per-frame features (see the module's docstring)."""

    streams: tuple[str, ...]  # in STREAM_NAMES order, whatever order a user named them in
    forms: tuple[tuple[str, str], ...] = ()  # (stream, form): ModelConfig.stream_forms, sorted
    frame_size: int = DEFAULT_DETECTOR_SIZE  # short side every stream's frames are decoded at
    rgb_weights: str = rgb_weights_id(False)  # as config.json records them (r3d: the weights it started from)
    pose: PoseSource = PoseSource(DEFAULT_POSE)  # where training's poses came from (backend None: skeleton files)
    pose_backend: str = DEFAULT_POSE  # the backend classify runs for this model's poses
    flow: FlowSettings = DEFAULT_FLOW
    stride: int = CACHE_STRIDE  # frames between cached samples: geometry.cache_stride of the model's stride
    frames_resize: str = FRAME_RESIZES[0]  # a model that reads frames (r3d): how they were made square

    @classmethod
    def for_model(cls, model: ModelConfig, pose: PoseSource | None = None, rgb_weights: str | None = None,
                  frame_size: int = DEFAULT_DETECTOR_SIZE, flow: FlowSettings = DEFAULT_FLOW) -> FeatureRecipe:
        """The recipe a new run of `model` makes its features with. pose None, or a model without the pose stream:
        the default backend, as checkpoints have always recorded it; rgb_weights None: the pinned ResNet-18."""
        rgb_weights = rgb_weights or rgb_weights_id(random_weights=False)
        forms = tuple(sorted(model.stream_forms.items()))
        if rgb_reads_frames(dict(forms)) and rgb_weights != RANDOM_RGB:
            rgb_weights = KINETICS_START  # r3d's R3D-18 is trained end to end from these, not from a ResNet-18
        if pose is None or "pose" not in model.streams:
            pose = PoseSource(DEFAULT_POSE, frame_size)
        return cls(_ordered(model.streams), forms, frame_size, rgb_weights, pose, pose.backend or DEFAULT_POSE,
                   flow, cache_stride(model.stride))

    @classmethod
    def from_checkpoint(cls, config: dict) -> FeatureRecipe:
        """The recipe a checkpoint's config.json records, from any layout this project has written (the fixtures
        in tests/test_recipe.py): the legacy keys are read here and nowhere else."""
        model = config_from_dict(config["model"])
        features = _part(config, "features")
        pose = _part(features, "pose", "features.")
        # older checkpoints recorded the frame size as the pose detector's (pose.detector_size)
        frame_size = features.get("frame_size") or pose.get("detector_size") or DEFAULT_DETECTOR_SIZE
        frame_size = typed_settings(cls, {"frame_size": frame_size}, FRAME_LIMITS, "features.")["frame_size"]
        flow = _part(features, "flow", "features.") if features.get("flow") is not None else None
        if flow is not None:  # its sizes typed and bounded; from_dict refuses what this version cannot compute
            flow = FlowSettings.from_dict({**flow, **typed_settings(FlowSettings, flow, FLOW_LIMITS, "features.flow.")})
        rgb = _part(features, "rgb", "features.")
        rgb_weights = _text(rgb.get("weights"), "features.rgb.weights")
        return cls(_ordered(model.streams), tuple(sorted(model.stream_forms.items())), frame_size,
                   rgb_weights or rgb_weights_id(random_weights=False),
                   _recorded_pose_source(config, "pose" in model.streams, frame_size), _recorded_pose_backend(pose),
                   DEFAULT_FLOW if flow is None else flow, cache_stride(model.stride),
                   _recorded_frames_resize(rgb, rgb_reads_frames(model.stream_forms)))

    def to_json(self) -> dict:
        """config.json's `features` block: frame_size is the short side both streams' frames were decoded at
        (classify decodes at it too); pose.backend the backend `classify` runs for the poses (the one they came
        from, or the default backend for poses read from Let's Dance's own skeleton files, COCO-17 too); flow the
        flow settings (flow.py), which classify computes exactly."""
        rgb = {"backbone": "resnet18", "weights": self.rgb_weights, "size": RGB_SIZE}
        if self.reads_frames:
            rgb = {"backbone": "r3d_18", "weights": self.rgb_weights, "size": frames_side(self.form("rgb")),
                   "resize": self.frames_resize}
        return {
            "frame_size": self.frame_size,
            "rgb": rgb,
            "pose": {"backend": self.pose_backend,
                     "source": "dataset" if self.pose.backend is None else "estimator",
                     "random_weights": self.pose.random_weights,
                     "people": POSE_PEOPLE, "keypoints": POSE_KEYPOINTS,
                     "normalisation": "frame: centred, half the long side = 1" if self.form("pose") == FRAME_FORM
                     else "per-skeleton bounding box to [-1, 1]"},
            "flow": self.flow.to_dict(),
        }

    @property
    def stream_forms(self) -> dict[str, str]:
        return dict(self.forms)

    def form(self, stream: str) -> str:
        """The model's own layout of `stream` (ModelConfig.stream_forms); "": the usual one."""
        return self.stream_forms.get(stream, "")

    @property
    def reads_frames(self) -> bool:
        """Whether the rgb stream is the frames' pixels (r3d) rather than ResNet-18 features."""
        return rgb_reads_frames(self.stream_forms)

    @property
    def pose_source(self) -> PoseSource | None:
        """Where the pose stream's poses come from; None for a model without the pose stream."""
        return self.pose if "pose" in self.streams else None

    @property
    def flow_settings(self) -> FlowSettings | None:
        """The flow stacks' settings (decoded with the frames); None for a model without the flow stream."""
        return self.flow if "flow" in self.streams else None

    @property
    def poses_from_pixels(self) -> bool:
        """Whether the pose stream is made from the frames (a backend), not read from skeleton files."""
        return self.pose_source is not None and self.pose.backend is not None

    @property
    def streams_from_files(self) -> tuple[str, ...]:
        """The streams read from the dataset's own files rather than made from its frames: Let's Dance's skeletons."""
        return ("pose",) if self.pose_source is not None and not self.poses_from_pixels else ()

    def source_id(self, stream: str) -> str:
        """What `stream`'s cached features were made from (its cache folder, features.StreamSpec.source)."""
        if stream == "rgb":
            # frames (pixels) do not depend on the ResNet weights that make rgb features; the legacy resize keeps
            # the caches' names it had
            if not self.reads_frames:
                return f"{self.rgb_weights}@{self.frame_size}px"
            resize = "" if self.frames_resize == LEGACY_FRAME_RESIZE else f"-{self.frames_resize}"
            return f"frames{resize}@{self.frame_size}px"
        return self.pose.id if stream == "pose" else self.flow.id


def _part(config: dict, key: str, where: str = "") -> dict:
    """config[key], an object, or {} where absent (null included); anything else is refused, naming it."""
    part = config.get(key)
    if part is not None and not isinstance(part, dict):
        raise WeightsError(f"{where}{key} is {reprlib.repr(part)}, expected an object ({{...}}).")
    return part or {}


def _text(value, where: str) -> str | None:
    """A recorded name: a string, or None where absent."""
    if value is not None and not isinstance(value, str):
        raise WeightsError(f"{where} is {reprlib.repr(value)}, expected a string.")
    return value


def _known_backend(name: str, where: str) -> str:
    """A recorded pose backend, refused (a bad checkpoint, not a usage error) when this version has none of the name."""
    if name not in POSE_BACKENDS:
        raise WeightsError(f"{where} is {reprlib.repr(name)}, a pose backend this version does not have (it has "
                           f"{', '.join(POSE_BACKENDS)}).")
    return name


def _ordered(streams) -> tuple[str, ...]:
    return tuple(stream for stream in STREAM_NAMES if stream in streams)


def rgb_reads_frames(forms: dict[str, str]) -> bool:
    """Whether a model's rgb stream is its frames' pixels (r3d) rather than ResNet-18 features."""
    return forms.get("rgb", "").startswith(FRAMES_FORM)


def _recorded_frames_resize(rgb: dict, reads_frames: bool) -> str:
    """features.rgb.resize of a model that reads frames; r3d checkpoints from before it was recorded kept the aspect
    ratio. Other models have no such frames: the default, as for_model gives them."""
    if not reads_frames:
        return FRAME_RESIZES[0]
    resize = _text(rgb.get("resize"), "features.rgb.resize") or LEGACY_FRAME_RESIZE
    if resize not in FRAME_RESIZES:
        raise WeightsError(f"features.rgb.resize is {reprlib.repr(resize)}, a way of resizing frames this version "
                           f"does not have (it has {', '.join(FRAME_RESIZES)}).",
                           "Use the dancestyle version that trained it, or train the model again.")
    return resize


def _recorded_pose_backend(pose: dict) -> str:
    """features.pose.backend; before backends existed, pose.estimator named Keypoint R-CNN (`rcnn`)."""
    if "backend" in pose:
        return _known_backend(_text(pose["backend"], "features.pose.backend") or DEFAULT_POSE, "features.pose.backend")
    return "rcnn" if pose.get("estimator", LEGACY_ESTIMATOR) == LEGACY_ESTIMATOR else DEFAULT_POSE


def _recorded_pose_source(config: dict, reads_poses: bool, frame_size: int) -> PoseSource:
    """Where training's poses came from: training.pose_source (an id; "estimator-[random-]<size>" before
    backends existed), else the skeleton files; for a model without the pose stream (no training.pose_source),
    features.pose as written, so that to_json gives back what training wrote."""
    recorded = _text(_part(config, "training").get("pose_source"), "training.pose_source")
    if recorded:
        try:
            source = PoseSource.parse(recorded)
        except ValueError:  # no frame size at its end
            raise WeightsError(f"training.pose_source is {reprlib.repr(recorded)}, expected 'dataset' or "
                               "'<backend>[-random]-<frame size>'.") from None
        typed_settings(PoseSource, {"frame_size": source.frame_size}, FRAME_LIMITS, "training.pose_source's ")
        if source.backend is not None:
            _known_backend(source.backend, "training.pose_source's backend")
        return source
    pose = _part(_part(config, "features"), "pose", "features.")
    if not reads_poses and pose.get("source") == "estimator":
        backend = _known_backend(_text(pose.get("backend", DEFAULT_POSE), "features.pose.backend"),
                                 "features.pose.backend")
        return PoseSource(backend, frame_size, bool(pose.get("random_weights")))
    return PoseSource(None)
