"""Castro's temporal 3D CNN on the pose stream (`--model r3d`): limb heat-maps, clips, training, classify."""

import json
import os
import signal

import numpy as np
import pytest
import torch

from dancestyle.augment import mirror
from dancestyle.configs import R3DConfig, TrainOptions
from dancestyle.errors import UsageError
from dancestyle.evaluate import evaluate_run
from dancestyle.models import DanceClassifier, default_config
from dancestyle.models3d import LIMB_GROUPS, MIRRORED_GROUPS, LimbHeatmaps, clip_starts
from dancestyle.pose import KEYPOINT_NAMES, NUM_KEYPOINTS, frame_pose_array, pose_input
from dancestyle.train import train

from media import SMALL_CORPUS_STYLES as STYLES

# a few seconds of training on one core; batches of 8 give the tiny set 3 steps an epoch, enough for BatchNorm's
# running statistics to keep up with the weights (with 2, the validation accuracy stayed at chance)
TINY = {"grid": 16, "width": 8, "lr": 0.03, "batch_size": 8}
LEFT_ARM = list(LIMB_GROUPS).index("left_arm")
RIGHT_ARM = list(LIMB_GROUPS).index("right_arm")


def draw(pixels: np.ndarray, size=(200, 100), grid=16) -> torch.Tensor:
    """(people, 17, 2) pixel skeletons in a frame of `size` -> (channels, grid, grid) heat-maps."""
    poses = torch.from_numpy(frame_pose_array(pixels, size))
    return LimbHeatmaps(grid)(poses).view(len(LIMB_GROUPS), grid, grid)


def test_frame_coordinates_centre_the_frame_and_keep_its_shape():
    corners = np.zeros((1, NUM_KEYPOINTS, 2), np.float32)
    corners[0, 0], corners[0, 1], corners[0, 2] = (0, 0), (200, 100), (100, 50)
    packed = frame_pose_array(corners, (200, 100))
    assert packed.shape == (20, 2, 17) and not packed[1:].any()  # zero-padded people
    assert packed[0, :, 0].tolist() == [-1, -0.5] and packed[0, :, 1].tolist() == [1, 0.5]  # long side: 2 units
    assert packed[0, :, 2].tolist() == [0, 0]
    assert np.array_equal(pose_input(corners, "frame", (200, 100)), packed)
    assert not np.array_equal(pose_input(corners, "", (200, 100)), packed)  # the usual form: each in its box


def test_a_known_limb_lights_its_channel_along_the_limb_only():
    skeleton = np.full((1, NUM_KEYPOINTS, 2), (50, 50), np.float32)  # every keypoint at x 50, y 50 ...
    skeleton[0, KEYPOINT_NAMES.index("left_elbow")] = (150, 50)  # ... but a left arm straight to the right
    skeleton[0, KEYPOINT_NAMES.index("left_wrist")] = (150, 50)
    maps = draw(skeleton)  # frame 200 x 100: y 50 is the middle row, x 50 .. 150 is -0.5 .. 0.5
    arm = maps[LEFT_ARM]
    assert arm[7:9, 4:12].min() > 0.7  # the two rows either side of y = 0, from x -0.5 to 0.5
    assert arm[:5].max() < 1e-3 and arm[11:].max() < 1e-3  # far above and below the limb: dark
    assert arm[7:9, :2].max() < 1e-2 and arm[7:9, 14:].max() < 1e-2  # 2.5 cells and more beyond its ends
    assert maps[RIGHT_ARM][:, 8:].max() < 1e-3  # the right arm is a dot at x -0.5: the right half is dark
    assert 0 <= float(maps.min()) and float(maps.max()) <= 1
    assert maps[:, :4].max() < 1e-3  # letterbox: a 2:1 frame covers the middle half of the rows only


