"""The flow stream: DIS flow with known motions, rate normalisation, edge cases, caches, checkpoints."""

from __future__ import annotations

import json
import sys
from fractions import Fraction

import numpy as np
import pytest

from dancestyle.errors import WeightsError
from dancestyle.features import mirror_flow
from dancestyle.flow import (DEFAULT_FLOW, FlowField, FlowSettings, MotionStacks, OpenCVMissing, check_opencv,
                             to_grey)
from dancestyle.video import iter_sampled_frames
from media import SMALL_CORPUS_STYLES, make_video

SIZE = DEFAULT_FLOW.size  # the flow's short side: a patch drawn at this size moves by exactly its pixels
BOUND = DEFAULT_FLOW.bound  # px per 1/30 s that normalised flow's 1 stands for
PATCH = tuple(round(n * SIZE / 128) for n in (48, 40, 30))  # the patch's side, top row, first left edge: the same
# share of the picture at any flow size (drawn for 128 px)


def moving_patch(time: float, speed: float = 90.0, size: tuple[int, int] = (SIZE, SIZE)) -> np.ndarray:
    """A textured square on a textured still background, its left edge at PATCH's left + speed * time px
    (sub-pixel) in a picture drawn at the flow's size, then resized to `size`."""
    import cv2

    from dancestyle.flow import flow_frame_size

    width, height = flow_frame_size(*size, SIZE)
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur((rng.random((height, width)) * 120).astype(np.uint8), (0, 0), 1.5)
    side, top, left = PATCH
    patch = cv2.GaussianBlur((rng.random((side, side)) * 255).astype(np.uint8), (0, 0), 1.0)
    layer = np.zeros((height, width), np.float32)
    layer[top:top + side, 0:side] = patch
    mask = np.zeros((height, width), np.float32)
    mask[top:top + side, 0:side] = 1
    shift = np.float32([[1, 0, left + speed * time], [0, 1, 0]])
    layer = cv2.warpAffine(layer, shift, (width, height))
    mask = cv2.warpAffine(mask, shift, (width, height))
    grey = np.clip(background * (1 - mask) + layer * mask, 0, 255).astype(np.uint8)
    if (width, height) != size:
        grey = cv2.resize(grey, size, interpolation=cv2.INTER_LINEAR)
    return np.repeat(grey[..., None], 3, axis=2)


def stacks_of(path, interval=Fraction(1, 6), flow=DEFAULT_FLOW) -> np.ndarray:
    return np.stack([sample.flow for sample in iter_sampled_frames(path, interval, 256, flow=flow)])


def test_a_patch_moving_right_3_px_a_frame_gives_positive_x_flow_of_that_size(tmp_path):
    """3 px per 1/30 s right: the patch's cells read about (3 - mean) / bound in x, ~0 in y; the still background
    reads slightly negative (the mean flow is subtracted)."""
    images = [moving_patch(i / 30) for i in range(20)]
    stacks = stacks_of(make_video(tmp_path / "right.mp4", 20, 30, size=(SIZE, SIZE), images=images))
    assert stacks.shape == (4, *DEFAULT_FLOW.shape)
    x, y = stacks[:, :, 0], stacks[:, :, 1]
    assert 2.4 < x.max() * BOUND < 3.6  # 3 px (+-20%: DIS without refinement overshoots at edges), in patch cells
    assert np.abs(y).max() * BOUND < 1.2 and np.abs(y).mean() * BOUND < 0.1 and x.min() * BOUND > -1.0
    cells = x[0, 0] * BOUND > 1.0  # where the moving patch is
    rows, columns = np.nonzero(cells)
    (side, top, left), cell = PATCH, SIZE / DEFAULT_FLOW.grid
    assert top // cell - 1 <= rows.min() and rows.max() <= (top + side) // cell and columns.min() >= left // cell - 1


def test_the_same_motion_at_60_or_25_fps_gives_the_same_normalised_flow(tmp_path):
    reference = stacks_of(make_video(tmp_path / "30.mp4", 30, 30, size=(SIZE, SIZE),
                                     images=[moving_patch(i / 30) for i in range(30)]))
    for fps in (60, 25):
        frames = fps  # one second
        other = stacks_of(make_video(tmp_path / f"{fps}.mp4", frames, fps, size=(SIZE, SIZE),
                                     images=[moving_patch(i / fps) for i in range(frames)]))
        assert other.shape == reference.shape
        # (the patch's edges differ a little between codecs' frames)
        assert np.abs(other - reference).mean() * BOUND < 0.1
        # where the patch moves, the same speed within 0.3 px of 3 on average (a single cell errs more: DIS
        # without refinement is blocky at the patch's edges, and at 60 fps its error is doubled with the flow)
        x, other_x = reference[:, :, 0], other[:, :, 0]
        moving = x * BOUND > 1.0
        assert moving.sum() > 100 and abs(other_x[moving].mean() - x[moving].mean()) * BOUND < 0.3


