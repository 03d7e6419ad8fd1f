"""The fast pose backend: RTMDet-nano finds the people, RTMPose places 17 COCO keypoints on each, via onnxruntime.

Both networks are OpenMMLab's (Apache-2.0), published as mmdeploy ONNX exports (`end2end.onnx` in their onnx_sdk
zips; the pins are in weights.py). What they expect, from the mmpose / mmdetection configs:

- RTMDet-nano: the frame scaled to fit 320 x 320 (aspect kept), padded right and bottom with grey 114, BGR,
  normalised with mean (103.53, 116.28, 123.675) / std (57.375, 57.12, 58.395). It returns `dets` (B, N, 5:
  x1 y1 x2 y2 score, after its own NMS) and `labels` (B, N) in input pixels.
- RTMPose: a 192 x 256 crop around each person (box enlarged 1.25x, widened or heightened to 3:4), RGB,
  normalised with mean (123.675, 116.28, 103.53) / std (58.395, 57.12, 57.375). It returns SimCC vectors:
  `simcc_x` (B, 17, 384) and `simcc_y` (B, 17, 512), two bins per crop pixel; a keypoint is at the arg-max.

Cost: 0.31 GFLOPs per frame for the detector, 0.36 (t) or 0.68 (s) per person for the pose network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from .. import cores
from ..errors import WeightsError
from . import MAX_PEOPLE, NUM_KEYPOINTS, RANDOM_PEOPLE

DETECTOR_SIZE = 320
DETECTOR_MEAN_BGR = np.array([103.53, 116.28, 123.675], dtype=np.float32)
DETECTOR_STD_BGR = np.array([57.375, 57.12, 58.395], dtype=np.float32)
PAD_VALUE = 114
POSE_WIDTH, POSE_HEIGHT = 192, 256
POSE_MEAN_RGB = np.array([123.675, 116.28, 103.53], dtype=np.float32)
POSE_STD_RGB = np.array([58.395, 57.12, 57.375], dtype=np.float32)
BOX_PADDING = 1.25  # mmpose's top-down crops see a little context around the box
SIMCC_SPLIT_RATIO = 2.0
DETECTION_THRESHOLD = 0.3  # mmpose's top-down demo default (--bbox-thr)
# A second NMS over the people kept by DETECTION_THRESHOLD (the exported detector's own NMS is at IoU 0.5): a box
# overlapping a better one by more than this IoU goes, so one dancer does not come back as two skeletons. The value
# is mmpose's top-down demo default (demo/topdown_demo_with_mmdet.py: `nms(bboxes, args.nms_thr)`, --nms-thr 0.3).
PERSON_NMS_IOU = 0.3
POSE_BATCH = 32  # crops per pose-network call


# -- pre- and post-processing: plain numpy + OpenCV, checked against hand-made network outputs in the tests ----------

def letterbox(image: np.ndarray, size: int = DETECTOR_SIZE) -> tuple[np.ndarray, float]:
    """RGB (H, W, 3) uint8 -> the detector's (3, size, size) float32 input, and the scale applied to the frame."""
    import cv2

    height, width = image.shape[:2]
    ratio = min(size / height, size / width)
    scaled_w, scaled_h = max(1, min(size, round(width * ratio))), max(1, min(size, round(height * ratio)))
    canvas = np.full((size, size, 3), PAD_VALUE, dtype=np.uint8)
    canvas[:scaled_h, :scaled_w] = cv2.resize(image, (scaled_w, scaled_h), interpolation=cv2.INTER_LINEAR)
    bgr = canvas[:, :, ::-1].astype(np.float32)
    return ((bgr - DETECTOR_MEAN_BGR) / DETECTOR_STD_BGR).transpose(2, 0, 1), ratio


def frame_boxes(dets: np.ndarray, labels: np.ndarray | None, ratio: float, width: int, height: int,
                threshold: float = DETECTION_THRESHOLD, max_people: int = MAX_PEOPLE) -> np.ndarray:
    """One image's detections (N, 5) in detector pixels -> the people kept, (n, 5) in frame pixels, best first.

    Kept: persons (label 0) scoring at least `threshold`, boxes clipped to the frame and with some area left, then
    those left by `suppress_overlaps`, at most `max_people`.
    """
    dets = np.asarray(dets, dtype=np.float32).reshape(-1, 5)
    keep = dets[:, 4] >= threshold
    if labels is not None:
        keep &= np.asarray(labels).reshape(-1) == 0
    people = dets[keep].copy()
    people[:, :4] /= ratio
    people[:, [0, 2]] = people[:, [0, 2]].clip(0, width)
    people[:, [1, 3]] = people[:, [1, 3]].clip(0, height)
    people = people[(people[:, 2] - people[:, 0] >= 1) & (people[:, 3] - people[:, 1] >= 1)]
    return suppress_overlaps(people)[:max_people]