def test_a_mirrored_dancer_draws_the_mirror_image_with_left_and_right_swapped():
    rng = np.random.default_rng(0)
    people = rng.uniform(20, 180, (3, NUM_KEYPOINTS, 2)).astype(np.float32)
    poses = torch.from_numpy(frame_pose_array(people, (200, 200)))
    heatmaps = LimbHeatmaps(16)
    maps = heatmaps(poses).view(-1, 16, 16)
    mirrored = heatmaps(torch.from_numpy(mirror(poses.numpy()))).view(-1, 16, 16)
    # to rounding: the drawing's dot products with the cells round differently at mirrored coordinates
    torch.testing.assert_close(mirrored, maps.flip(-1)[MIRRORED_GROUPS], atol=1e-4, rtol=0)
    assert not torch.allclose(mirrored, maps)


def test_each_cell_holds_the_gaussian_of_its_distance_to_the_nearest_limb_of_its_channel():
    rng = np.random.default_rng(1)
    skeletons = rng.uniform(-1, 1, (LimbHeatmaps.CPU_BLOCK + 5, NUM_KEYPOINTS, 2)).astype(np.float32)  # 2 blocks
    skeletons[0, 3] = skeletons[0, 1]  # a limb of no length is a dot
    heatmaps = LimbHeatmaps(8)
    drawn = heatmaps._draw(torch.from_numpy(skeletons)).numpy()
    centres = (np.arange(8) * 2 + 1) / 8 - 1
    cells = np.stack(np.meshgrid(centres, centres, indexing="xy"), -1).reshape(-1, 2)  # x varies fastest
    expected = np.zeros_like(drawn)
    for channel, limbs in enumerate(LIMB_GROUPS.values()):
        for a, b in limbs:  # the distance from every cell to segment a-b, one cell and one segment at a time
            start, along = skeletons[:, a], skeletons[:, b] - skeletons[:, a]
            for cell_index, cell in enumerate(cells):
                t = np.clip(((cell - start) * along).sum(-1) / np.maximum((along * along).sum(-1), 1e-12), 0, 1)
                distance = np.linalg.norm(cell - start - t[:, None] * along, axis=-1)
                value = np.exp(-distance ** 2 / (2 * heatmaps.sigma ** 2))
                expected[:, channel, cell_index] = np.maximum(expected[:, channel, cell_index], value)
    np.testing.assert_allclose(drawn, expected, atol=1e-4)


def test_nobody_draws_nothing_and_batches_draw_each_step_alone():
    heatmaps = LimbHeatmaps(16)
    assert not heatmaps(torch.zeros(2, 3, 20, 2, 17)).any()
    poses = torch.rand(2, 3, 20, 2, 17) * 2 - 1
    poses[:, :, 2:] = 0
    batch = heatmaps(poses)
    assert batch.shape == (2, 3, len(LIMB_GROUPS) * 16 * 16)
    torch.testing.assert_close(batch[1, 2], heatmaps(poses[1, 2]))


def test_clips_tile_a_window_the_last_one_ending_at_its_end():
    assert clip_starts(60, 16) == [0, 16, 32, 44]
    assert clip_starts(16, 16) == [0] and clip_starts(5, 16) == [0] and clip_starts(33, 16) == [0, 16, 17]


def test_r3d_shapes_and_a_video_shorter_than_a_clip_is_looped():
    torch.manual_seed(0)
    model = DanceClassifier(default_config("r3d", **TINY)).eval()
    assert model.encoders() == {}  # the heat-maps have nothing to learn: no pose pre-training
    poses = torch.zeros(1, 5, 20, 2, 17)
    poses[0, :, 0] = torch.rand(5, 2, 17) * 2 - 1
    with torch.no_grad():
        short = model({"pose": poses})
        looped = model({"pose": poses[:, torch.arange(16) % 5]})
        clips, owner = model.sequence.clips(model.frame_features({"pose": poses}), None)
    assert model.sequence.stream_clips(clips)["pose"].shape == (1, len(LIMB_GROUPS), 16, 16, 16)
    assert owner.tolist() == [0]
    torch.testing.assert_close(short, looped)  # steps 0 1 2 3 4 0 1 2 ...
    assert short.shape == (1, 10) and torch.isfinite(short).all()
    assert float(short.exp().sum()) == pytest.approx(1, abs=1e-4)  # log probabilities


