"""Choreography for the synthetic corpus: one motion program per dance style, danced by 3-D stick figures.

Each program turns time into joint angles for one or more dancers (forward kinematics in `Body` units of body
height), a drifting camera projects them, and `dance_skeletons` returns the 2-D keypoints in COCO order.

The pose stream normalises each skeleton by its own box, so position and size carry nothing: a style must show in
the skeleton's shape and in how that shape changes. Some styles share their static poses on purpose: waltz,
foxtrot, quickstep and tango all dance in the same closed hold (`_closed_hold`) and differ only in how they move —
tempo, meter, step rhythm, rise and fall, bounce, turning — which are the confusions the paper reports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from .errors import UsageError

FPS = 30
VERSION = 2  # bump when the motion programs change: a corpus made by another version is not resumed

# Body in units of its height. Body frame: x = the dancer's own left, y = up, z = the way they face.
HIP_W, SHOULDER_W, TORSO, UPPER_ARM, FOREARM, THIGH, SHIN = 0.09, 0.17, 0.30, 0.16, 0.15, 0.25, 0.25
HEAD = np.array([[0, .11, .05], [.025, .13, .04], [-.025, .13, .04], [.06, .12, -.01], [-.06, .12, -.01]])  # from neck


class Body:
    """One dancer's program: per-frame floor position, orientation and joint angles (radians).

    A limb segment's direction is (abduction a, flexion f): a=f=0 hangs straight down, a=pi/2 points out to the
    side, f=pi/2 points forward, f<0 backward. All zeros is someone standing with arms hanging.
    """

    def __init__(self, frames: int) -> None:
        self.x, self.z = np.zeros(frames), np.zeros(frames)  # floor position; z grows away from the camera
        self.yaw, self.pitch, self.roll = np.zeros(frames), np.zeros(frames), np.zeros(frames)  # roll=pi: inverted
        self.head, self.rise = np.zeros(frames), np.zeros(frames)  # head turn; lift off the floor (toes, leaps)
        self.hip_shift, self.hip_tilt = np.zeros(frames), np.zeros(frames)  # Latin hip action
        self.arm = np.zeros((frames, 2, 2, 2))  # [frame, left/right, upper/lower segment, abduction/flexion]
        self.leg = np.zeros((frames, 2, 2, 2))


def _limb(ua, uf, la, lf) -> np.ndarray:
    """(…, 2, 2) limb angles from upper and lower segment (abduction, flexion); scalars or per-frame arrays."""
    ua, uf, la, lf = np.broadcast_arrays(*(np.asarray(v, float) for v in (ua, uf, la, lf)))
    return np.stack([np.stack([ua, uf], -1), np.stack([la, lf], -1)], -2)


def _blend(start: np.ndarray, end: np.ndarray, amount: np.ndarray) -> np.ndarray:
    return start + np.asarray(amount)[..., None, None] * (end - start)


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
    joints = np.zeros((frames, 17, 3))
    head = np.broadcast_to(HEAD, (frames, 5, 3))
    joints[:, :5] = _rotate(head, body.head, 2, 0) + [0, TORSO, 0]
    for side, s in ((0, 1.0), (1, -1.0)):
        shoulder = np.array([s * SHOULDER_W, TORSO, 0])
        joints[:, 5 + side] = shoulder
        joints[:, 7 + side] = shoulder + UPPER_ARM * _direction(body.arm[:, side, 0], s)
        joints[:, 9 + side] = joints[:, 7 + side] + FOREARM * _direction(body.arm[:, side, 1], s)
        hip = np.stack([body.hip_shift + s * HIP_W * np.cos(body.hip_tilt), s * HIP_W * np.sin(body.hip_tilt),
                        np.zeros(frames)], -1)
        joints[:, 11 + side] = hip
        joints[:, 13 + side] = hip + THIGH * _direction(body.leg[:, side, 0], s)
        joints[:, 15 + side] = joints[:, 13 + side] + SHIN * _direction(body.leg[:, side, 1], s)
    joints = _rotate(_rotate(joints, body.pitch, 1, 2), body.roll, 0, 1)  # lean forward, tilt sideways
    x, z = _on_floor(joints[..., 0], joints[..., 2], body.yaw[:, None])
    y = joints[..., 1] - joints[..., 1].min(axis=1, keepdims=True) + body.rise[:, None]
    return np.stack([x + body.x[:, None], y, z + body.z[:, None]], -1)


# ---- rhythm and movement primitives -----------------------------------------------------------------------------

def _smooth(u):
    return u * u * (3 - 2 * u)


def _sharp(u):
    """Staccato: the move is over in the first quarter of its time, then held."""
    return _smooth(np.clip(u / 0.25, 0, 1))


def _tempo(rng, t: np.ndarray, bpm: float, cycle: float) -> np.ndarray:
    """Beats elapsed at each frame: the style's tempo ±15 %, entering the routine at a random point."""
    return bpm * rng.uniform(0.85, 1.15) / 60 * t + cycle * rng.integers(0, 8) + rng.uniform(0, cycle)