def suppress_overlaps(boxes: np.ndarray, iou_threshold: float = PERSON_NMS_IOU) -> np.ndarray:
    """Boxes (n, 5) x1 y1 x2 y2 score -> those greedy NMS keeps, best first: a box whose IoU with a better kept
    box is above `iou_threshold` goes (equal scores: the earlier box counts as better)."""
    import cv2

    ranked = np.asarray(boxes, dtype=np.float32).reshape(-1, 5)
    ranked = ranked[np.argsort(-ranked[:, 4], kind="stable")]
    if len(ranked) < 2:
        return ranked
    # OpenCV's NMS, not torchvision's: this backend's hot path is onnxruntime, numpy and OpenCV (torch is imported
    # only for the random stand-ins). It is given ranks, not scores: its score filter (score > a threshold >= 0)
    # would drop the zero scores a 0.0 detection threshold keeps.
    widths_heights = ranked[:, 2:4] - ranked[:, 0:2]
    corners_sizes = np.column_stack([ranked[:, 0:2], widths_heights]).astype(np.float64)  # float: Rect2d, no rounding
    ranks = np.arange(len(ranked), 0, -1, dtype=np.float32)
    kept = np.asarray(cv2.dnn.NMSBoxes(corners_sizes, ranks, 0.0, iou_threshold), dtype=np.int64).reshape(-1)
    return ranked[np.sort(kept)]