def test_pose_and_flow_are_fused_late_each_with_a_network_of_its_own():
    from dancestyle.features import FlowEncoder
    from dancestyle.flow import DEFAULT_FLOW

    torch.manual_seed(0)
    model = DanceClassifier(default_config("r3d", streams=["pose", "flow"], **TINY)).eval()
    assert set(model.sequence.trunks) == {"pose", "flow"} and isinstance(model.flow_encoder, FlowEncoder)
    assert set(model.encoders()) == {"flow"}  # pre-trained frame by frame, as for the other models
    inputs = {"pose": torch.rand(2, 20, 20, 2, 17) * 2 - 1, "flow": torch.rand(2, 20, *DEFAULT_FLOW.shape) * 2 - 1}
    with torch.no_grad():
        fused = model(inputs).exp()
        clips, owner = model.sequence.clips(model.frame_features(inputs), None)
        each = {stream: torch.softmax(scores, -1) for stream, scores in model.sequence.clip_scores(clips).items()}
    assert clips.shape[0] == 4 and owner.tolist() == [0, 0, 1, 1]  # 20 steps: clips at 0 and 4
    mean = (each["pose"] + each["flow"]) / 2
    torch.testing.assert_close(fused, torch.stack([mean[:2].mean(0), mean[2:].mean(0)]), atol=1e-5, rtol=1e-4)
    loss, _ = model.loss(inputs, None, torch.tensor([1, 2]))
    assert torch.isfinite(loss) and "stream_forms" not in R3DConfig().to_dict()


def test_rotate_is_refused_for_skeletons_in_frame_coordinates(corpus, home):
    with pytest.raises(UsageError, match="frame coordinates"):
        train(TrainOptions(model="r3d", data=corpus, out=home / "run", streams=["pose"], augment=["rotate"]))


@pytest.mark.slow
def test_r3d_learns_a_tiny_synthetic_set_then_evaluates_and_classifies(corpus, home, tmp_path, fake_pose):
    from dancestyle.pipeline import load_model
    from media import make_video

    summary = train(TrainOptions(model="r3d", data=corpus, out=home / "run", epochs=15, patience=15,
                                 streams=["pose"], seed=0, overrides=TINY, augment=["jitter"]))
    history = summary["history"]
    assert history[-1]["train_loss"] < 0.6 * history[0]["train_loss"]
    assert max(record["train_accuracy"] for record in history[-5:]) >= 0.8  # 4 styles: chance is 0.25
    config = json.loads((home / "run" / "config.json").read_text())
    assert config["model"]["name"] == "r3d" and config["model"]["grid"] == 16
    assert config["features"]["pose"]["normalisation"].startswith("frame")
    caches = [path.name for path in (home / "features").glob("*/*")]
    assert len(caches) == 1 and caches[0].startswith("pose-dataset-frame-s5-")  # a cache kind of its own

    result = evaluate_run(str(home / "run"), "r3d", None, "train")  # every clip scored, as its windows tile it
    assert len(result.predictions) == int(np.asarray(result.metrics.confusion).sum()) > 0
    assert result.predictions[0].label in STYLES

    video = make_video(tmp_path / "short.mp4", frames=45)  # 1.5 s: 9 samples, fewer than a clip's 16
    prediction = load_model("r3d", weights=str(home / "run"), device="cpu").classify(video, timeline=True)
    assert prediction.model == "r3d" and prediction.frames == 9 and prediction.label in STYLES
    assert len(prediction.windows) == 1 and prediction.windows[0].end == 1.5


def test_an_interrupted_r3d_run_resumes_to_the_same_weights(corpus, home):
    from safetensors.torch import load_file

    from dancestyle.train import TrainingInterrupted

    def run(out, **changes):
        return TrainOptions(model="r3d", data=corpus, out=home / out, epochs=3, patience=3, streams=["pose"],
                            seed=1, overrides=TINY, **changes)

    train(run("whole"))

    def stop_after_two(record, most_epochs):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="after epoch 2"):
        train(run("cut"), on_epoch=stop_after_two)
    assert train(TrainOptions(model="r3d", out=home / "cut", resume=True))["epochs_run"] == 3
    whole, resumed = (load_file(home / out / "resume" / "state.safetensors") for out in ("whole", "cut"))
    assert whole.keys() == resumed.keys() and any("running_mean" in key for key in whole)  # batch norm's too
    assert all(torch.equal(whole[key], resumed[key]) for key in whole)


