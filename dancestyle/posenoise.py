"""What a multi-person 2-D pose detector reports for ground-truth skeletons: the noise of the corpus's skeleton files.

A real detector (the DensePose keypoints of Let's Dance, RTMPose, Keypoint R-CNN) run on real dance video does not
see every dancer in every frame. It places joints a little off (more pixels for a bigger person), guesses the
joints it cannot see (onto the limb they hang from: its files always hold all 17), now and then puts a joint
somewhere else entirely or mixes up left and right, misses people for a few frames at a time (motion blur; more
often the small ones and the ones hidden behind a nearer dancer), reports people who are not dancers, puts the
joints of whoever leaves the frame on its edge, sometimes returns nothing at all, and lists the people it
found by its own confidence, so the order changes from frame to frame (Let's Dance's files have no tracking).

`detect` turns true keypoints into such reports. Everything it does depends only on geometry (size in the frame,
overlap with nearer people, the frame's edges), never on the dance: the false people are one neutral standing
template at a random place and size. A `PoseNoise` is the documented parameter set; `REALISTIC` is the default and
`CLEAN` reports every dancer exactly. No recording of real dancers or real detector output was used to choose the
values: each comes from how such detectors are known to behave, as the comment beside it says.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import UsageError
from .pose import KEYPOINT_NAMES, NUM_KEYPOINTS

FLIPPED = (0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15)  # each COCO keypoint's left/right twin
PARENT = (1, 0, 0, 1, 2, 6, 5, 5, 6, 7, 8, 12, 11, 11, 12, 13, 14)  # where a lost joint is guessed: wrist on elbow...
OCCLUDED_FROM = 0.5  # covered fraction of a person's box at which occluded_miss starts to count (all of it at 1.0)

# The false people: one neutral standing pose (COCO order; the person's left is the image's right, as seen from
# the front), in units of its height, y down from the top of the head. Identical for every style.
TEMPLATE = np.array([
    (0.0, 0.06), (0.02, 0.045), (-0.02, 0.045), (0.045, 0.055), (-0.045, 0.055), (0.11, 0.18), (-0.11, 0.18),
    (0.14, 0.35), (-0.14, 0.35), (0.15, 0.5), (-0.15, 0.5), (0.07, 0.52), (-0.07, 0.52), (0.075, 0.75),
    (-0.075, 0.75), (0.08, 0.97), (-0.08, 0.97)]) - (0.0, 0.5)  # centred at half its height
FALSE_HEIGHT = (0.08, 0.5)  # a false person's height as a fraction of the frame height, log-uniform
FALSE_JITTER = 0.05  # sd of each of its joints, as a fraction of its height: clutter is not a clean pose
FALSE_KEEP = 0.6  # chance each of its joints is found (the others are guessed onto their PARENT)
FALSE_SCORE = 0.3  # its confidence relative to a dancer of the same visible size: usually listed after the dancers


@dataclass(frozen=True)
class PoseNoise:
    """What the detector gets wrong. The defaults (every rate 0) are a perfect detector: CLEAN.

    Probabilities are per frame and per person (per joint where it says so); draws are independent unless said.
    """

    jitter: float = 0.0  # sd of each joint's x and y error (px), as a fraction of the person's height (px); per joint
    # and frame, independent
    joint_drop: float = 0.0  # chance the detector loses a joint: it still reports it (Let's Dance's files always
    # hold all 17, as every top-down keypoint head outputs), guessed onto the joint it hangs from (PARENT)
    miss: float = 0.0  # chance a person is not reported in a frame; misses come in runs of miss_frames on average,
    # so this is the long-run fraction of frames missed, not an independent coin per frame
    miss_frames: float = 1.0  # mean length of a run of misses in frames (geometric); 1 = independent frames
    small_miss: float = 0.0  # extra miss chance for a small person: small_miss * (1 - height / small_height), where
    # height is the person's height as a fraction of the frame height; 0 for heights >= small_height
    small_height: float = 0.2  # fraction of the frame height below which a person counts as small
    occluded_miss: float = 0.0  # extra miss chance for a person covered by a nearer one: occluded_miss * (c - 0.5)
    # / 0.5 for the covered fraction c >= 0.5 of the person's box (its largest overlap with one nearer person's box)
    false_people: float = 0.0  # mean number of false detections per frame (Poisson); they follow the edge rule too
    empty_frames: float = 0.0  # chance a frame comes back empty (nobody, not even false people)
    edge_min_joints: int = 1  # a person with fewer true joints than this inside the frame is not reported; a
    # joint outside the frame (after the jitter) is reported on the frame's edge (the detector's crop ends there)
    flip: float = 0.0  # chance a reported person has left and right swapped (all 16 lateral joints), per frame
    outlier: float = 0.0  # chance a reported joint lands anywhere in the person's box instead of near its place
    order_noise: float = 0.0  # sd of the noise on the log confidence that orders the people (0: by visible box area,
    # biggest first); confidence = log(box area inside the frame * (1 - covered fraction)) + order_noise * N(0, 1)

    def __post_init__(self) -> None:
        for name in ("joint_drop", "miss", "small_miss", "occluded_miss", "empty_frames", "flip", "outlier"):
            if not 0 <= getattr(self, name) <= 1:
                raise UsageError(f"Pose noise {name}={getattr(self, name)} is not a probability.",
                                 "Give a value from 0 to 1.")
        for name in ("jitter", "false_people", "order_noise"):
            if not getattr(self, name) >= 0:
                raise UsageError(f"Pose noise {name}={getattr(self, name)} is negative.", "Give a value >= 0.")
        if not self.miss_frames >= 1:
            raise UsageError(f"Pose noise miss_frames={self.miss_frames} is below 1.", "Give a run length >= 1.")
        if not self.small_height > 0:
            raise UsageError(f"Pose noise small_height={self.small_height} is not positive.",
                             "Give a fraction of the frame height > 0.")
        if not 1 <= self.edge_min_joints <= NUM_KEYPOINTS:
            raise UsageError(f"Pose noise edge_min_joints={self.edge_min_joints} is outside 1-{NUM_KEYPOINTS}.",
                             f"Give a joint count from 1 to {NUM_KEYPOINTS}.")


CLEAN = PoseNoise()  # every dancer, every joint inside the frame, exact; ordered by visible box area
REALISTIC = PoseNoise(
    jitter=0.012,  # frame-to-frame keypoint jitter of single-frame detectors is ~1-2% of body height (why video
    # pipelines smooth keypoints); COCO's OKS constants put even the annotators' sd at 2.5-11% of a person's scale
    joint_drop=0.08,  # self-occluded joints are guessed, usually onto a neighbour: a side view hides an
    # arm or a leg behind the body now and then, about one joint in twelve
    miss=0.04,  # top-down detectors find ~95% of large, clearly visible people; misses cluster in blurred frames
    miss_frames=4.0,  # a blur or pose the detector does not know lasts a beat fraction: ~0.1-0.2 s at 25-30 fps
    small_miss=0.6,  # below 1/5 of the frame height a dancer is under ~100 px at a 512 px detector input and
    small_height=0.2,  # recall falls; at 1/16 (32 px, COCO's "small") the extra miss chance is 0.6 * 0.69 = 0.41
    occluded_miss=0.5,  # a dancer mostly behind a partner (closed hold seen from the side) is merged or removed by
    # non-maximum suppression about half the time once the boxes overlap nearly fully
    false_people=0.15,  # spectators, judges, mirrors, posters: a false skeleton in roughly one frame in seven
    empty_frames=0.005,  # whole frames with nobody: decoding glitches, cuts, fades; Let's Dance has empty files too
    edge_min_joints=6,  # a body cut to its feet or a hand is not detected; head and shoulders (5-7 joints) are
    flip=0.02,  # left/right confusions, mostly for people seen from the back or side
    outlier=0.015,  # a joint put on the wrong limb or the partner's body: a few percent of keypoints in crowded scenes
    order_noise=0.5,  # detection scores wobble by tens of percent between frames: near-equal dancers swap places
)
PRESETS: dict[str, PoseNoise] = {"clean": CLEAN, "realistic": REALISTIC}


def available_noise() -> list[str]:
    """The names `noise_preset` accepts."""
    return list(PRESETS)


def noise_preset(name: str) -> PoseNoise:
    """The preset called `name`; an unknown name is a UsageError that lists the valid ones."""
    try:
        return PRESETS[name]
    except KeyError:
        raise UsageError(f"Unknown pose noise {name!r}.", f"Choose one of: {', '.join(PRESETS)}.") from None


def describe(noise: PoseNoise) -> dict:
    """The parameters as a plain dict, for the corpus marker; PoseNoise(**describe(noise)) == noise."""
    return asdict(noise)


def _coverage(low: np.ndarray, high: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """(frames, people) fraction of each person's box covered by the box of the most overlapping nearer person."""
    # pairs as [frame, other j, person i], so the reduction over j runs along a middle axis (fast in numpy)
    overlap = [np.clip(np.minimum(high[:, :, None, k], high[:, None, :, k])
                       - np.maximum(low[:, :, None, k], low[:, None, :, k]), 0, None) for k in (0, 1)]
    area = np.prod(high - low, axis=-1)[:, None, :]
    covered = np.divide(overlap[0] * overlap[1], area, out=np.zeros_like(overlap[0]), where=area > 0)
    nearer = depth[:, :, None] < depth[:, None, :]  # [f, j, i]: j is nearer the camera than i
    return np.where(nearer, np.minimum(covered, 1.0), 0.0).max(axis=1, initial=0.0)


