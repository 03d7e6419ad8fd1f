"""The pose noise model: each parameter does what it says, measured on many frames of known skeletons.

Rates are checked against their binomial (or Poisson) standard deviation: a tolerance of 4 sd fails by chance once
in ~16,000 runs, and the seeds are fixed, so a pass or a fail is reproducible.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from dancestyle.errors import UsageError
from dancestyle.pose import KEYPOINT_NAMES, read_letsdance_pose
from dancestyle.posenoise import (CLEAN, FLIPPED, PARENT, PRESETS, REALISTIC, PoseNoise, describe, detect, noise_preset,
                                  to_letsdance_json)

SIZE = (640, 480)
# a person facing the camera in units of height, centred: the nose at the top, the ankles at the bottom
SHAPE = np.array([(0, -0.5), (0.03, -0.52), (-0.03, -0.52), (0.06, -0.5), (-0.06, -0.5), (0.12, -0.35),
                  (-0.12, -0.35), (0.2, -0.2), (-0.2, -0.2), (0.25, -0.05), (-0.25, -0.05), (0.08, 0.0),
                  (-0.08, 0.0), (0.1, 0.25), (-0.1, 0.25), (0.12, 0.48), (-0.12, 0.48)])


def clip(people, frames, seed=0):
    """points, depth, scale for people given as (centre x, centre y, height, depth), swaying a little."""
    rng = np.random.default_rng(seed)
    points = np.stack([np.stack([SHAPE * h + (cx, cy) + rng.normal(0, 0.01 * h, SHAPE.shape) for cx, cy, h, _ in
                                 people]) for _ in range(frames)]) if people and frames else np.zeros(
                                     (frames, len(people), 17, 2))
    depth = np.tile([float(d) for *_, d in people], (frames, 1)).reshape(frames, len(people))
    scale = np.tile([float(h) for _, _, h, _ in people], (frames, 1)).reshape(frames, len(people))
    return points, depth, scale


def run(people, frames, noise, seed=1, size=SIZE, motion_seed=0):
    return detect(*clip(people, frames, motion_seed), size, np.random.default_rng(seed), noise)


def near(reported, x, y, radius):
    """The reported skeletons whose mean joint lies within radius of (x, y)."""
    return [p for p in reported if np.hypot(*(np.nanmean(p, axis=0) - (x, y))) < radius]


def test_clean_reports_every_joint_exactly_those_outside_on_the_frames_edge():
    people = [(200, 200, 150, 1), (450, 250, 100, 2), (0, 300, 120, 3), (-400, 200, 100, 4)]  # 3rd half out, 4th out
    points, depth, scale = clip(people, 20)
    reported = detect(points, depth, scale, SIZE, np.random.default_rng(0), CLEAN)
    truth = points.astype(np.float32)
    inside = (truth >= 0).all(-1) & (truth[..., 0] < SIZE[0]) & (truth[..., 1] < SIZE[1])
    expected = np.clip(truth, 0, np.array(SIZE, np.float32) - 0.01)
    assert 4 <= (~inside[:, 2]).sum(-1).min() and inside[:, 2].sum(-1).min() >= 4  # the third is really cut
    for frame, found in enumerate(reported):
        assert found.dtype == np.float32 and found.shape == (3, 17, 2)
        np.testing.assert_array_equal(found, expected[frame, [0, 1, 2]])  # biggest visible box first; 4th absent


def test_edge_min_joints_removes_people_mostly_outside_the_frame():
    people = [(300, 560, 200, 1)]  # below the frame: only the head (5 joints) reaches into it
    points, depth, scale = clip(people, 5)
    inside = ((points >= 0) & (points < SIZE)).all(-1).sum(-1)[:, 0]
    assert 3 <= inside.min() == inside.max() < 17
    k = int(inside[0])
    at_limit = detect(points, depth, scale, SIZE, np.random.default_rng(0), replace(CLEAN, edge_min_joints=k))
    clipped = np.clip(points[:, 0].astype(np.float32), 0, np.array(SIZE, np.float32) - 0.01)
    assert all(len(f) == 1 for f in at_limit)
    np.testing.assert_allclose(np.stack([f[0] for f in at_limit]), clipped, atol=1e-4)  # the rest on the edge
    above = detect(points, depth, scale, SIZE, np.random.default_rng(0), replace(CLEAN, edge_min_joints=k + 1))
    assert all(len(f) == 0 for f in above)


def test_joint_drop_guesses_that_fraction_of_joints_onto_the_joint_they_hang_from():
    frames, rate = 400, 0.2
    people = [(150, 240, 200, 1), (450, 240, 150, 2)]  # the taller first in CLEAN order
    points, depth, scale = clip(people, frames)
    reported = detect(points, depth, scale, SIZE, np.random.default_rng(0), replace(CLEAN, joint_drop=rate))
    assert all(len(f) == 2 for f in reported)  # losing joints removes no one, and every joint is still reported
    joints = np.stack(reported)  # (frames, 2, 17, 2), in CLEAN order: the people as placed
    truth = points.astype(np.float32)
    moved = (joints != truth).any(-1)
    assert (joints[moved] == truth[:, :, PARENT][moved]).all()  # a lost joint sits on its parent
    n = moved.size
    assert abs(moved.mean() - rate) < 4 * math.sqrt(rate * (1 - rate) / n)  # 4 binomial sd = 0.014 here


def test_jitter_sd_is_that_fraction_of_each_persons_height():
    frames, jitter = 500, 0.02
    people = [(150, 240, 300, 1), (450, 240, 60, 2)]
    points, depth, scale = clip(people, frames)
    reported = detect(points, depth, scale, SIZE, np.random.default_rng(3), replace(CLEAN, jitter=jitter))
    assert all(len(f) == 2 for f in reported)  # in CLEAN order: the tall one first
    for index, (*_, height, _) in enumerate(people):
        error = np.stack([f[index] for f in reported]) - points[:, index]
        sd = error.std() / (jitter * height)  # 17,000 values: the sample sd is within 0.6% of the truth (1 sd)
        assert 0.96 < sd < 1.04, (height, sd)
        assert abs(error.mean()) < 0.05 * jitter * height


def test_joints_are_never_reported_outside_the_frame():
    people = [(5, 240, 200, 1), (630, 100, 150, 2), (320, 470, 300, 3), (320, 240, 100, 4)]
    reported = run(people, 300, replace(REALISTIC, jitter=0.05, outlier=0.2, false_people=2.0))
    joints = np.concatenate(reported).reshape(-1, 2)
    assert len(joints) > 1000 and not np.isnan(joints).any()  # all 17 joints of everyone, as Let's Dance's files
    assert ((joints >= 0) & (joints < SIZE)).all()


def test_empty_frames_empty_the_whole_frame():
    people = [(150, 240, 200, 1), (450, 240, 200, 2)]
    everything = replace(CLEAN, empty_frames=1.0, false_people=3.0)
    assert all(len(f) == 0 for f in run(people, 50, everything))
    frames, rate = 2000, 0.25
    empty = np.mean([len(f) == 0 for f in run(people, frames, replace(CLEAN, empty_frames=rate))])
    assert abs(empty - rate) < 4 * math.sqrt(rate * (1 - rate) / frames)


def test_false_people_come_at_the_rate_asked_and_say_nothing_about_the_dancers():
    frames, rate = 3000, 0.5
    counts = [len(f) for f in run([], frames, replace(CLEAN, false_people=rate))]
    assert abs(np.mean(counts) - rate) < 4 * math.sqrt(rate / frames)  # Poisson: variance = mean
    assert np.var(counts) == pytest.approx(rate, rel=0.15)
    # the same clutter whatever the dancers do: two different dances, everyone missed
    unseen = replace(CLEAN, miss=1.0, false_people=1.0)
    a = run([(150, 240, 200, 1), (450, 240, 200, 2)], 100, unseen, motion_seed=0)
    b = run([(300, 100, 90, 2), (50, 400, 300, 1)], 100, unseen, motion_seed=5)
    assert sum(len(f) for f in a) > 50
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa, fb)


def miss_runs(present):
    """Lengths of the runs of False in a boolean sequence."""
    padded = np.concatenate([[True], present, [True]]).astype(int)
    starts, ends = np.flatnonzero(np.diff(padded) == -1), np.flatnonzero(np.diff(padded) == 1)
    return ends - starts


def test_misses_come_at_the_rate_asked_in_runs_of_the_length_asked():
    frames, rate = 20000, 0.2
    lasting = run([(320, 240, 200, 1)], frames, replace(CLEAN, miss=rate, miss_frames=4.0))
    present = np.array([len(f) == 1 for f in lasting])
    # runs make neighbouring frames alike, ~7x the binomial variance here: sd of the rate ~0.0075
    assert abs((~present).mean() - rate) < 0.03
    assert 3.5 < miss_runs(present).mean() < 5.5  # 4 asked, a little more where runs overlap
    single = run([(320, 240, 200, 1)], frames, replace(CLEAN, miss=rate, miss_frames=1.0))
    present = np.array([len(f) == 1 for f in single])
    assert abs((~present).mean() - rate) < 4 * math.sqrt(rate * (1 - rate) / frames)
    assert miss_runs(present).mean() < 1.4  # independent frames: 1 / (1 - 0.2) = 1.25


def test_small_people_are_missed_more():
    frames, height = 2000, SIZE[1]
    noise = replace(CLEAN, small_miss=0.6, small_height=0.2)
    people = [(150, 240, 0.05 * height, 1), (450, 240, 0.5 * height, 2)]
    reported = run(people, frames, noise)
    small = np.mean([not near(f, 150, 240, 10) for f in reported])
    big = np.mean([not near(f, 450, 240, 50) for f in reported])
    expected = 0.6 * (1 - 0.05 / 0.2)  # the documented ramp: 0.45
    assert abs(small - expected) < 4 * math.sqrt(expected * (1 - expected) / frames)
    assert big == 0


@pytest.mark.parametrize("far", ["small", "big"])
def test_people_covered_by_a_nearer_one_are_missed_more(far):
    frames, rate = 2000, 0.6
    big, small = (320, 240, 300, 1 if far == "small" else 2), (320, 260, 100, 2 if far == "small" else 1)
    reported = run([big, small], frames, replace(CLEAN, occluded_miss=rate))
    heights = [[np.ptp(p[:, 1]) for p in f] for f in reported]
    small_missed = np.mean([not any(h < 200 for h in f) for f in heights])
    big_missed = np.mean([not any(h > 200 for h in f) for f in heights])
    if far == "small":  # the small one lies wholly inside the nearer big one's box: covered fraction 1
        assert abs(small_missed - rate) < 4 * math.sqrt(rate * (1 - rate) / frames) and big_missed == 0
    else:  # the small one is in front and covers a ninth of the big one's box: below the 0.5 where misses start
        assert small_missed == 0 and big_missed == 0


def test_the_order_changes_from_frame_to_frame_under_realistic_noise():
    couple = [(220, 240, 200, 1.0), (420, 240, 170, 1.0)]
    first = []
    for found in run(couple, 300, REALISTIC):
        who = ["L" if near([p], 220, 240, 40) else "R" if near([p], 420, 240, 40) else "?" for p in found]
        if who.count("L") == 1 and who.count("R") == 1:
            first.append(who.index("L") < who.index("R"))
    assert len(first) > 200
    assert 0.2 < np.mean(first) < 0.9  # the slightly taller one is first more often, but not always
    clean = run(couple, 50, CLEAN)
    assert all(np.nanmean(f[0, :, 0]) < 320 for f in clean)  # no order noise: the taller one always first


def test_the_same_seed_gives_the_same_detections():
    people = [(150, 240, 200, 1), (450, 240, 180, 2), (300, 250, 60, 3)]
    a, b, c = (run(people, 100, REALISTIC, seed=s) for s in (7, 7, 8))
    assert len(a) == len(b) == 100
    for fa, fb in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa, fb)
    assert any(fa.shape != fc.shape or not np.array_equal(fa, fc, equal_nan=True) for fa, fc in zip(a, c))


def test_flip_swaps_left_and_right():
    points, depth, scale = clip([(320, 240, 200, 1)], 10)
    reported = detect(points, depth, scale, SIZE, np.random.default_rng(0), replace(CLEAN, flip=1.0))
    np.testing.assert_array_equal(np.stack(reported)[:, 0], points[:, 0][:, FLIPPED].astype(np.float32))


def test_outliers_land_in_the_persons_box():
    frames, rate = 300, 0.1
    points, depth, scale = clip([(320, 240, 200, 1)], frames)
    reported = np.stack(detect(points, depth, scale, SIZE, np.random.default_rng(0), replace(CLEAN, outlier=rate)))
    moved = (reported[:, 0] != points.astype(np.float32)[:, 0]).any(-1)
    assert abs(moved.mean() - rate) < 4 * math.sqrt(rate * (1 - rate) / moved.size)
    low, high = points.min(2, keepdims=True), points.max(2, keepdims=True)
    assert ((reported >= low - 1e-3) & (reported <= high + 1e-3)).all()


def test_no_people_or_no_frames_never_raise():
    assert run([(320, 240, 200, 1)], 0, REALISTIC) == []
    for noise in (CLEAN, REALISTIC):
        found = run([], 40, noise)
        assert len(found) == 40 and all(f.shape[1:] == (17, 2) and f.dtype == np.float32 for f in found)
    assert all(len(f) == 0 for f in run([], 40, CLEAN))


def test_letsdance_json_round_trips_and_leaves_dropped_joints_out(tmp_path):
    people = np.random.default_rng(0).uniform(0, 500, (3, 17, 2)).astype(np.float32)
    people[1, [0, 9]] = np.nan
    skeletons = to_letsdance_json(people)
    assert [s[0] for s in skeletons] == ["person0", "person1", "person2"]
    assert [name for name, _ in skeletons[1][1:]] == [n for i, n in enumerate(KEYPOINT_NAMES) if i not in (0, 9)]
    assert all(len(xy) == 2 and xy == [round(v, 2) for v in xy] for s in skeletons for _, xy in s[1:])
    path = tmp_path / "frame.json"
    path.write_text(json.dumps(skeletons))
    back = read_letsdance_pose(path)
    np.testing.assert_allclose(back, np.nan_to_num(np.round(people.astype(np.float64), 2)), atol=1e-4)
    assert (back[1, [0, 9]] == 0).all()  # a joint left out reads back as (0, 0)
    path.write_text(json.dumps(to_letsdance_json(np.zeros((0, 17, 2), np.float32))))
    assert path.read_text() == "[]" and read_letsdance_pose(path).shape == (0, 17, 2)


def test_presets_are_named_and_recorded():
    assert PRESETS == {"clean": CLEAN, "realistic": REALISTIC} and noise_preset("realistic") is REALISTIC
    with pytest.raises(UsageError, match="clean, realistic"):
        noise_preset("noisy")
    recorded = json.loads(json.dumps(describe(REALISTIC)))
    assert PoseNoise(**recorded) == REALISTIC and recorded["joint_drop"] == REALISTIC.joint_drop
    settings = ("miss_frames", "small_height", "edge_min_joints")  # the only fields where 0 is not "no noise"
    assert all(value == 0 for name, value in describe(CLEAN).items() if name not in settings)


@pytest.mark.parametrize("bad", [{"joint_drop": 1.5}, {"miss": -0.1}, {"jitter": -1.0}, {"miss_frames": 0.5},
                                 {"edge_min_joints": 0}, {"edge_min_joints": 18}, {"small_height": 0.0},
                                 {"false_people": float("nan")}])
def test_impossible_parameters_are_usage_errors(bad):
    with pytest.raises(UsageError):
        PoseNoise(**bad)