def test_mixed_precision_is_for_r3d_on_cuda_only():
    import warnings

    from dancestyle.models import mixed_precision

    assert not isinstance(mixed_precision(R3DConfig(), "cpu"), torch.autocast)
    assert not isinstance(mixed_precision(default_config("lstm"), "cuda"), torch.autocast)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a machine without CUDA says autocast is disabled
        assert isinstance(mixed_precision(R3DConfig(), "cuda"), torch.autocast)


def test_square_frames_resize_the_short_side_then_crop_the_centre():
    from dancestyle.features import square_frames

    image = np.zeros((120, 240, 3), np.uint8)
    image[:, 100:140] = 255  # a bright band in the middle third of the width
    frames = square_frames([image], 56, "short-side")  # short side 120 -> 64, width 128; the centre 56 x 56 kept
    assert frames.shape == (1, 56, 56, 3) and frames.dtype == np.uint8
    middle = frames[0, 28, :, 0]
    assert middle[28] == 255 and middle[0] == 0 and middle[-1] == 0  # the band stays centred
    assert 18 <= int((middle > 127).sum()) <= 23  # 40 px of 240 -> about 21 of 128


@pytest.mark.parametrize(("resize", "kept"), [("kinetics", 112 / 171), ("short-side", 112 / (128 * 16 / 9))])
def test_a_16_9_frames_crop_keeps_the_share_of_its_width_the_resize_says(resize, kept):
    """torchvision's Kinetics preset resizes to 128 x 171 whatever the shape: 65% of a 16:9 frame's width reaches
    R3D-18; keeping the aspect ratio (short side 128) kept 49%."""
    from dancestyle.features import square_frames

    image = np.repeat(np.linspace(0, 255, 1920)[None, :, None], 1080, 0).repeat(3, 2).astype(np.uint8)  # a ramp
    frames = square_frames([image], 112, resize)
    assert frames.shape == (1, 112, 112, 3)
    seen = (int(frames[0, 56, -1, 0]) - int(frames[0, 56, 0, 0])) / 255  # the share of the ramp's width seen
    assert abs(seen - kept) < 0.02


@pytest.mark.slow
def test_r3d_on_rgb_trains_offline_with_random_weights_and_classifies(corpus, home, tmp_path):
    from dancestyle.pipeline import load_model
    from media import make_video

    small = {"rgb_size": 16, "clip_steps": 8, "batch_size": 8}  # R3D-18 on 16 x 16 frames: seconds on a CPU
    summary = train(TrainOptions(model="r3d", data=corpus, out=home / "rgb", epochs=3, patience=3, streams=["rgb"],
                                 seed=0, random_weights=True, overrides=small))
    history = summary["history"]
    assert len(history) == 3 and all(np.isfinite(record["train_loss"]) for record in history)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    config = json.loads((home / "rgb" / "config.json").read_text())
    assert config["features"]["rgb"] == {"backbone": "r3d_18", "weights": "random-seed-0", "size": 16,
                                         "resize": "kinetics"}
    caches = [path.name for path in (home / "features").glob("*/rgb-*")]
    assert len(caches) == 1 and caches[0].startswith("rgb-frames-") and "-frames16-" in caches[0]

    pipeline = load_model("r3d", weights=str(home / "rgb"), device="cpu")
    assert any("random RGB backbone" in caution for caution in pipeline.cautions)
    prediction = pipeline.classify(make_video(tmp_path / "clip.mp4", frames=60))
    assert prediction.model == "r3d" and prediction.frames == 12 and prediction.label in STYLES


