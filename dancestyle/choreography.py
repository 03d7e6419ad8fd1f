"""Choreography for the synthetic corpus: ten styles that differ only in time, danced by 3-D stick figures.

Every clip is built in two halves:
- a `Staging`, drawn from ONE distribution whatever the style: how many dancers (solo, couples, groups), how they
  hold each other, their proportions and free-arm positions, how big each movement is (stride, knee bend, sway,
  hip action, arm swing, turning speed, lean, how sharply moves are made), and the camera;
- a `Timing`, the style's: its tempo (the competition or teaching tempo, drifting within the clip), meter, step
  rhythm, and how the rise and fall, the sway, the hips, the arms and the turns are laid on the beats and bars.
Each movement is a periodic function of the music's beats with a shape shared by all styles, so over a clip every
style visits the same poses equally often: one frame, or a clip's frames in any order, says nothing about the
style (the controls in models.md check this). Only their order does: how fast the steps come, in what rhythm,
what moves with them and what turns on which count.

Tempos (bars per minute) are the WDSF competition rules' for the ballroom and Latin dances: waltz 28-30 (3/4),
tango 31-33, slow foxtrot 28-30, quickstep 50-52 (4/4); cha-cha 30-32, rumba 25-27 (4/4), samba 50-52 (2/4).
The others are teaching tempos, looser: lindy hop and East Coast swing 120-180 bpm; square dance 120-134 bpm
(callers' modern Western square dance range); flamenco's 12-count compás from about 100 (soleá por bulerías,
alegrías) to 200 bpm (bulerías); ballet class music 60-100 bpm (adagio, waltz); breaking's breakbeats 105-135 bpm.
Step rhythms follow the dances' basic figures as dance teaching describes them (see each row of TIMINGS).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from .errors import UsageError

FPS = 30
VERSION = 3  # bump when the motion programs change: a corpus made by another version is not resumed

# Body in units of its height. Body frame: x = the dancer's own left, y = up, z = the way they face.
HIP_W, SHOULDER_W, TORSO, UPPER_ARM, FOREARM, THIGH, SHIN = 0.09, 0.17, 0.30, 0.16, 0.15, 0.25, 0.25
HEAD = np.array([[0, .11, .05], [.025, .13, .04], [-.025, .13, .04], [.06, .12, -.01], [-.06, .12, -.01]])  # from neck


class Body:
    """One dancer: per-frame floor position, orientation and joint angles (radians), and their proportions.

    A limb segment's direction is (abduction a, flexion f): a=f=0 hangs straight down, a=pi/2 points out to the
    side, f=pi/2 points forward, f<0 backward. All zeros is someone standing with arms hanging.
    """

    def __init__(self, frames: int, proportions: np.ndarray | None = None) -> None:
        self.x, self.z = np.zeros(frames), np.zeros(frames)  # floor position; z grows away from the camera
        self.yaw, self.pitch, self.roll = np.zeros(frames), np.zeros(frames), np.zeros(frames)
        self.head, self.rise = np.zeros(frames), np.zeros(frames)  # head turn; lift off the floor (toes)
        self.hip_shift, self.hip_tilt = np.zeros(frames), np.zeros(frames)  # hip action
        self.arm = np.zeros((frames, 2, 2, 2))  # [frame, left/right, upper/lower segment, abduction/flexion]
        self.leg = np.zeros((frames, 2, 2, 2))
        self.proportions = np.ones(7) if proportions is None else proportions  # times the lengths above


def _limb(ua, uf, la, lf) -> np.ndarray:
    """(…, 2, 2) limb angles from upper and lower segment (abduction, flexion); scalars or per-frame arrays."""
    ua, uf, la, lf = np.broadcast_arrays(*(np.asarray(v, float) for v in (ua, uf, la, lf)))
    return np.stack([np.stack([ua, uf], -1), np.stack([la, lf], -1)], -2)


def _on_floor(x, z, yaw):
    """Body-frame (x, z) to floor (X, Z). yaw 0 faces the camera, so the dancer's left is the viewer's right."""
    return x * np.cos(yaw) + z * np.sin(yaw), x * np.sin(yaw) - z * np.cos(yaw)


def _rotate(points: np.ndarray, angle: np.ndarray, i: int, k: int) -> np.ndarray:
    c, s = np.cos(angle)[:, None], np.sin(angle)[:, None]
    out = points.copy()
    out[..., i], out[..., k] = c * points[..., i] - s * points[..., k], s * points[..., i] + c * points[..., k]
    return out


def _direction(angles: np.ndarray, side: float) -> np.ndarray:
    a, f = angles[..., 0], angles[..., 1]
    return np.stack([side * np.sin(a) * np.cos(f), -np.cos(a) * np.cos(f), np.sin(f)], -1)


def _joints(body: Body) -> np.ndarray:
    """Forward kinematics: (frames, 17, 3) floor coordinates (X right, Y up, Z away), lowest joint on the floor."""
    frames = len(body.x)
    hip_w, shoulder_w, torso, upper_arm, forearm, thigh, shin = body.proportions * (
        HIP_W, SHOULDER_W, TORSO, UPPER_ARM, FOREARM, THIGH, SHIN)
    joints = np.zeros((frames, 17, 3))
    head = np.broadcast_to(HEAD, (frames, 5, 3))
    joints[:, :5] = _rotate(head, body.head, 2, 0) + [0, torso, 0]
    for side, s in ((0, 1.0), (1, -1.0)):
        shoulder = np.array([s * shoulder_w, torso, 0])
        joints[:, 5 + side] = shoulder
        joints[:, 7 + side] = shoulder + upper_arm * _direction(body.arm[:, side, 0], s)
        joints[:, 9 + side] = joints[:, 7 + side] + forearm * _direction(body.arm[:, side, 1], s)
        hip = np.stack([body.hip_shift + s * hip_w * np.cos(body.hip_tilt), s * hip_w * np.sin(body.hip_tilt),
                        np.zeros(frames)], -1)
        joints[:, 11 + side] = hip
        joints[:, 13 + side] = hip + thigh * _direction(body.leg[:, side, 0], s)
        joints[:, 15 + side] = joints[:, 13 + side] + shin * _direction(body.leg[:, side, 1], s)
    joints = _rotate(_rotate(joints, body.pitch, 1, 2), body.roll, 0, 1)  # lean forward, tilt sideways
    x, z = _on_floor(joints[..., 0], joints[..., 2], body.yaw[:, None])
    y = joints[..., 1] - joints[..., 1].min(axis=1, keepdims=True) + body.rise[:, None]
    return np.stack([x + body.x[:, None], y, z + body.z[:, None]], -1)


# ---- what differs between styles: time -------------------------------------------------------------------------

class Timing(NamedTuple):
    """A style's timing. Periods are in beats; every movement's shape and size come from the Staging instead.
    Every period lies between about 0.3 and 5 s, so that any 10 s window holds two or more of each and its frames,
    shuffled, look alike whatever the style (a slower movement would show as a narrower spread of poses); for the
    same reason turns take at least half their bar and half the bars of a pattern (bursts leave a window's dancers
    facing one way)."""

    bpm: tuple[float, float]  # tempo range, beats per minute
    onsets: tuple[float, ...]  # step onsets (beats) within one cycle of the basic figure
    cycle: float  # beats in the basic figure
    fall: tuple[float, float]  # rise and fall: (period, beat at which the body is lowest)
    sway: float  # one sway to each side
    hips: float  # one hip swing out and back (0: one on every step, the Latin hip action)
    arms: float  # one arm gesture (port de bras, styling, a pull in the hold)
    turns: tuple[float, ...]  # turn per bar (relative size, sign = direction), repeating
    bar: float  # beats in a bar, over which each turn of `turns` is made
    turn_share: float  # share of its bar a turn takes, from the bar's start (1: turning all through it)


TIMINGS: dict[str, Timing] = {
    # 3/4; a step on every beat (1 2 3); down at the end of 1, rising through 2 and 3; sway bar by bar; turning all
    # the time: natural turn, natural turn, change step, reverse turn, reverse turn, change step.
    "waltz": Timing((84, 90), (0, 1, 2), 3, (3, 0), 6, 3, 6, (1, 1, 0, -1, -1, 0), 3, 1.0),
    # slow-quick-quick over a 4/4 bar (steps on 1, 3, 4); a gentle rise through the bar; mostly straight lines
    # (feather, three step) with a curve now and then over a whole bar.
    "foxtrot": Timing((112, 120), (0, 2, 3), 4, (4, 0), 8, 8, 8, (0, 1, 0, 0, -1, 0), 4, 1.0),
    # quick-time slow-quick-quick-slow (quarter turns, chassés: quick-and-quick), a bounce on every beat.
    "quickstep": Timing((200, 208), (0, 2, 3, 3.5, 4, 6), 8, (1, 0), 8, 4, 4, (1, 0, -1, 0), 4, 0.5),
    # slow, slow, quick, quick, slow over two bars; quarter turns made in the first half of a bar; no rise
    # through the bar: the knees give a little on each slow.
    "tango": Timing((124, 132), (0, 2, 4, 5, 6), 8, (2, 0), 8, 8, 4, (1, 0, -1, 0), 4, 0.5),
    # cha-cha: 2, 3, 4-and-1 (cha-cha-cha), one hip swing per step, the arms styled every two beats, New Yorks and
    # spot turns in the second half of a figure.
    "latin": Timing((120, 128), (0, 1, 2, 2.5, 3), 4, (1, 0.5), 4, 0, 2, (0, 1), 4, 0.5),
    # six-count basic, swung: rock step, triple step (3-a-4), triple step (5-a-6), "a" two thirds into the beat; a
    # pulse down on every beat; the follower turns under the arm in every other basic.
    "swing": Timing((120, 180), (0, 1, 2, 2 + 2 / 3, 3, 4, 4 + 2 / 3, 5), 6, (1, 0), 6, 2, 6, (0, 1), 6, 0.5),
    # a walking shuffle on every beat; calls of eight beats (circle left, circle right, promenade...) turn the ring
    # steadily; a light bounce per beat.
    "square": Timing((120, 134), (0,), 1, (1, 0.5), 8, 4, 8, (1, -1, 1, 1), 8, 1.0),
    # a 12-count compás accented on 3, 6, 8, 10, 12: steps (stamps) on the accents, the arms circle over six
    # counts, a vuelta (turn) in the second half of each half-compás.
    "flamenco": Timing((100, 200), (2, 5, 7, 9, 11), 12, (6, 2), 12, 6, 6, (0, 1), 6, 0.5),
    # class music in 3 or 4, slow: one step per two beats, port de bras over six beats, a turn every other bar.
    "ballet": Timing((60, 100), (0, 2), 4, (4, 0), 6, 4, 6, (0, 1, 0, 1), 4, 0.5),
    # toprock over breakbeats: syncopated steps (1, 2-and, 3, 4-and), bounce every beat, a quick turn every other bar, one way then the other.
    "break": Timing((105, 135), (0, 1.5, 2, 3.5), 4, (1, 0), 4, 2, 2, (0, 1, 0, -1), 4, 0.5),
}


# ---- what every style shares: the staging ----------------------------------------------------------------------

FORMATIONS = ((1,), (2,), (1, 1), (2, 2), (1, 1, 1), (2, 2, 2), (2, 2, 2, 2))  # solos (1) and couples (2)
FORMATION_ODDS = (0.22, 0.3, 0.1, 0.14, 0.08, 0.1, 0.06)
HOLDS = ("closed", "open", "apart")
# free-arm positions, shared by all styles: low, hands on hips, out to the side, raised and curved, guard, forward
FREE_ARMS = (_limb(0.2, 0.1, 0.3, 0.3), _limb(0.8, -0.4, -0.9, 0.3), _limb(1.4, 0.2, 1.6, 0.3),
             _limb(2.5, 0.3, 3.2, 0.3), _limb(0.6, 1.0, 0.2, 2.2), _limb(0.4, 1.3, 0.4, 1.4))
CLOSED_HOLD = (_limb(1.35, 0.25, 2.6, 0.5), _limb(0.75, 0.7, -0.5, 1.2), _limb(1.0, 0.6, -0.3, 0.9))  # held, on back, on shoulder
JOINED_HAND = _limb(0.45, 0.9, 0.3, 1.3)


class Staging(NamedTuple):
    """How big each movement is and who dances: drawn from one distribution for every style."""

    formation: tuple[int, ...]
    holds: tuple[str, ...]  # per unit
    stride: float  # leg swing of a step, radians
    lift: float  # knee lift while stepping
    fall: float  # knee bend at the lowest point of the rise and fall
    sway: float  # sideways tilt
    hips: float  # hip swing
    arms: float  # arm gesture
    turning: float  # revolutions per second on average
    lean: float  # forward lean
    sharpness: float  # 0: moves eased smoothly; 1: snapped into place, then held


def _staging(rng) -> Staging:
    formation = FORMATIONS[rng.choice(len(FORMATIONS), p=FORMATION_ODDS)]
    holds = tuple(str(rng.choice(HOLDS)) if size == 2 else "apart" for size in formation)
    return Staging(formation, holds, stride=rng.uniform(0.15, 0.55), lift=rng.uniform(0.1, 0.6),
                   fall=rng.uniform(0.1, 0.5), sway=rng.uniform(0, 0.2), hips=rng.uniform(0, 0.3),
                   arms=rng.uniform(0.1, 0.6), turning=rng.uniform(0.03, 0.25), lean=rng.uniform(-0.1, 0.25),
                   sharpness=rng.uniform(0, 1))


# ---- movement: one shape for every style, laid on the style's beats --------------------------------------------

def _ease(u: np.ndarray, sharpness: float) -> np.ndarray:
    """Progress through a move: smoothstep, done sooner the sharper (at 1: in the first quarter, then held)."""
    u = np.clip(u / (1 - 0.75 * sharpness), 0, 1)
    return u * u * (3 - 2 * u)


def _wave(beats: np.ndarray, period: float, lowest: float = 0.0) -> np.ndarray:
    """0 at `lowest` (beats) and every period after it, 1 half a period later: the shape every oscillation uses."""
    return 0.5 - 0.5 * np.cos(2 * np.pi * (beats - lowest) / period)


def _beats(rng, t: np.ndarray, timing: Timing) -> np.ndarray:
    """Beats elapsed at each frame: a tempo in the style's range (5 % either side for social dancing), drifting
    up to ±3 % within the clip, entering the routine at a random point."""
    low, high = timing.bpm
    bpm = rng.uniform(0.95 * low, 1.05 * high)
    drift = rng.uniform(-0.03, 0.03) * np.sin(2 * np.pi * t / rng.uniform(8, 20) + rng.uniform(0, 2 * np.pi))
    return np.cumsum(bpm / 60 * (1 + drift)) / FPS + rng.uniform(0, 64)


def _steps(beats: np.ndarray, onsets: tuple[float, ...], cycle: float):
    """Which step is under way (index) and how far through it (0..1), for steps at `onsets` beats of each cycle."""
    first = int(beats.min() // cycle) - 1
    repeats = int(beats.max() // cycle) - first + 2
    times = ((first + np.arange(repeats))[:, None] * cycle + np.asarray(onsets, float)).ravel()
    index = np.searchsorted(times, beats, side="right") - 1
    return index, (beats - times[index]) / (times[index + 1] - times[index])


def _step(body: Body, index, u, stage: Staging, kinds: np.ndarray, backward: bool) -> None:
    """Alternate steps: during step `index` one leg travels (forward, back or to the side, `kinds[index]`), knee
    lifting, while the other carries the body. A follower mirrors the leader: the other foot, the other way."""
    move = _ease(u, stage.sharpness)
    kind = kinds[index % len(kinds)]
    sign = np.where(kind == 1, -1.0, 1.0) * (-1 if backward else 1)
    swing = np.where(kind == 2, 0, sign * stage.stride * (2 * move - 1))
    out = np.where(kind == 2, stage.stride * np.sin(np.pi * move), 0)
    moving = (index + backward) % 2
    for side in (0, 1):
        active = moving == side
        knee = np.where(active, stage.lift * np.sin(np.pi * move), 0)
        body.leg[:, side, 0, 1] += np.where(active, swing, -swing) + knee
        body.leg[:, side, 1, 1] += np.where(active, swing, -swing) - knee
        body.leg[:, side, 0, 0] += np.where(active, out, 0)


def _turned(rng, beats: np.ndarray, timing: Timing, stage: Staging, bpm: float) -> np.ndarray:
    """Yaw from the style's repeating turns per bar, each made over the first `turn_share` of its bar, scaled so
    that the dancers turn `stage.turning` revolutions a second on average, whatever the style."""
    pattern = np.asarray(timing.turns, float)
    bars = beats / timing.bar
    index = np.floor(bars).astype(int)
    first = index.min()
    amounts = pattern[np.arange(first, index.max() + 1) % len(pattern)] / max(np.abs(pattern).mean(), 1e-9)
    before = np.concatenate([[0.0], np.cumsum(amounts)])[index - first]  # turns of the bars already danced
    within = np.clip((bars - index) / timing.turn_share, 0, 1)
    revolutions = stage.turning * 60 * timing.bar / bpm * (before + amounts[index - first] * within)
    return 2 * np.pi * revolutions * rng.choice([-1.0, 1.0])


def _arms(body: Body, hold: str, role: int, rng, gesture: np.ndarray, stage: Staging) -> None:
    """The hold decides the arms that are held (a partner's pull moves them a little); a free arm gestures around
    a position drawn for it from the same list in every style."""
    held = {"closed": (0, 1), "open": (role,), "apart": ()}[hold]
    for side in (0, 1):
        if side in held:
            pose = JOINED_HAND if hold == "open" else CLOSED_HOLD[((0, 1), (2, 0))[role][side]]
            body.arm[:, side] = pose + 0.15 * stage.arms * (gesture[:, None, None] - 0.5)
        else:
            base = FREE_ARMS[rng.integers(len(FREE_ARMS))]
            body.arm[:, side] = base + stage.arms * (gesture[:, None, None] - 0.5) * np.array([[1, 0.5], [1, 0.8]])


def _unit(rng, t: np.ndarray, timing: Timing, stage: Staging, size: int, hold: str, place: tuple[float, float],
          beats: np.ndarray, bpm: float) -> list[Body]:
    """One solo dancer or couple, dancing the style's timing with the staging's movements."""
    bodies = [Body(len(t), rng.normal(1, 0.04, 7)) for _ in range(size)]
    beats = beats + timing.cycle * int(rng.integers(0, 4))  # units are elsewhere in their routine
    index, u = _steps(beats, timing.onsets, timing.cycle)
    kinds = rng.choice(3, 64, p=[0.45, 0.3, 0.25])  # forward, back, side: a random figure, the same odds for all
    low = _wave(beats, *timing.fall)
    sway = np.sin(2 * np.pi * beats / timing.sway)
    # the same shape both ways: out and back over one step, or over the style's hip period
    hips = np.cos(np.pi * (index + u)) if timing.hips == 0 else 2 * _wave(beats, timing.hips) - 1
    gesture = _wave(beats, timing.arms, rng.uniform(0, timing.arms))
    yaw = rng.uniform(0, 2 * np.pi) + _turned(rng, beats, timing, stage, bpm)
    dx, dz = (0.25 * np.sin(2 * np.pi * t / p + q) for p, q in rng.uniform([6, 0], [14, 2 * np.pi], (2, 2)))
    gap = 0.34 if hold == "closed" else rng.uniform(0.5, 0.8)
    for role, body in enumerate(bodies):
        if size == 2:
            offset_x, offset_z = _on_floor(0.05 * (2 * role - 1), (2 * role - 1) * gap / 2, yaw)
            body.x += offset_x
            body.z += offset_z
            body.yaw += yaw + np.pi * role
        else:
            body.yaw += yaw
        body.x += place[0] + dx
        body.z += place[1] + dz
        _step(body, index, u, stage, kinds, backward=role == 1)
        body.leg[:, :, 0, 1] += stage.fall * (1 - low)[:, None]  # knees bend as the body lowers
        body.leg[:, :, 1, 1] -= stage.fall * (1 - low)[:, None]
        body.rise += 0.04 * stage.fall * low
        body.roll += stage.sway * sway
        body.pitch += stage.lean - (0.12 if size == 2 and role == 1 and hold == "closed" else 0)
        body.hip_shift += 0.2 * stage.hips * hips
        body.hip_tilt += stage.hips * hips
        body.head += rng.uniform(-0.8, 0.8)
        _arms(body, hold, role, rng, gesture, stage)
    return bodies


def _dancers(style: str, rng, t: np.ndarray) -> list[Body]:
    stage, timing = _staging(rng), TIMINGS[style]
    low, high = timing.bpm
    beats = _beats(rng, t, timing)
    bpm = 60 * (beats[-1] - beats[0]) / max(t[-1] - t[0], 1 / FPS) if len(t) > 1 else low
    bodies, units = [], len(stage.formation)
    for k, (size, hold) in enumerate(zip(stage.formation, stage.holds, strict=True)):
        place = ((k - (units - 1) / 2) * rng.uniform(0.9, 1.4), rng.uniform(-0.6, 0.6))
        bodies += _unit(rng, t, timing, stage, size, hold, place, beats, bpm)
    return bodies


STYLES: dict[str, Callable] = {style: (lambda rng, t, style=style: _dancers(style, rng, t)) for style in TIMINGS}


# ---- camera ---------------------------------------------------------------------------------------------------

class Performance(NamedTuple):
    points: np.ndarray  # (frames, people, 17, 2) pixel (x, y), origin top-left; may lie outside the frame
    depth: np.ndarray  # (frames, people) distance from the camera, for drawing order and occlusion
    scale: np.ndarray  # (frames, people) pixels per body height
    pan: np.ndarray  # (frames, 2) camera drift in pixels, for the background


def check_styles(styles: list[str]) -> None:
    unknown = [style for style in styles if style not in STYLES]
    if unknown or not styles:
        raise UsageError(f"No motion program for {', '.join(map(repr, unknown)) or 'an empty list of classes'}.",
                         f"Choose from: {', '.join(STYLES)}.")


def _camera_motion(rng, t: np.ndarray, margins: tuple[float, float], scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Zoom (frames,) and pan (frames, 2): a slow zoom, a drift or pan that mostly keeps the dancers in view, and
    hand-held shake now and then. The same for every style."""
    zoom = 1 + rng.uniform(0, 0.1) * np.sin(2 * np.pi * t / rng.uniform(5, 15) + rng.uniform(0, 2 * np.pi))
    pan = np.zeros((len(t), 2))
    shake = rng.uniform(0, 0.01) * scale if rng.random() < 0.3 else 0.0
    for axis, margin in enumerate(margins):
        base = rng.uniform(-0.6, 0.6) * margin
        swing = (abs(margin) - abs(base)) * rng.uniform(0, 0.9)
        pan[:, axis] = base + swing * np.sin(2 * np.pi * t / rng.uniform(4, 12) + rng.uniform(0, 2 * np.pi))
        pan[:, axis] += shake * np.cumsum(rng.normal(0, 1, len(t))) / np.sqrt(max(len(t), 1))
    return zoom, pan


def perform(style: str, rng, frames: int, size: tuple[int, int], fps: float) -> Performance:
    check_styles([style])
    if frames < 1:
        raise UsageError(f"A clip needs at least one frame, not {frames}.")
    t = np.arange(frames) / fps
    world = np.stack([_joints(body) for body in STYLES[style](rng, t)], axis=1)  # (frames, people, 17, 3)
    world[..., 2] -= world[..., 2].min()
    elevation = rng.uniform(0.1, 0.6)  # the camera looks down
    depth = 1 / (1 + rng.uniform(0.03, 0.15) * world[..., 2])  # farther is smaller
    u, v = depth * world[..., 0], -depth * (world[..., 1] + elevation * world[..., 2])
    width, height = size
    fill = rng.uniform(0.5, 1.05)  # the whole clip's dancing fits in this fraction of the frame (or overflows it)
    scale = fill * min(width / max(np.ptp(u), 1e-6), height / max(np.ptp(v), 1e-6))
    zoom, pan = _camera_motion(rng, t, ((1 - fill) * width / 2, (1 - fill) * height / 2), scale)
    scale /= zoom.max() if fill < 1 else 1
    middle = ((u.max() + u.min()) / 2, (v.max() + v.min()) / 2)
    points = np.stack([width / 2 + scale * zoom[:, None, None] * (u - middle[0]) + pan[:, None, None, 0],
                       height / 2 + scale * zoom[:, None, None] * (v - middle[1]) + pan[:, None, None, 1]], -1)
    return Performance(points.astype(np.float32), world[..., 2].mean(-1), scale * zoom[:, None] * depth.mean(-1), pan)


def dance_skeletons(style: str, rng: np.random.Generator, frames: int = 300, size: tuple[int, int] = (160, 120),
                    fps: float = FPS) -> np.ndarray:
    """One clip of `style` danced by procedural stick figures: (frames, people, 17, 2) pixel (x, y) in COCO order,
    exact (no detector noise; posenoise.py adds it), possibly outside the frame.

    People keep their order over the clip (the written corpus orders them per frame, like a detector).
    """
    return perform(style, rng, frames, size, fps).points