def _runs(chance: np.ndarray, mean_length: float, rng: np.random.Generator) -> np.ndarray:
    """(frames, people) misses: runs of mean length `mean_length` (geometric) that start at a rate making frame t
    missed with about probability chance[t] (exact for a constant chance as runs get rare; within ~0.02 at 0.5)."""
    frames, people = chance.shape
    if frames == 0:
        return np.zeros((0, people), bool)
    lead = int(np.ceil(4 * mean_length))  # runs may start before the clip, so its first frames are not spared
    chance = np.concatenate([np.repeat(chance[:1], lead, axis=0), chance])
    start = rng.random(chance.shape) < 1 - (1 - chance) ** (1 / mean_length)
    t = np.arange(lead + frames)[:, None]
    until = np.maximum.accumulate(np.where(start, t + rng.geometric(1 / mean_length, chance.shape), 0), axis=0)
    return (until > t)[lead:]


def _false_people(noise: PoseNoise, frames: int, size: tuple[int, int], rng: np.random.Generator):
    """Clutter: (k, 17, 2) points, and per false person its frame, confidence and whether
    enough of it lies inside the frame to be reported."""
    width, height = size
    count = rng.poisson(noise.false_people, frames)
    total = int(count.sum())
    tall = height * np.exp(rng.uniform(*np.log(FALSE_HEIGHT), total))
    centre = rng.uniform((0, 0), (width, height), (total, 2))
    true = centre[:, None] + TEMPLATE * tall[:, None, None]  # (total, 17, 2)
    seen = (true + rng.standard_normal(true.shape) * (FALSE_JITTER * tall)[:, None, None]).astype(np.float32)
    lost = rng.random((total, NUM_KEYPOINTS)) >= FALSE_KEEP
    seen[lost] = seen[:, PARENT][lost]
    np.clip(seen, 0, np.array(size, np.float32) - 0.01, out=seen)
    low, high = np.clip(true.min(1), 0, size), np.clip(true.max(1), 0, size)
    confidence = np.log(np.maximum(np.prod(high - low, axis=-1) * FALSE_SCORE, 1e-9))
    there = _inside(true, size).sum(-1) >= noise.edge_min_joints
    return seen, np.repeat(np.arange(frames), count), confidence, there