def test_worker_windows_are_read_on_demand_and_the_same_with_or_without_workers():
    from functools import partial
    from types import SimpleNamespace

    from dancestyle.sequences import CachedClips, worker_windows
    from dancestyle.windows import training_window

    class Cache:  # stands in for a FeatureSet: clip n's sample t is all 100 n + t
        loads = 0

        def load(self, clip):
            Cache.loads += 1
            return {"rgb": np.broadcast_to(100 * clip.number + np.arange(40).reshape(40, 1, 1, 1), (40, 4, 4, 3))}

    clips = CachedClips(Cache(), [SimpleNamespace(key=f"waltz/{n}", number=n) for n in range(6)])
    assert Cache.loads == 0 and len(clips) == 6 and clips[5]["rgb"][1, 0, 0, 0] == 501 and Cache.loads == 1
    choose = partial(training_window, every=2, per_window=8)
    batches = [[4, 0, 2], [1, 5], [3]]
    alone, workers = ([list(worker_windows(clips, choose, 0, 1, batches, workers=n))] for n in (0, 1))
    assert [[index for index, _ in batch] for batch in alone[0]] == batches
    for mine, theirs in zip(alone[0], workers[0]):
        for (index, window), (_, other) in zip(mine, theirs):
            steps = window["rgb"][:, 0, 0, 0]
            assert window["rgb"].shape == (8, 4, 4, 3) and (steps // 100 == index).all()
            assert (np.diff(steps) == 2).all()  # every 2nd sample, from a random start
            assert np.array_equal(window["rgb"], other["rgb"])  # each clip's window: its own seed


def _stop_signals_ignored(clip, generator) -> dict:
    """A training window that says whether the process making it ignores Ctrl-C and SIGTERM."""
    ignored = [signal.getsignal(number) == signal.SIG_IGN for number in (signal.SIGINT, signal.SIGTERM)]
    return {"pose": np.array([ignored + [os.getpid()]])}


def test_training_workers_leave_ctrl_c_and_sigterm_to_the_main_process():
    """A signal to the whole process group killed the loader's worker first: torch then raised "DataLoader worker
    ... is killed by signal: Terminated" with a traceback (seen with `timeout` around an r3d training)."""
    from types import SimpleNamespace

    from dancestyle.sequences import CachedClips, worker_windows

    if (os.cpu_count() or 1) < 2:
        pytest.skip("worker_windows makes no worker process on one core")

    class Cache:
        def load(self, clip):
            return {"pose": np.zeros((4, 1))}

    clips = CachedClips(Cache(), [SimpleNamespace(key=f"waltz/{n}") for n in range(2)])
    before = [signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)]
    [batch] = list(worker_windows(clips, _stop_signals_ignored, 0, 1, [[0, 1]], workers=1))
    for _, window in batch:
        sigint_ignored, sigterm_ignored, pid = window["pose"][0]
        assert sigint_ignored and sigterm_ignored and pid != os.getpid()  # made in a worker, which ignores both
    assert [signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)] == before  # this one: as it was


def test_cli_trains_r3d_on_its_own_streams_then_evaluates_and_classifies_with_a_timeline(corpus, home, tmp_path,
                                                                                          fake_pose):
    from typer.testing import CliRunner

    from dancestyle.cli import app
    from media import make_video

    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--model", "r3d", "--data", str(corpus), "--epochs", "1", "--json"])
    assert trained.exit_code == 0, trained.output
    out = json.loads(trained.stdout)["out"]
    assert json.loads((home / "runs" / out.rsplit("/", 1)[1] / "config.json").read_text())["model"]["streams"] == [
        "pose"]  # no --streams: the model's own
    evaluated = runner.invoke(app, ["evaluate", "--model", "r3d", "--json"])
    assert evaluated.exit_code == 0 and sum(map(sum, json.loads(evaluated.stdout)["confusion"])) > 0
    video = make_video(tmp_path / "long.mp4", frames=12 * 30, size=(64, 48))  # 12 s: 72 samples, 2 windows
    shown = runner.invoke(app, ["classify", str(video), "--model", "r3d", "--timeline", "--hop", "5", "--json"])
    assert shown.exit_code == 0, shown.output
    record = json.loads(shown.stdout)
    assert record["model"] == "r3d" and record["frames"] == 72
    assert [(w["start"], w["end"]) for w in record["windows"]] == [(0, 10), (2, 12)] and record["segments"]
