import json

import numpy as np
import pytest

from dancestyle.pose.rcnn import KeypointRCNNEstimator
from dancestyle.pose import KEYPOINT_NAMES, normalise_skeletons, pose_array, read_letsdance_pose


def skeleton(xs, ys):
    return np.stack([np.asarray(xs, dtype=np.float32), np.asarray(ys, dtype=np.float32)], axis=-1)


def test_normalisation_on_hand_computed_cases():
    xs = np.linspace(10, 30, 17)  # box 10..30: 10 -> -1, 20 -> 0, 30 -> 1
    ys = np.full(17, 5.0)
    ys[3], ys[4] = 0.0, 20.0  # box 0..20: 0 -> -1, 5 -> -0.5, 20 -> 1
    out = normalise_skeletons(skeleton(xs, ys)[None])[0]
    assert out[0, 0] == -1 and out[8, 0] == pytest.approx(0) and out[16, 0] == 1
    assert out[3, 1] == -1 and out[4, 1] == 1 and out[0, 1] == pytest.approx(-0.5)
    assert np.abs(out).max() <= 1


def test_zero_size_box_axis_maps_to_zero():
    flat = skeleton(np.linspace(0, 16, 17), np.full(17, 7.0))  # all keypoints on one row
    out = normalise_skeletons(flat[None])[0]
    assert (out[:, 1] == 0).all() and out[0, 0] == -1 and out[16, 0] == 1
    assert (normalise_skeletons(np.zeros((1, 17, 2))) == 0).all()


def test_each_skeleton_uses_its_own_box_and_position_and_size_drop_out():
    base = np.random.default_rng(0).uniform(0, 50, (17, 2)).astype(np.float32)
    moved_and_scaled = base * 3 + 100
    out = normalise_skeletons(np.stack([base, moved_and_scaled]))
    np.testing.assert_allclose(out[0], out[1], atol=1e-5)


def test_pose_array_pads_and_truncates_to_20_people():
    people = np.random.default_rng(1).uniform(0, 100, (25, 17, 2))
    packed = pose_array(people)
    assert packed.shape == (20, 2, 17)
    np.testing.assert_allclose(packed[0], normalise_skeletons(people[:1])[0].T)
    few = pose_array(people[:2])
    assert (few[2:] == 0).all() and (few[:2] != 0).any()
    assert (pose_array(np.zeros((0, 17, 2))) == 0).all()


def test_letsdance_json_is_read_by_keypoint_name(tmp_path):
    person = ["person0"] + [[name, [float(i), float(100 + i)]] for i, name in enumerate(KEYPOINT_NAMES)]
    shuffled = [person[0]] + person[1:][::-1]  # order in the file must not matter
    (tmp_path / "a.json").write_text(json.dumps([shuffled, person]))
    (tmp_path / "empty.json").write_text("[]")
    skeletons = read_letsdance_pose(tmp_path / "a.json")
    assert skeletons.shape == (2, 17, 2)
    np.testing.assert_array_equal(skeletons[0], skeletons[1])
    assert tuple(skeletons[0, KEYPOINT_NAMES.index("left_wrist")]) == (9.0, 109.0)
    assert read_letsdance_pose(tmp_path / "empty.json").shape == (0, 17, 2)


def test_keypoint_rcnn_backend_returns_at_most_20_skeletons_of_17_points():
    estimator = KeypointRCNNEstimator("cpu", min_size=128, random_weights=True, score_threshold=0.0)
    images = [np.random.default_rng(i).integers(0, 256, (96, 128, 3), dtype=np.uint8) for i in range(2)]
    results = estimator.estimate(images)
    assert len(results) == 2 and any(len(people) for people in results)  # threshold 0 keeps boxes
    for people in results:
        assert people.ndim == 3 and people.shape[1:] == (17, 2) and len(people) <= 20
        assert np.isfinite(people).all()