def test_variable_frame_gaps_are_rescaled_to_a_thirtieth_of_a_second():
    """Frames 1/30 s apart, then a gap of 2/30 s (a dropped frame): the same motion, about the same numbers."""

    def instants(frames: tuple[int, ...]) -> dict[int, np.ndarray]:
        stacks = MotionStacks(DEFAULT_FLOW, Fraction(1, 30), slack=Fraction(1, 240))
        done = []
        for time in (Fraction(k, 30) for k in frames):
            done += stacks.push(time, lambda t=time: to_grey(moving_patch(float(t)), SIZE))
        return dict(done + stacks.finish(Fraction(frames[-1] + 1, 30)))

    regular, gap = instants((0, 1, 2, 3, 4, 5, 6, 7, 8)), instants((0, 1, 3, 4, 5, 6, 7, 8))
    assert sorted(gap) == sorted(regular) == list(range(9))
    across_the_gap, unbroken = gap[1][0], regular[1][0]  # frame 1 -> 3 over 2/30 s, frame 1 -> 2 over 1/30 s
    assert unbroken[0].max() * BOUND > 2.0 and abs(across_the_gap[0].max() - unbroken[0].max()) * BOUND < 0.4
    assert np.abs(across_the_gap - unbroken).mean() * BOUND < 0.2


def test_one_frame_and_still_videos_give_zero_flow_not_an_error(tmp_path):
    one = stacks_of(make_video(tmp_path / "one.mp4", 1, 30, size=(SIZE, SIZE), images=[moving_patch(0)]))
    assert one.shape == (1, *DEFAULT_FLOW.shape) and not one.any()
    still = stacks_of(make_video(tmp_path / "still.mp4", 12, 30, size=(SIZE, SIZE),
                                 images=[moving_patch(0)] * 12))
    assert len(still) == 3 and np.abs(still).max() * BOUND < 0.1


def test_the_last_frame_borrows_the_flow_into_it():
    """Slots past the last frame's successor use the pair before it, so a clip's last sample still moves."""
    stacks = MotionStacks(DEFAULT_FLOW, Fraction(1, 6), slack=Fraction(1, 240))
    done = []
    for k in range(7):  # 7 frames: sample 1 (at frame 5) has only frame 6 after it
        done += stacks.push(Fraction(k, 30), lambda k=k: to_grey(moving_patch(k / 30), SIZE))
    done += stacks.finish(Fraction(7, 30))
    last = dict(done)[1]
    assert all(last[k][0].max() * BOUND > 2.0 for k in range(DEFAULT_FLOW.pairs))  # every slot moving, none zero
    np.testing.assert_array_equal(last[2], last[4])  # slots 2-4: the flow from frame 5 into frame 6


@pytest.mark.parametrize("size", [(16, 12), (3840, 2160)])
def test_tiny_and_2160p_frames_are_measured_at_the_flow_size(size):
    first, second = (to_grey(moving_patch(t, size=size), SIZE) for t in (0, 1 / 30))
    assert min(first.shape) == SIZE
    field = FlowField()(first, second, 1 / 30)
    assert field.shape == (2, DEFAULT_FLOW.grid, DEFAULT_FLOW.grid) and np.isfinite(field).all()
    if size[1] > SIZE:  # the 2160p patch moves 3 px at the flow size: the same numbers as a video of that size
        assert 2.0 < field[0].max() * BOUND < 3.2


