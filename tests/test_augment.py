import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dancestyle import augment
from dancestyle.augment import augment_window, behind, flip_window, jitter, mirror, rotate, shift
from dancestyle.cli import app
from dancestyle.features import mirror_flow
from dancestyle.errors import UsageError
from dancestyle.pose import normalise_skeletons
from dancestyle.train import TrainOptions, train


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def skeletons(steps: int = 4, people: int = 2) -> np.ndarray:
    """(steps, 20, 2, 17): `people` random box-normalised skeletons a step, the rest padding."""
    rng = np.random.default_rng(0)
    poses = np.zeros((steps, 20, 2, 17), np.float32)
    for step in range(steps):
        raw = rng.uniform(0, 100, (people, 17, 2))
        poses[step, :people] = normalise_skeletons(raw).transpose(0, 2, 1)
    return poses


def test_jitter_moves_present_keypoints_by_small_noise_and_leaves_padding_alone():
    poses = skeletons()
    moved = jitter(poses, generator())
    difference = (moved - poses)[:, :2]
    inside = np.abs(poses[:, :2]) < 0.9  # away from the clip at +-1
    assert 0.02 < difference[inside].std() < 0.04  # sd JITTER_SD
    assert np.all(moved[:, 2:] == 0) and np.all(np.abs(moved) <= 1) and moved.dtype == np.float32
    np.testing.assert_array_equal(moved, jitter(poses, generator()))  # the seed decides it


def test_rotate_by_nothing_changes_nothing_and_by_something_keeps_skeletons_in_their_box(monkeypatch):
    poses = skeletons()
    monkeypatch.setattr(augment, "ROTATE_DEGREES", 0.0)
    np.testing.assert_allclose(rotate(poses, generator()), poses, atol=1e-6)

    monkeypatch.setattr(augment, "ROTATE_DEGREES", 15.0)
    seed = next(seed for seed in range(20) if abs(drawn_angle(seed)) > 8)
    turned = rotate(poses, generator(seed))
    assert np.abs(turned - poses).max() > 0.05 and np.all(turned[:, 2:] == 0)
    for axis in (0, 1):  # each present skeleton still spans exactly [-1, 1] on both axes
        np.testing.assert_allclose(turned[:, :2, axis].min(-1), -1, atol=1e-5)
        np.testing.assert_allclose(turned[:, :2, axis].max(-1), 1, atol=1e-5)


def drawn_angle(seed: int) -> float:
    """The angle rotate() draws first from generator(seed), in degrees."""
    return float(torch.empty(1).uniform_(-augment.ROTATE_DEGREES, augment.ROTATE_DEGREES, generator=generator(seed)))


@pytest.mark.parametrize("seed", range(4))
def test_rotation_turns_every_skeleton_of_a_window_by_the_drawn_angle(seed):
    # a square's corners and the middles of its sides: turned by a, the first corner (1, 1) lies at angle 45 + a
    # from the centre; the box normalisation stretches each axis, which keeps that angle's quadrant and order
    square = np.array([[1, 1], [-1, 1], [-1, -1], [1, -1], [0, 1], [-1, 0], [0, -1], [1, 0]] + [[0, 0]] * 9,
                      np.float32)
    poses = np.zeros((3, 20, 2, 17), np.float32)
    poses[:, 0] = square.T
    turned = rotate(poses, generator(seed))
    np.testing.assert_allclose(turned[0], turned[1], atol=1e-6)  # one angle for the whole window
    np.testing.assert_allclose(turned[0], turned[2], atol=1e-6)
    middle_of_top = turned[0, 0, :, 4]  # (0, 1) turned by a: x = -sin(a), stretched but with its sign
    assert np.sign(middle_of_top[0]) == -np.sign(drawn_angle(seed)) and middle_of_top[1] > 0.75


def test_behind_negates_x_and_keeps_each_keypoint_on_its_side():
    poses = skeletons()
    turned = behind(poses)
    np.testing.assert_array_equal(turned[..., 0, :], -poses[..., 0, :])
    np.testing.assert_array_equal(turned[..., 1, :], poses[..., 1, :])
    np.testing.assert_array_equal(mirror(turned)[..., 5], poses[..., 6])  # with the mirror: the sides swapped
    window = {"pose": poses, "flow": np.random.default_rng(0).normal(size=(4, 2, 2, 3, 3)).astype(np.float32)}
    flipped = next(result for seed in range(20)
                   if (result := augment_window(window, ["behind"], generator(seed)))["pose"] is not poses)
    np.testing.assert_array_equal(flipped["pose"], turned)
    np.testing.assert_array_equal(flipped["flow"], mirror_flow(window["flow"]))  # flow flips as in the mirror