def crop_boxes(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (n, 4+) -> crop centres (n, 2) and sizes (n, 2): padded by BOX_PADDING, grown to the crop's 3:4."""
    boxes = np.asarray(boxes, dtype=np.float32)
    centres = (boxes[:, 0:2] + boxes[:, 2:4]) / 2
    sizes = (boxes[:, 2:4] - boxes[:, 0:2]) * BOX_PADDING
    aspect = POSE_WIDTH / POSE_HEIGHT
    too_wide = sizes[:, 0] > sizes[:, 1] * aspect
    sizes = np.where(too_wide[:, None], np.stack([sizes[:, 0], sizes[:, 0] / aspect], 1),
                     np.stack([sizes[:, 1] * aspect, sizes[:, 1]], 1))
    return centres, sizes.astype(np.float32)


def crop_people(image: np.ndarray, centres: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Cut each person out of an RGB frame: (n, 3, 256, 192) float32, normalised for RTMPose."""
    import cv2

    crops = np.empty((len(centres), 3, POSE_HEIGHT, POSE_WIDTH), dtype=np.float32)
    for i, ((cx, cy), (w, h)) in enumerate(zip(centres, sizes)):
        sx, sy = POSE_WIDTH / w, POSE_HEIGHT / h
        matrix = np.array([[sx, 0, POSE_WIDTH / 2 - cx * sx], [0, sy, POSE_HEIGHT / 2 - cy * sy]], dtype=np.float32)
        crop = cv2.warpAffine(image, matrix, (POSE_WIDTH, POSE_HEIGHT), flags=cv2.INTER_LINEAR)
        crops[i] = ((crop.astype(np.float32) - POSE_MEAN_RGB) / POSE_STD_RGB).transpose(2, 0, 1)
    return crops


def decode_simcc(simcc_x: np.ndarray, simcc_y: np.ndarray, centres: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """SimCC vectors (n, 17, bins) -> keypoints (n, 17, 2) in frame pixels: arg-max bin / split ratio is the position
    in the crop, then the crop's own scale and offset take it back to the frame."""
    in_crop = np.stack([simcc_x.argmax(-1), simcc_y.argmax(-1)], axis=-1).astype(np.float32) / SIMCC_SPLIT_RATIO
    crop_size = np.array([POSE_WIDTH, POSE_HEIGHT], dtype=np.float32)
    return (in_crop / crop_size * sizes[:, None] + centres[:, None] - sizes[:, None] / 2).astype(np.float32)


# -- networks ---------------------------------------------------------------------------------------------------------

class OnnxNetwork:
    """An onnxruntime session: float32 batch in, the model's outputs (numpy) out, in their declared order."""

    def __init__(self, model: bytes | str, device: str = "cpu") -> None:
        import onnxruntime

        providers = ["CPUExecutionProvider"]
        if device == "cuda" and "CUDAExecutionProvider" in onnxruntime.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3  # its warnings are about the graph, not about anything a user can change
        cores.apply_to_onnxruntime(options)
        cores.apply_to_torch()
        try:
            self.session = onnxruntime.InferenceSession(model, sess_options=options, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types for unreadable models
            raise WeightsError(f"onnxruntime cannot load a pose network ({e}).",
                               "Delete it from the Hugging Face cache and run again to re-download it.") from e
        self.on_cuda = self.session.get_providers()[0] == "CUDAExecutionProvider"
        first_input = self.session.get_inputs()[0]
        self.input_name = first_input.name
        self.batchable = not isinstance(first_input.shape[0], int) or first_input.shape[0] != 1

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        if self.batchable or len(batch) == 1:
            return self.session.run(None, {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)})
        parts = [self(batch[i:i + 1]) for i in range(len(batch))]  # a static batch-1 export: one at a time
        return [np.concatenate(outputs) for outputs in zip(*parts)]


class TorchNetwork:
    """A torch module with the OnnxNetwork call: the random-weights stand-ins run this way when the `onnx` package
    (needed to export them) is missing, and tests run hand-changed stand-ins this way."""

    def __init__(self, module, device: str = "cpu") -> None:
        cores.apply_to_torch()
        self.module, self.device = module.eval().to(device), device

    def __call__(self, batch: np.ndarray) -> list[np.ndarray]:
        import torch

        with torch.inference_mode():
            outputs = self.module(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).to(self.device))
        return [output.cpu().numpy() for output in outputs]


# -- the random-weights stand-ins: exported once, then run by onnxruntime like the real files ---------------------

STAND_IN_SEED = 0  # the same weights every run, so an export made once serves every later run


def seeded_stand_in(build, *args):
    """A stand-in built under its own seed, leaving the caller's random state as it was."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(STAND_IN_SEED)
        return build(*args)


def stand_in_path(module, kind: str, name: str) -> Path:
    """Where the ONNX export of stand-in `module` is kept: named by a hash of everything the export depends on
    (weights, kind, name, opset, and rtm_networks.py itself: a forward() change alters no weight)."""
    from ..weights import home
    from . import rtm_networks

    digest = hashlib.sha256(f"{kind} {name} opset {rtm_networks.ONNX_OPSET}".encode())
    digest.update(Path(rtm_networks.__file__).read_bytes())
    for key, tensor in module.state_dict().items():
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return home() / "standins" / f"{name}-{digest.hexdigest()[:16]}.onnx"


def stand_in_onnx(module, kind: str, name: str, device: str = "cpu") -> OnnxNetwork:
    """The stand-in as an onnxruntime network, exported on first use and loaded from the cache after."""
    from .rtm_networks import export_onnx

    path = stand_in_path(module, kind, name)
    if path.is_file():
        try:
            return OnnxNetwork(str(path), device)
        except WeightsError:  # a damaged copy (the export is atomic, so not ours): made again below
            pass
    return OnnxNetwork(str(export_onnx(module, kind, path)), device)


def onnx_export_possible() -> bool:
    """Whether torch can export to ONNX: it needs the `onnx` package (the test and bench extras)."""
    import importlib.util

    return importlib.util.find_spec("onnx") is not None


def stand_in_networks(variant: str, people: int, device: str = "cpu") -> tuple[tuple, bool]:
    """The random (detector, pose) pair and whether onnxruntime runs them. onnxruntime, as the real files run, so
    that --random-weights speed is the real speed; as torch modules (about twice as slow) without `onnx`."""
    from .rtm_networks import rtmdet_nano, rtmpose

    stand_ins = [(seeded_stand_in(rtmdet_nano, people), "detector", f"rtmdet-nano-{people}-people"),
                 (seeded_stand_in(rtmpose, variant), "pose", f"rtmpose-{variant}")]
    if not onnx_export_possible():
        return tuple(TorchNetwork(module, device) for module, _, _ in stand_ins), False
    return tuple(stand_in_onnx(module, kind, name, device) for module, kind, name in stand_ins), True


# -- the estimator -----------------------------------------------------------------------------------------------------

class RTMPoseEstimator:
    """RTMDet-nano + RTMPose-`variant`: up to 20 people x 17 keypoints per frame, best detection first."""

    def __init__(self, variant: str = "t", device: str = "cpu", random_weights: bool = False,
                 random_people: int = RANDOM_PEOPLE, detection_threshold: float = DETECTION_THRESHOLD,
                 networks: tuple | None = None) -> None:
        """networks: a (detector, pose) pair to run instead of the published ones (tests run hand-changed
        stand-ins this way). random_weights: the stand-ins of rtm_networks.py, through onnxruntime when `onnx` is
        installed (else as torch modules: `torch_stand_ins` says so)."""
        self.variant, self.device = variant, device
        self.detection_threshold = 0.0 if random_weights or networks else detection_threshold
        self.torch_stand_ins = False
        if networks is not None:
            self.detector, self.pose = networks
        elif random_weights:
            (self.detector, self.pose), in_onnxruntime = stand_in_networks(variant, random_people, device)
            self.torch_stand_ins = not in_onnxruntime
        else:
            from ..weights import RTMDET_NANO, RTMPOSE, load_zip_member

            try:
                self.detector = OnnxNetwork(load_zip_member(RTMDET_NANO), device)
                self.pose = OnnxNetwork(load_zip_member(RTMPOSE[variant]), device)
            except WeightsError as e:  # say which backend, and the ways out that have nothing to do with classifiers
                raise type(e)(f"The rtmpose-{variant} pose backend's weights: {e.message}",
                              "Run once with internet access (they are cached after), use another backend with "
                              "--pose rcnn (torchvision's weights), or try `dancestyle classify` with "
                              "--random-weights.") from e

    @property
    def cuda_unused(self) -> bool:
        """Asked for CUDA, but onnxruntime runs the networks on the CPU (the CPU-only onnxruntime package)."""
        return self.device == "cuda" and not all(getattr(n, "on_cuda", True) for n in (self.detector, self.pose))

    def detect(self, image: np.ndarray) -> np.ndarray:
        """The people in one RGB frame: (n, 5) boxes x1 y1 x2 y2 score in frame pixels, best first."""
        return self.detect_all([image])[0]

    def detect_all(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """`detect` for each frame, in one detector call for them all (one per frame for a static batch-1 export):
        every frame is letterboxed to the same 320 x 320, and a call's fixed cost is paid once."""
        letterboxed = [letterbox(image) for image in images]
        outputs = self.detector(np.stack([network_input for network_input, _ in letterboxed]))
        # told apart by shape, not by position: dets (B, N, 5) float, labels (B, N) int
        dets = next(output for output in outputs if output.ndim == 3 and output.shape[-1] == 5)
        labels = next((output for output in outputs if output.ndim == 2), None)
        return [frame_boxes(dets[i], None if labels is None else labels[i], ratio, image.shape[1], image.shape[0],
                            self.detection_threshold)
                for i, (image, (_, ratio)) in enumerate(zip(images, letterboxed))]

    def estimate(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """RGB frames -> one (people, 17, 2) array of pixel (x, y) per frame. The detector sees all the frames in
        one call, the pose network all their people's crops in calls of POSE_BATCH."""
        if not images:
            return []
        boxes = self.detect_all(images)
        centres, sizes, crops = [], [], []
        for image, people in zip(images, boxes):
            centre, size = crop_boxes(people[:, :4])
            centres.append(centre)
            sizes.append(size)
            crops.append(crop_people(image, centre, size))
        all_crops = np.concatenate(crops)
        if len(all_crops) == 0:
            return [np.zeros((0, NUM_KEYPOINTS, 2), np.float32) for _ in images]
        simcc = [self.pose(all_crops[start:start + POSE_BATCH]) for start in range(0, len(all_crops), POSE_BATCH)]
        # simcc_x has 2 bins per crop column (384), simcc_y per row (512): told apart by size, not position
        x_first = simcc[0][0].shape[-1] == POSE_WIDTH * SIMCC_SPLIT_RATIO
        simcc_x, simcc_y = (np.concatenate([s[i] for s in simcc]) for i in ((0, 1) if x_first else (1, 0)))
        keypoints = decode_simcc(simcc_x, simcc_y, np.concatenate(centres), np.concatenate(sizes))
        counts = np.cumsum([0] + [len(people) for people in boxes])
        return [keypoints[counts[i]:counts[i + 1]] for i in range(len(images))]