def _inside(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(..., 17) whether each joint of (..., 17, 2) lies inside the frame."""
    x, y = points[..., 0], points[..., 1]
    return (x >= 0) & (x < size[0]) & (y >= 0) & (y < size[1])


def detect(points: np.ndarray, depth: np.ndarray, scale: np.ndarray, size: tuple[int, int],
           rng: np.random.Generator, noise: PoseNoise = REALISTIC) -> list[np.ndarray]:
    """What a detector reports for the true skeletons of a clip.

    points (frames, people, 17, 2) true pixel keypoints (x right, y down; may lie outside the frame), depth
    (frames, people) distance from the camera (bigger = farther), scale (frames, people) each person's height in
    pixels, size (width, height) of the frame. Returns per frame a (k, 17, 2) float32 array (views of one array)
    of what the detector reports (all 17 joints of each, inside the frame), people in the detector's order: by a noisy
    confidence, bigger and less occluded first, so the order changes from frame to frame as in Let's Dance's
    untracked files. The same generator state gives the same result.
    """
    points = np.asarray(points, np.float32)
    frames, people = points.shape[:2]
    depth = np.broadcast_to(np.asarray(depth, np.float64), (frames, people))
    scale = np.broadcast_to(np.asarray(scale, np.float64), (frames, people))
    size = (int(size[0]), int(size[1]))

    # who is there: geometry only, on x and y with the joints leading (reductions over small trailing axes are slow)
    x, y = np.transpose(points, (3, 2, 0, 1)).copy()  # (17, frames, people) each
    low = np.stack([x.min(0, initial=np.inf), y.min(0, initial=np.inf)], -1).astype(np.float64)  # the true box
    high = np.stack([x.max(0, initial=-np.inf), y.max(0, initial=-np.inf)], -1).astype(np.float64)
    covered = _coverage(low, high, depth)
    small = np.clip(1 - scale / (noise.small_height * size[1]), 0, 1)
    occluded = np.clip((covered - OCCLUDED_FROM) / (1 - OCCLUDED_FROM), 0, 1)
    chance = 1 - (1 - noise.miss) * (1 - noise.small_miss * small) * (1 - noise.occluded_miss * occluded)
    missed = _runs(chance, noise.miss_frames, rng)
    inside = ((x >= 0) & (x < size[0]) & (y >= 0) & (y < size[1])).sum(0)
    there = ~missed & (inside >= noise.edge_min_joints)
    frame, person = np.nonzero(there)
    visible = np.prod(np.clip(high, 0, size) - np.clip(low, 0, size), axis=-1) * (1 - covered)
    confidence = np.log(np.maximum(visible[frame, person], 1e-9))

    # where the joints of those found are reported
    seen = points[frame, person]  # (found, 17, 2), a copy
    seen += rng.standard_normal(seen.shape, dtype=np.float32) * (noise.jitter * scale[frame, person]).astype(
        np.float32)[:, None, None]
    wrong = np.flatnonzero(rng.random(seen.shape[:2], dtype=np.float32) < noise.outlier)
    box_low, box_size = low[frame, person][wrong // NUM_KEYPOINTS], (high - low)[frame, person][wrong // NUM_KEYPOINTS]
    seen.reshape(-1, 2)[wrong] = box_low + rng.random((len(wrong), 2)) * box_size
    flipped = rng.random(len(seen)) < noise.flip
    seen[flipped] = seen[flipped][:, FLIPPED]
    lost = rng.random(seen.shape[:2], dtype=np.float32) < noise.joint_drop
    seen[lost] = seen[:, PARENT][lost]
    np.clip(seen, 0, np.array(size, np.float32) - 0.01, out=seen)

    # whole empty frames, clutter, then the detector's order
    empty = rng.random(frames) < noise.empty_frames
    clutter, clutter_frame, clutter_confidence, clutter_there = _false_people(noise, frames, size, rng)
    seen = np.concatenate([seen, clutter])
    frame = np.concatenate([frame, clutter_frame])
    confidence = np.concatenate([confidence, clutter_confidence])
    confidence += noise.order_noise * rng.standard_normal(len(confidence))
    keep = np.flatnonzero(np.concatenate([np.ones(len(person), bool), clutter_there]) & ~empty[frame])
    keep = keep[np.lexsort((-confidence[keep], frame[keep]))]
    seen, ends = seen[keep], np.cumsum(np.bincount(frame[keep], minlength=frames)).tolist()
    return [seen[start:end] for start, end in zip([0, *ends], ends)]


def to_letsdance_json(people: np.ndarray) -> list:
    """One frame's reported people as Let's Dance's skeleton JSON structure: [["person0", ["nose", [x, y]], ...],
    ...], coordinates rounded to 2 decimals, joints that are NaN left out. json.dumps it to write the file."""
    people = np.round(np.asarray(people, np.float64).reshape(-1, NUM_KEYPOINTS, 2), 2)
    known = ~np.isnan(people).any(-1)
    return [[f"person{k}", *([name, xy] for name, xy, ok in zip(KEYPOINT_NAMES, person.tolist(), known[k]) if ok)]
            for k, person in enumerate(people)]