def _steps(beats: np.ndarray, onsets: Iterable[float], cycle: float):
    """Which step is under way (index) and how far through it (0..1), for steps at `onsets` beats of each cycle."""
    repeats = int(beats.max() // cycle) + 2
    times = (np.arange(repeats)[:, None] * cycle + np.asarray(tuple(onsets), float)).ravel()
    index = np.searchsorted(times, beats, side="right") - 1
    return index, (beats - times[index]) / (times[index + 1] - times[index])


def _walk(body: Body, index, u, stride: float, lift: float = 0.25, ease=_smooth, backward: bool = False) -> None:
    """Alternate steps: during step `index` one leg swings from behind to in front, knee lifting, while the other
    carries the body over it. A follower walking backward moves the other foot, the other way."""
    swing = stride * (2 * ease(u) - 1) * (-1 if backward else 1)
    moving = (index + backward) % 2
    for side in (0, 1):
        active = moving == side
        knee = np.where(active, lift * np.sin(np.pi * u), 0)
        body.leg[:, side, 0, 1] += np.where(active, swing, -swing) + knee
        body.leg[:, side, 1, 1] += np.where(active, swing, -swing) - knee


def _bend(body: Body, knees) -> None:
    """Bend both knees (lowering the body): thighs forward, shins back."""
    body.leg[:, :, 0, 1] += np.asarray(knees)[..., None]
    body.leg[:, :, 1, 1] -= np.asarray(knees)[..., None]


def _turning(bars: np.ndarray, turns: Iterable[float], ease=lambda u: u) -> np.ndarray:
    """Yaw from a repeating list of turns (revolutions) per bar, each made within its bar."""
    index = np.floor(bars).astype(int)
    per_bar = np.asarray(tuple(turns), float)[np.arange(index.max() + 2) % len(tuple(turns))]
    done = np.concatenate([[0.0], np.cumsum(per_bar)])
    return 2 * np.pi * (done[index] + per_bar[index] * ease(bars - index))


def _soften(values: np.ndarray, width: int = 5) -> np.ndarray:
    """Moving average over frames, so that switching between moves takes a few frames."""
    padded = np.pad(values, [(width // 2, width // 2)] + [(0, 0)] * (values.ndim - 1), mode="edge")
    total = np.concatenate([np.zeros_like(padded[:1]), np.cumsum(padded, axis=0)])
    return (total[width:] - total[:-width]) / width


def _pair(a: Body, b: Body, x, z, yaw, gap: float, offset: float = 0.05) -> None:
    """Two dancers facing each other `gap` apart around (x, z), the pair turned by `yaw`; each slightly to the
    other's right."""
    for body, s in ((a, -1), (b, 1)):
        dx, dz = _on_floor(-s * offset, s * gap / 2, yaw)
        body.x += x + dx
        body.z += z + dz
        body.yaw += yaw + (np.pi if s > 0 else 0)


def _wander(rng, t, spread: float = 0.3):
    """A slow drift across the floor."""
    period, phase = rng.uniform(6, 14), rng.uniform(0, 2 * np.pi)
    return spread * np.sin(2 * np.pi * t / period + phase), 0.5 * spread * np.cos(2 * np.pi * t / period + phase)


# ---- the motion programs ----------------------------------------------------------------------------------------

def _closed_hold(leader: Body, follower: Body) -> None:
    """The ballroom closed hold, identical in waltz, foxtrot, quickstep and tango — their static pose is shared:
    leader's left hand holds the follower's right at eye height, his right hand on her back, her left on his
    shoulder, both heads turned to their left, the follower leaning back a little."""
    leader.arm[:, 0] = follower.arm[:, 1] = _limb(1.35, 0.25, 2.6, 0.5)
    leader.arm[:, 1] = _limb(0.75, 0.7, -0.5, 1.2)
    follower.arm[:, 0] = _limb(1.0, 0.6, -0.3, 0.9)
    leader.head += 0.3
    follower.head += 0.8
    follower.pitch -= 0.12


def _ballroom(rng, t, bpm, meter, onsets, cycle, stride, fall, turns, sway, bounce=0.0, knee=0.0, lift=0.25,
              ease=_smooth, pause=0.0) -> list[Body]:
    """1-3 couples in closed hold. The ballroom styles differ only in these arguments: tempo and meter, the step
    rhythm (onsets within a cycle of beats), how deep the knees fall each bar (rise and fall), a bounce on every
    beat, the turn per bar, sway, and (tango) staccato easing and frozen pauses."""
    beats = _tempo(rng, t, bpm, cycle)
    still = np.zeros(len(t), bool)
    if pause:  # the music goes on; the couple freezes for `pause` beats after every cycle
        period = cycle + pause
        still = beats % period >= cycle
        beats = cycle * np.floor(beats / period) + np.minimum(beats % period, cycle)
    bars = beats / meter
    rise = np.sin(np.pi * (bars % 1) ** 1.3) ** 2  # down on the first beat, highest between the 2nd and 3rd
    direction, couples, bodies = rng.choice([-1.0, 1.0]), int(rng.integers(1, 4)), []
    for c in range(couples):
        leader, follower = Body(len(t)), Body(len(t))
        _closed_hold(leader, follower)
        lag = meter * int(rng.integers(0, 4)) if c else 0  # other couples are elsewhere in their routine
        yaw = rng.uniform(0, 2 * np.pi) + direction * _turning((beats + lag) / meter, turns, ease)
        dx, dz = _wander(rng, t)
        _pair(leader, follower, (c - (couples - 1) / 2) * 1.1 + dx, rng.uniform(-0.6, 0.6) + dz, yaw, gap=0.34)
        index, u = _steps(beats + lag, onsets, cycle)
        side_to_side = np.where(np.floor(bars) % 2, -1.0, 1.0)
        for body, backward in ((leader, False), (follower, True)):
            _walk(body, index, u, stride, lift=lift, ease=ease, backward=backward)
            _bend(body, knee + fall * (1 - rise) + bounce * (0.5 + 0.5 * np.cos(2 * np.pi * beats)))
            body.rise += 0.2 * fall * rise  # heels lift with the rise
            body.roll += sway * rise * side_to_side
        leader.head -= np.where(still, 0.6, 0)  # tango: heads snap to the other side in the freezes
        follower.head -= np.where(still, 1.4, 0)
        bodies += [leader, follower]
    return bodies


def _waltz(rng, t):
    # 3/4 at ~90 bpm: one step on every beat (1 2 3), the deepest rise and fall of all (down on 1, up onto the toes
    # on 2 and 3) with strong sway, side to side bar by bar, and continuous rotation: two bars of natural turns
    # (3/8 turn a bar), a change step, reverse turns.
    return _ballroom(rng, t, 90, 3, (0, 1, 2), 3, stride=0.45, fall=0.5, turns=(3 / 8, 3 / 8, 0, -3 / 8, -3 / 8, 0),
                     sway=0.25)


def _foxtrot(rng, t):
    # Slow foxtrot, 4/4 at ~120 bpm: slow-quick-quick (steps on beats 1, 3, 4), the longest strides, gliding low
    # (feet barely lifted), tall with only a gentle rise and fall, mostly travelling straight (feather, three step)
    # with an occasional gentle turn.
    return _ballroom(rng, t, 120, 4, (0, 2, 3), 4, stride=0.55, fall=0.12, turns=(0, 1 / 8, 0, -1 / 8), sway=0.08,
                     lift=0.1)


def _quickstep(rng, t):
    # 4/4 at ~200 bpm: the foxtrot's slow-quick-quick pattern but fast, short steps with high knees (runs, skips,
    # lock steps), a hop on every beat on top of rise and fall each bar, and quarter turns.
    return _ballroom(rng, t, 200, 4, (0, 2, 3), 4, stride=0.3, fall=0.2, turns=(1 / 4, 0, -1 / 4, 0), sway=0.04,
                     bounce=0.2, lift=0.7)


def _tango(rng, t):
    # 4/4 at ~128 bpm: slow, slow, quick, quick, slow over two bars; no rise and fall but the lowest stance (knees
    # always well flexed, feet kept low); every move staccato — snapped into place then held — with sharp quarter
    # turns, and a two-beat freeze after every figure in which the heads snap round.
    return _ballroom(rng, t, 128, 4, (0, 2, 4, 5, 6), 8, stride=0.35, fall=0.0, turns=(1 / 4, 0, -1 / 4, 0, 0),
                     sway=0.0, knee=0.6, lift=0.15, ease=_sharp, pause=2.0)


def _swing(rng, t):
    # Swing/lindy, ~160 bpm: 6-beat basic (rock step, triple step, triple step) in open position holding one hand,
    # leaning forward, a bounce down on every beat, partners pulling apart and back; every other basic the follower
    # spins under the raised arm, and kicks.
    beats, bodies = _tempo(rng, t, 160, 6), []
    basic, count = beats / 6, beats % 6
    turning = np.floor(basic) % 2 == 1
    spin = np.where(turning, _smooth(np.clip((count - 2) / 2, 0, 1)), 0)
    for c in range(int(rng.integers(1, 3))):
        leader, follower = Body(len(t)), Body(len(t))
        dx, dz = _wander(rng, t)
        _pair(leader, follower, c * 1.4 + dx, rng.uniform(-0.5, 0.5) + dz, rng.uniform(-1.2, 1.2),
              gap=0.6 + 0.15 * np.cos(2 * np.pi * basic))
        follower.yaw += 2 * np.pi * spin
        index, u = _steps(beats, (0, 1, 2, 2.5, 3, 4, 4.5, 5), 6)
        kick = 0.9 * np.exp(-(((count - 5.3) / 0.25) ** 2)) * turning
        for body, hand, backward in ((leader, 0, False), (follower, 1, True)):
            _walk(body, index, u, 0.25, lift=0.35, ease=_sharp, backward=backward)
            _bend(body, 0.15 + 0.2 * (0.5 + 0.5 * np.cos(2 * np.pi * beats)))
            body.leg[:, 1 - hand, 0, 1] += kick
            body.pitch += 0.2
            held = _blend(_limb(0.45, 0.9, 0.3, 1.3), _limb(0.6, 1.2, 0.2, 2.9), np.sin(np.pi * spin))
            body.arm[:, hand] = held
            body.arm[:, 1 - hand] = _limb(1.2 + 0.5 * np.sin(np.pi * beats / 2), 0.2, 1.5, 0.8)
        bodies += [leader, follower]
    return bodies


def _latin(rng, t):
    # Cha-cha/rumba, ~124 bpm 4/4: steps on 2, 3, 4-and-1 (a chassé), small steps, Cuban hip action — the hips
    # swing out over the standing leg and tilt on every step while the shoulders stay level — open hold by one
    # hand, the free arm extended and styled, and every other bar a New York: both open out side by side.
    beats, bodies = _tempo(rng, t, 124, 8), []
    index, u = _steps(beats, (0, 1, 2, 2.5, 3), 4)
    hips = np.cos(np.pi * (index + _smooth(u)))
    opened = np.sin(np.pi * np.clip((beats % 8 - 4) / 4, 0, 1)) ** 2
    for c in range(int(rng.integers(1, 3))):
        leader, follower = Body(len(t)), Body(len(t))
        dx, dz = _wander(rng, t, 0.2)
        _pair(leader, follower, c * 1.4 + dx, rng.uniform(-0.5, 0.5) + dz, rng.uniform(-0.6, 0.6), gap=0.7)
        for body, hand, backward, out in ((leader, 0, False, 1), (follower, 1, True, -1)):
            _walk(body, index, u, 0.2, lift=0.4, ease=_sharp, backward=backward)
            body.hip_shift += 0.06 * hips
            body.hip_tilt += 0.25 * hips
            body.yaw += out * np.pi / 2 * opened
            body.arm[:, hand] = _limb(0.5, 0.9, 0.4, 1.2)
            body.arm[:, 1 - hand] = _limb(1.5 + 0.25 * np.sin(np.pi * beats / 2), 0.3, 1.7, 0.2 + 0.3 * opened)
        bodies += [leader, follower]
    return bodies


def _flamenco(rng, t):
    # 12-beat compás, ~150 bpm, accents on 3, 6, 8, 10, 12. Upright, back arched. Marking compases: arms raised
    # and curved overhead, slowly circling (braceo), a stamp on each accent, a quick turn (vuelta) to close;
    # zapateado compases: fast alternating stamps (two a beat: knee up, foot slammed down), hands on the hips.
    beats, bodies = _tempo(rng, t, 150, 12), []
    count, zapateado = beats % 12, np.floor(beats / 12) % 2 == 1
    accent = sum(np.exp(-(((count - a) / 0.15) ** 2)) for a in (2, 5, 7, 9, 11))
    fast = np.sin(np.pi * (2 * beats % 1)) ** 2
    vuelta = np.where(zapateado, 0, _smooth(np.clip((count - 10) / 1.5, 0, 1)))
    for d in range(dancers := int(rng.integers(1, 4))):
        body = Body(len(t))
        body.x += (d - (dancers - 1) / 2) * 0.8
        body.z += rng.uniform(-0.3, 0.3)
        body.yaw += rng.uniform(-0.5, 0.5) + 2 * np.pi * vuelta
        body.pitch -= 0.15
        _bend(body, 0.1)
        for side in (0, 1):
            foot = np.where(zapateado, fast * (np.floor(2 * beats) % 2 == side), accent * (np.round(count) % 2 == side))
            body.leg[:, side, 0, 1] += 0.8 * foot
            body.leg[:, side, 1, 1] -= 0.7 * foot
            circle = 2 * np.pi * beats / 6 + side * np.pi
            raised = _limb(2.4 + 0.25 * np.sin(circle), 0.3 * np.cos(circle), 3.3 + 0.3 * np.sin(circle), 0.3)
            body.arm[:, side] = np.where(zapateado[:, None, None], _limb(0.8, -0.4, -0.9, 0.3), raised)
        bodies.append(body)
    return bodies


def _ballet(rng, t):
    # Adagio, ~72 bpm in 3 or 4, one figure every two bars: arabesque, développé, pirouette, port de bras, grand
    # jeté; each figure eases in, holds, eases out, on pointe (risen) throughout; a corps of up to four in unison.
    meter = int(rng.choice([3, 4]))
    beats = _tempo(rng, t, 72, 2 * meter)
    phrase, u = np.floor(beats / (2 * meter)).astype(int), beats / (2 * meter) % 1
    figure = rng.integers(0, 5, phrase.max() + 1)[phrase]
    working = rng.integers(0, 2, phrase.max() + 1)[phrase]
    hold = _smooth(np.clip(3 * u, 0, 1)) * _smooth(np.clip(3 * (1 - u), 0, 1))
    leap = np.sin(np.pi * np.clip((2 * u % 1 - 0.3) / 0.4, 0, 1)) * (figure == 4)
    rest_arm, rest_leg = _limb(1.0, 0.3, 0.8, 0.5), _limb(-0.05, 0, -0.05, 0)
    targets = {  # figure: (working leg, other leg, arm on the working side, other arm)
        0: (_limb(0.1, -1.5, 0.1, -1.6), rest_leg, _limb(1.5, 0.1, 1.6, 0.2), _limb(0.1, 1.7, 0.1, 1.9)),
        1: (_limb(1.3, 0.4, 1.3, 0.4), rest_leg, _limb(1.5, 0.1, 1.6, 0.2), _limb(1.5, 0.1, 1.6, 0.2)),
        2: (_limb(0.9, 0.6, -0.6, -0.2), rest_leg, _limb(0.8, 1.2, -0.7, 1.4), _limb(0.8, 1.2, -0.7, 1.4)),
        3: (rest_leg, rest_leg, _limb(2.7, 0.3, 3.4, 0.4), _limb(2.7, 0.3, 3.4, 0.4)),
        4: (_limb(0, 1.4, 0, 1.4), _limb(0, -1.3, 0, -1.3), _limb(2.6, 0.2, 2.8, 0.3), _limb(1.5, 0.1, 1.5, 0.1)),
    }
    frame, amount, bodies = np.arange(len(t)), np.where(figure == 4, leap, hold), []
    for d in range(dancers := int(rng.integers(1, 5))):
        body = Body(len(t))
        body.x += (d - (dancers - 1) / 2) * 0.7
        body.z += rng.uniform(-0.4, 0.4)
        turns = int(rng.integers(1, 3)) * (figure == 2) * _smooth(np.clip((u - 0.35) / 0.3, 0, 1))
        body.yaw += rng.uniform(-0.4, 0.4) + 2 * np.pi * turns
        body.rise += 0.05 + 0.3 * leap
        body.pitch += 0.4 * hold * (figure == 0) - 0.1 * hold * (figure == 3)
        for side in (0, 1):
            mine = (working == side)[:, None, None]
            legs = np.stack([np.where(mine, leg, other) for leg, other, _, _ in targets.values()])[figure, frame]
            arms = np.stack([np.where(mine, arm, other) for _, _, arm, other in targets.values()])[figure, frame]
            body.leg[:, side], body.arm[:, side] = _blend(rest_leg, legs, amount), _blend(rest_arm, arms, amount)
        bodies.append(body)
    return bodies


def _break(rng, t):
    # Breaking, ~110 bpm, one move a bar: toprock (upright, crossing steps on each beat, boxer arms, bounce),
    # downrock (low to the floor on the hands, legs circling), freezes (upside down, held), power moves (inverted,
    # spinning fast, legs in a V); starts standing. Onlookers of the cypher stand by, nodding to the beat.
    beats = _tempo(rng, t, 110, 4)
    bar = np.floor(beats / 4).astype(int)
    move = np.concatenate([[0], rng.choice(4, bar.max() + 1, p=[0.3, 0.3, 0.2, 0.2])])[bar]
    dancer = Body(len(t))
    index, u = _steps(beats, (0,), 1)
    cross = np.sin(np.pi * u) * (move == 0)
    sweep = 2 * np.pi * beats / 4
    spin = np.cumsum(np.where(move == 3, 2 * np.pi * 1.8 / FPS, 0))
    for side, s in ((0, 1), (1, -1)):
        stepping = (index % 2 == side) * cross
        poses = [
            (_limb(-0.35 * stepping, 0.5 * stepping + 0.2, 0, -0.2), _limb(0.7, s * np.sin(np.pi * beats), 0.7, 1.6)),
            (_limb(0.9 * np.sin(sweep + side * np.pi), 1.3 + 0.5 * np.cos(sweep), 0.5, -0.3),
             _limb(0.25, 1.3, 0.25, 1.3)),
            (_limb(0.7 - 0.3 * side, 0.4 - 0.6 * side, 0.9, -0.8 + 0.6 * side), _limb(2.9, 0.2, 3.0, 0.3)),
            (_limb(0.8, 0, 0.8, 0), _limb(0.4, 0.5, -0.5, 1.8)),
        ]
        for k, (leg, arm) in enumerate(poses):
            chosen = move == k
            dancer.leg[:, side] += np.where(chosen[:, None, None], leg, 0)
            dancer.arm[:, side] += np.where(chosen[:, None, None], arm, 0)
    _bend(dancer, np.where(move == 0, 0.1 + 0.15 * (0.5 + 0.5 * np.cos(2 * np.pi * beats)), 0))
    dancer.pitch += np.select([move == 0, move == 1, move == 2], [0.15, 1.3, 0.3], 0.0)
    dancer.roll += np.select([move == 2, move == 3], [0.85 * np.pi, np.pi], 0.0)
    dancer.yaw += rng.uniform(-0.5, 0.5) + spin
    for name in ("pitch", "roll", "arm", "leg"):  # moves flow into each other over a few frames
        setattr(dancer, name, _soften(getattr(dancer, name)))
    bodies = [dancer]
    for _ in range(int(rng.integers(0, 3))):
        onlooker, side = Body(len(t)), rng.choice([-1.0, 1.0])
        onlooker.x += side * rng.uniform(1.0, 1.6)
        onlooker.z += rng.uniform(0.3, 1.2)
        onlooker.yaw += side * rng.uniform(0.6, 1.2)
        onlooker.arm[:] = _limb(0.3, 0.7, -1.2, 1.2) if rng.random() < 0.5 else _limb(0.15, 0, 0.1, 0.2)
        _bend(onlooker, 0.04 * (1 + np.cos(2 * np.pi * beats)))
        bodies.append(onlooker)
    return bodies


def _square(rng, t):
    # Square dance, ~124 bpm: four couples on the sides of a square, a walking step on every beat with a light
    # bounce; 8-beat calls in random order — circle left, circle right, forward and back, promenade, swing your
    # partner (in a closed hold, spinning).
    beats = _tempo(rng, t, 124, 8)
    call, u = np.floor(beats / 8).astype(int), beats / 8 % 1
    calls = rng.integers(0, 5, call.max() + 2)
    ring = np.array([1 / 4, -1 / 4, 0, 1 / 4, 0])[calls]  # turn of the whole ring per call
    turned = 2 * np.pi * (np.concatenate([[0], np.cumsum(ring)])[call] + ring[call] * u)
    now = calls[call]
    radius = 1.1 - 0.45 * np.sin(np.pi * u) * (now == 2)
    index, step_u = _steps(beats, (0,), 1)
    raised = 0.7 + 1.6 * np.sin(np.pi * u)  # forward and back: hands go up as the ring closes
    arms = np.select([(now == k)[:, None, None] for k in (2, 3, 4)],  # else hands joined round the ring
                     [_limb(raised, 0.3, raised + 0.1, 0.3), _limb(0.4, 1.0, 0.3, 1.3), _limb(1.35, 0.25, 2.6, 0.5)],
                     _limb(0.7, 0.1, 0.8, 0.1))
    bodies = []
    for d in range(8):
        body, partner = Body(len(t)), d % 2
        angle = 2 * np.pi * d / 8 + np.pi / 8 + turned
        spin = 4 * np.pi * u + np.pi * partner  # swing your partner: the two orbit their couple's centre
        centre = angle + (np.pi / 8 if partner == 0 else -np.pi / 8) * (now == 4)
        body.x += radius * np.cos(centre) + 0.22 * np.cos(spin) * (now == 4)
        body.z += radius * np.sin(centre) + 0.22 * np.sin(spin) * (now == 4)
        # at floor angle a, yaw a - pi/2 faces the ring's centre (or the partner's); promenade faces along the ring
        body.yaw += np.where(now == 4, spin, centre - np.pi / 2 * (now == 3)) - np.pi / 2
        _walk(body, index, step_u, 0.3)
        _bend(body, 0.08 * (1 + np.cos(2 * np.pi * beats)))
        body.arm[:] = arms[:, None]
        bodies.append(body)
    return bodies


STYLES: dict[str, Callable] = {
    "ballet": _ballet, "break": _break, "flamenco": _flamenco, "foxtrot": _foxtrot, "latin": _latin,
    "quickstep": _quickstep, "square": _square, "swing": _swing, "tango": _tango, "waltz": _waltz,
}


# ---- camera ---------------------------------------------------------------------------------------------------

class Performance(NamedTuple):
    points: np.ndarray  # (frames, people, 17, 2) pixel (x, y), origin top-left
    depth: np.ndarray  # (frames, people) distance from the camera, for drawing order
    scale: np.ndarray  # (frames, people) pixels per body height
    pan: np.ndarray  # (frames, 2) camera drift in pixels, for the background


def check_styles(styles: list[str]) -> None:
    unknown = [style for style in styles if style not in STYLES]
    if unknown or not styles:
        raise UsageError(f"No motion program for {', '.join(map(repr, unknown)) or 'an empty list of classes'}.",
                         f"Choose from: {', '.join(STYLES)}.")


def perform(style: str, rng, frames: int, size: tuple[int, int], fps: float) -> Performance:
    check_styles([style])
    if frames < 1:
        raise UsageError(f"A clip needs at least one frame, not {frames}.")
    t = np.arange(frames) / fps
    world = np.stack([_joints(body) for body in STYLES[style](rng, t)], axis=1)  # (frames, people, 17, 3)
    elevation = rng.uniform(0.35, 0.7) if style == "square" else rng.uniform(0.1, 0.4)  # camera looks down
    depth = 1 / (1 + rng.uniform(0.03, 0.12) * world[..., 2])  # farther is smaller
    u, v = depth * world[..., 0], -depth * (world[..., 1] + elevation * world[..., 2])
    width, height = size
    zoom = 1 + rng.uniform(0, 0.05) * np.sin(2 * np.pi * t / rng.uniform(5, 15) + rng.uniform(0, 2 * np.pi))
    fill = rng.uniform(0.5, 0.85)  # the whole clip's dancing fits in this fraction of the frame
    scale = fill / zoom.max() * min(width / max(np.ptp(u), 1e-6), height / max(np.ptp(v), 1e-6))
    margins = ((1 - fill) * width / 2, (1 - fill) * height / 2)
    pan = np.zeros((frames, 2))
    for axis, margin in enumerate(margins):  # the camera drifts, never losing the dancers
        base = rng.uniform(-0.6, 0.6) * margin
        swing = (margin - abs(base)) * rng.uniform(0, 0.9)
        pan[:, axis] = base + swing * np.sin(2 * np.pi * t / rng.uniform(4, 12) + rng.uniform(0, 2 * np.pi))
    middle = ((u.max() + u.min()) / 2, (v.max() + v.min()) / 2)
    points = np.stack([width / 2 + scale * zoom[:, None, None] * (u - middle[0]) + pan[:, None, None, 0],
                       height / 2 + scale * zoom[:, None, None] * (v - middle[1]) + pan[:, None, None, 1]], -1)
    points += rng.normal(0, 0.006 * scale, points.shape)  # detector noise
    points = np.clip(points, 0, [width - 1, height - 1]).astype(np.float32)
    return Performance(points, world[..., 2].mean(-1), scale * zoom[:, None] * depth.mean(-1), pan)


def dance_skeletons(style: str, rng: np.random.Generator, frames: int = 300, size: tuple[int, int] = (160, 120),
                    fps: float = FPS) -> np.ndarray:
    """One clip of `style` danced by procedural stick figures: (frames, people, 17, 2) pixel (x, y) in COCO order.

    People keep their order over the clip (the written corpus orders them per frame, like a detector).
    """
    return perform(style, rng, frames, size, fps).points