def test_rotated_videos_give_the_flow_of_the_upright_picture(tmp_path):
    """Stored moving right, displayed turned 90 degrees clockwise: the dancer moves down on screen."""
    import av

    path = tmp_path / "phone.mp4"
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = SIZE, SIZE, "yuv420p"
    if not hasattr(stream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display matrix")
    stream.set_display_rotation(-90)
    for i in range(12):
        for packet in stream.encode(av.VideoFrame.from_ndarray(moving_patch(i / 30), format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    stacks = stacks_of(path)
    assert stacks[:, :, 1].max() * BOUND > 2.0 and np.abs(stacks[:, :, 0]).max() * BOUND < 1.0


def test_mirroring_flips_the_field_and_negates_x():
    stacks = np.random.default_rng(0).uniform(-1, 1, (3, *DEFAULT_FLOW.shape)).astype(np.float32)
    mirrored = mirror_flow(stacks)
    np.testing.assert_array_equal(mirrored[..., 0, :, :], -stacks[..., 0, :, ::-1])
    np.testing.assert_array_equal(mirrored[..., 1, :, :], stacks[..., 1, :, ::-1])
    np.testing.assert_array_equal(mirror_flow(mirrored), stacks)


def test_settings_round_trip_and_unreproducible_ones_are_refused():
    settings = FlowSettings(pairs=3, grid=8)
    assert FlowSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    assert settings.id != DEFAULT_FLOW.id and FlowSettings(preset="fast").id != DEFAULT_FLOW.id
    for recorded in ({"algorithm": "tvl1"}, {"preset": "slow"}, {"warp": 2}, {"refinement": -1}):
        with pytest.raises(WeightsError, match="cannot reproduce"):
            FlowSettings.from_dict({**DEFAULT_FLOW.to_dict(), **recorded})


def test_a_checkpoint_older_than_a_setting_gets_the_value_it_was_made_with():
    older = {key: value for key, value in FlowSettings(refinement=5).to_dict().items() if key != "refinement"}
    assert FlowSettings.from_dict(older).refinement == 5
    assert FlowSettings(refinement=0).id != FlowSettings(refinement=5).id


def test_variational_refinement_is_what_the_settings_say():
    import cv2

    first = np.random.default_rng(1).integers(0, 255, (64, 96), dtype=np.uint8)
    first = cv2.GaussianBlur(first, (7, 7), 0)
    second = np.roll(first, 2, axis=1)
    refined, raw = (FlowField(FlowSettings(refinement=n)).raw(first, second) for n in (5, 0))
    assert not np.allclose(refined, raw)
    assert abs(np.median(raw[..., 0]) - 2) < 0.5  # without it DIS still finds the motion


@pytest.mark.parametrize("algorithm", ["dis", "farneback"])
def test_both_algorithms_measure_a_known_shift(algorithm):
    """A smooth texture shifted 3 px right at the flow size: both algorithms read ~3 px in x, ~0 in y."""
    import cv2

    first = cv2.GaussianBlur(np.random.default_rng(1).integers(0, 255, (SIZE, 170), dtype=np.uint8), (7, 7), 0)
    raw = FlowField(FlowSettings(algorithm=algorithm)).raw(first, np.roll(first, 3, axis=1))
    assert abs(np.median(raw[..., 0]) - 3) < 0.05 and abs(np.median(raw[..., 1])) < 0.05


def test_farneback_is_recorded_and_cached_apart_from_dis():
    farneback = FlowSettings(algorithm="farneback")
    assert FlowSettings.from_dict(json.loads(json.dumps(farneback.to_dict()))) == farneback
    assert farneback.id.startswith("farneback-") and DEFAULT_FLOW.id.startswith("dis-medium-")


def test_missing_opencv_names_the_package(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)
    with pytest.raises(OpenCVMissing) as caught:
        check_opencv()
    assert "opencv-python-headless" in caught.value.hint


# -- the stream in training, evaluation and classification ------------------------------------------------------


def flow_options(corpus, out, **changes):
    from dancestyle.train import TrainOptions

    base = dict(model="attention", data=corpus, out=out, epochs=30, patience=30, streams=["flow"], seed=3)
    return TrainOptions(**{**base, **changes})


def clip_video(clip, path, lossless: bool = True):
    """A test clip's JPEG frames as a video at its frame rate: lossless (FFV1), or H.264 as a user's would be."""
    from PIL import Image

    images = [np.array(Image.open(frame).convert("RGB")) for frame in clip.frames]
    height, width = images[0].shape[:2]
    codec, pix_fmt = ("ffv1", "bgr0") if lossless else ("libx264", "yuv420p")
    return make_video(path.with_suffix(".mkv" if lossless else ".mp4"), len(images), clip.frame_rate,
                      codec=codec, pix_fmt=pix_fmt, size=(width, height), images=images)


def test_a_clips_video_gives_the_flow_of_its_frame_folder(corpus, tmp_path):
    """Training reads frame folders, classify reads videos: the same pixels give the same flow stacks (a lossy
    codec changes the pixels, and so the flow: models.md measures what that costs)."""
    from dancestyle.data import index_dataset
    from dancestyle.extract import clip_samples

    clip = index_dataset(corpus, None).clips[0]
    folder = np.stack([sample.flow for sample in clip_samples(clip, 512, DEFAULT_FLOW, images=False)])
    lossless = stacks_of(clip_video(clip, tmp_path / "clip"))
    assert lossless.shape == folder.shape
    # video luma and RGB grey differ by a rounding, which moves a few flow values a little (0.16% by more than
    # 1e-3 on the corpus's first clip; a change of pixels moves most of them)
    assert np.mean(np.abs(lossless - folder) > 1e-3) < 0.005
    h264 = stacks_of(clip_video(clip, tmp_path / "clip", lossless=False))
    assert h264.shape == folder.shape and np.corrcoef(h264.ravel(), folder.ravel())[0, 1] > 0.3


@pytest.mark.slow
def test_flow_caches_are_reused_and_remade_when_a_setting_changes(corpus, home, tmp_path, monkeypatch):
    import dancestyle.extract as extract
    from dancestyle.features import cache_root
    from dancestyle.train import train

    made = []
    real_folder_flow = extract.folder_flow
    monkeypatch.setattr(extract, "folder_flow", lambda clip, flow, interval: made.append(flow)
                        or real_folder_flow(clip, flow, interval))
    train(flow_options(corpus, tmp_path / "a", epochs=1))
    clips = len(made)
    folders = [p.name for p in cache_root(corpus).iterdir()]
    assert clips == 32 and folders == [f"flow-{DEFAULT_FLOW.id}-s5-{folders[0][-8:]}"]
    train(flow_options(corpus, tmp_path / "b", epochs=1, model="lstm"))
    assert len(made) == clips  # the same settings: every clip read from the cache
    other = FlowSettings(pairs=3, grid=8)
    train(flow_options(corpus, tmp_path / "c", epochs=1, flow=other))
    assert len(made) == 2 * clips and made[-1] == other and len(list(cache_root(corpus).iterdir())) == 2
    stored = json.loads((tmp_path / "c" / "config.json").read_text())["features"]["flow"]
    assert FlowSettings.from_dict(stored) == other


@pytest.mark.slow
@pytest.mark.parametrize("fusion", ["early", "late"])
def test_a_pose_and_flow_run_learns_a_tiny_synthetic_set(corpus, home, tmp_path, fusion):
    from dancestyle.checkpoints import model_card, read_checkpoint
    from dancestyle.evaluate import evaluate_run
    from dancestyle.checkpoints import load_classifier
    from dancestyle.train import TrainOptions, train

    def metrics_json(run):
        return json.loads((run / "metrics.json").read_text())

    summary = train(flow_options(corpus, tmp_path / "run", streams=["pose", "flow"], epochs=40, patience=40,
                                 overrides={"fusion": fusion}))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["fusion"] == fusion
    history = summary["history"]  # the training clips are learnt (held-out ones need more than a test's epochs)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert 0 <= evaluate_run(str(tmp_path / "run"), "attention", None, "test").metrics.accuracy <= 1
    if fusion == "late":  # each stream's temperature, fit on the validation split once training ends
        assert set(config["calibration"]["temperatures"]) == {"pose", "flow"}
        assert summary["calibration"] == config["calibration"] == metrics_json(tmp_path / "run")["calibration"]
        assert load_classifier(config, read_checkpoint(tmp_path / "run")[1], tmp_path).sequence.temperatures \
            == config["calibration"]["temperatures"]
        assert json.dumps(config["calibration"]["temperatures"]) in model_card(tmp_path / "run", "someone/pf")
        # resuming the finished run fits them again from the same weights: the same temperatures
        (tmp_path / "run" / "config.json").write_text(json.dumps({**config, "calibration": None}))
        again = train(TrainOptions(model="attention", out=tmp_path / "run", resume=True))
        assert again["epochs_run"] == summary["epochs_run"] and again["calibration"] == config["calibration"]
    else:
        assert "calibration" not in config


@pytest.mark.slow
def test_a_flow_model_classifies_videos_of_its_clips_as_evaluate_scores_the_frames(corpus, home, tmp_path):
    """Trained on frame folders, classified as video files: the flow `classify` computes is the flow training
    saw, so the held-out clips get the labels evaluate gives them."""
    from dancestyle.data import index_dataset
    from dancestyle.splits import load_or_make_splits
    from dancestyle.evaluate import evaluate_run
    from dancestyle.pipeline import load_model
    from dancestyle.train import train

    train(flow_options(corpus, tmp_path / "run"))
    evaluated = evaluate_run(str(tmp_path / "run"), "attention", None, "test")
    index = index_dataset(corpus, None)
    test_clips = index.clips_for(load_or_make_splits(corpus, index)["test"])
    pipeline = load_model("attention", weights=str(tmp_path / "run"), device="cpu")
    expected = {p.path.split(" ")[0]: p.label for p in evaluated.predictions}
    agree = [pipeline.classify(clip_video(clip, tmp_path / clip.key.replace("/", "_"))).label
             == expected[clip.key] for clip in test_clips]
    assert sum(agree) >= len(agree) - 1  # (the cache holds float16: a near-tie may flip)


@pytest.mark.slow
def test_a_checkpoint_with_flow_settings_classify_cannot_make_is_refused(corpus, home, tmp_path):
    from dancestyle.pipeline import load_model
    from dancestyle.train import train

    train(flow_options(corpus, tmp_path / "run", epochs=1))
    config_path = tmp_path / "run" / "config.json"
    config = json.loads(config_path.read_text())
    config["features"]["flow"]["algorithm"] = "tvl1"
    config_path.write_text(json.dumps(config))
    with pytest.raises(WeightsError, match="cannot reproduce"):
        load_model("attention", weights=str(tmp_path / "run"), device="cpu")


@pytest.mark.slow
def test_the_frame_baseline_trains_evaluates_and_classifies(corpus, home, tmp_path, fake_pose):
    from typer.testing import CliRunner

    from dancestyle.cli import app

    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--model", "frame", "--data", str(corpus), "--streams", "flow,pose",
                                  "--epochs", "15", "--out", str(tmp_path / "run"), "--json"])
    assert trained.exit_code == 0, trained.output
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["name"] == "frame" and config["model"]["streams"] == ["pose", "flow"]
    history = json.loads(trained.stdout)["history"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    evaluated = runner.invoke(app, ["evaluate", "--model", "frame", "--weights", str(tmp_path / "run"), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["clips"] > 0
    from dancestyle.data import index_dataset

    clip = index_dataset(corpus, None).clips[0]
    classified = runner.invoke(app, ["classify", str(clip_video(clip, tmp_path / "clip")), "--model", "frame",
                                     "--weights", str(tmp_path / "run"), "--json"])
    assert classified.exit_code == 0, classified.output
    record = json.loads(classified.stdout)
    assert record["model"] == "frame" and record["label"] in SMALL_CORPUS_STYLES and fake_pose.built
    from dancestyle.checkpoints import model_card

    card = model_card(tmp_path / "run", "someone/letsdance-frame")
    assert "A `frame` dance-style classifier" in card and f'"pairs": {DEFAULT_FLOW.pairs}' in card


def test_own_videos_train_on_their_flow(home, tmp_path):
    """A <style>/<video> dataset: flow from the decoded videos, cached per clip like frame folders' flow."""
    from dancestyle.features import cache_root
    from dancestyle.train import train

    videos = tmp_path / "videos"
    for number, style in enumerate(("left", "right", "still")):
        (videos / style).mkdir(parents=True)
        speed = {"left": -90.0, "right": 90.0, "still": 0.0}[style]
        for source in range(3):
            images = [moving_patch(i / 30 + source / 10, speed=speed) for i in range(24)]
            make_video(videos / style / f"src{number}{source}_001.mp4", 24, 30, size=(SIZE, SIZE), images=images)
    summary = train(flow_options(videos, tmp_path / "run", epochs=2, classes=10))
    assert summary["clips"]["train"] >= 3
    cached = list(cache_root(videos).rglob("*.safetensors"))
    assert len(cached) == 9 and all(path.parent.parent.name.startswith("flow-") for path in cached)


def test_settings_at_another_size_scale_the_clip_bound_with_it():
    smaller = DEFAULT_FLOW.at_size(DEFAULT_FLOW.size * 3 // 4)
    assert (smaller.size, smaller.bound) == (DEFAULT_FLOW.size * 3 // 4, DEFAULT_FLOW.bound * 0.75)
    assert smaller.id != DEFAULT_FLOW.id and smaller.pairs == DEFAULT_FLOW.pairs