@pytest.mark.parametrize("seed", range(6))
def test_shift_moves_the_flow_grid_by_at_most_one_cell_with_zeros_at_the_edge(seed):
    stacks = np.zeros((3, 4, 2, 6, 6), np.float32)
    stacks[:, :, :, 2, 3] = 0.5  # one moving cell, at every step and pair
    stacks[:, :, :, 0, 0] = -0.25  # one at the corner
    moved = shift(stacks, generator(seed))
    dy, dx = (int(v) for v in torch.randint(-1, 2, (2,), generator=generator(seed)))
    assert moved[0, 0, 0, 2 + dy, 3 + dx] == 0.5 and np.count_nonzero(moved == 0.5) == 3 * 4 * 2
    corner = (dy, dx) in ((0, 0), (0, 1), (1, 0), (1, 1))  # the corner cell stays inside the grid
    assert np.count_nonzero(moved == -0.25) == (3 * 4 * 2 if corner else 0)
    assert moved.shape == stacks.shape and np.array_equal(moved[1], moved[0])


def test_without_augmentations_a_window_is_only_mirrored_with_one_draw():
    window = {"pose": skeletons(), "flow": np.ones((4, 2, 2, 3, 3), np.float32)}
    plain, augmented = generator(1), generator(1)
    expected = flip_window(window, plain)
    result = augment_window(window, [], augmented)
    for stream in window:
        np.testing.assert_array_equal(result[stream], expected[stream])
    assert torch.equal(plain.get_state(), augmented.get_state())  # earlier runs' random streams are unchanged


def test_the_mirror_flips_rgb_pixels_and_leaves_resnet_features_alone():
    pixels = np.random.default_rng(0).integers(0, 255, (3, 4, 5, 3), dtype=np.uint8)
    features = np.random.default_rng(1).random((3, 512)).astype(np.float32)
    mirrored = next(result for seed in range(20)
                    if (result := flip_window({"rgb": pixels}, generator(seed)))["rgb"] is not pixels)
    np.testing.assert_array_equal(mirrored["rgb"], pixels[:, :, ::-1])
    for seed in range(4):
        assert flip_window({"rgb": features}, generator(seed))["rgb"] is features


def test_an_augmentation_leaves_streams_it_does_not_change_alone():
    window = {"pose": skeletons(), "flow": np.ones((4, 2, 2, 3, 3), np.float32)}
    result = augment_window(window, ["jitter"], generator(2))
    reference = flip_window(window, generator(2))
    np.testing.assert_array_equal(result["flow"], reference["flow"])
    assert not np.array_equal(result["pose"], reference["pose"])


@pytest.mark.parametrize("names, problem, advice", [("blur", "unknown", "jitter"), ("jitter,jitter", "repeated", "jitter"),
                                                    ("mirror,behind", "two flips", "mirror or behind")])
def test_unknown_or_repeated_augmentations_are_refused_on_the_command_line(names, problem, advice):
    result = CliRunner().invoke(app, ["train", "--augment", names, "--streams", "pose"])
    assert result.exit_code == 2 and "--augment" in result.stderr and advice in result.stderr
    assert problem in result.stderr and "Traceback" not in result.stderr


def test_an_augmentation_for_a_stream_the_run_lacks_is_refused(corpus, home):
    with pytest.raises(UsageError, match="flow stream, which this run does not use"):
        train(TrainOptions(model="lstm", data=corpus, out=home / "run", streams=["pose"], augment=["shift"]))
    result = CliRunner().invoke(app, ["train", "--data", str(corpus), "--streams", "pose", "--augment", "shift"])
    assert result.exit_code == 2 and "Add flow to --streams" in result.stderr and "Traceback" not in result.stderr


def test_a_run_with_augmentations_trains_and_records_them(corpus, home):
    summary = train(TrainOptions(model="attention", data=corpus, out=home / "run", epochs=3, patience=3,
                                 streams=["pose"], seed=3, augment=["jitter", "rotate"]))
    assert summary["epochs_run"] == 3
    config = json.loads((home / "run" / "config.json").read_text())
    assert config["training"]["augment"] == ["jitter", "rotate"]
