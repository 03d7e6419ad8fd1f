"""Pose backends: the registry, the fast backend's pre/post-processing on hand-made network outputs whose right
answer is known, its real loading code against the stand-in Hub, and the backend a checkpoint records."""

import hashlib
import io
import json
import sys
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import test_hub
from typer.testing import CliRunner

from dancestyle.cli import app
from dancestyle.errors import ChecksumError, UsageError
from dancestyle.pose import (DEFAULT_POSE, MAX_PEOPLE, POSE_BACKENDS, PoseSource, available_pose_backends,
                             create_pose_estimator, pose_backend)
from dancestyle.pose.rtmpose import (PERSON_NMS_IOU, POSE_HEIGHT, POSE_WIDTH, SIMCC_SPLIT_RATIO, OnnxNetwork,
                                     RTMPoseEstimator, TorchNetwork, crop_boxes, crop_people, decode_simcc,
                                     frame_boxes, letterbox, suppress_overlaps)

hub = test_hub.hub  # the stand-in Hub fixture

# -- registry --------------------------------------------------------------------------------------------------------


def test_registry_lists_the_backends_and_refuses_unknown_names():
    assert DEFAULT_POSE in POSE_BACKENDS and "rcnn" in POSE_BACKENDS
    assert available_pose_backends() == list(POSE_BACKENDS)
    with pytest.raises(UsageError, match="rcnn"):
        pose_backend("openpose")
    for backend in POSE_BACKENDS.values():
        assert backend.license in ("Apache-2.0", "BSD-3-Clause", "MIT")  # nothing AGPL/GPL


def test_unknown_pose_on_the_command_line_is_a_usage_error(tmp_path):
    result = CliRunner().invoke(app, ["classify", str(tmp_path / "x.mp4"), "--pose", "openpose"])
    assert result.exit_code == 2
    assert "rtmpose-t" in result.output and "rcnn" in result.output


@pytest.mark.parametrize("source", [PoseSource(None), PoseSource("rtmpose-t", 512), PoseSource("rcnn", 384, True),
                                    PoseSource("rtmpose-s", 640, True)])
def test_pose_source_ids_parse_back(source):
    assert PoseSource.parse(source.id) == source


def test_sources_from_before_backends_are_keypoint_rcnn():
    assert PoseSource.parse("estimator-512") == PoseSource("rcnn", 512, False)
    assert PoseSource.parse("estimator-random-384") == PoseSource("rcnn", 384, True)


# -- pre- and post-processing with known answers ---------------------------------------------------------------------


def test_letterbox_scales_to_fit_pads_grey_and_feeds_bgr():
    image = np.zeros((360, 640, 3), np.uint8)
    image[..., 0] = 255  # pure red in RGB
    network_input, ratio = letterbox(image)
    assert network_input.shape == (3, 320, 320) and ratio == 0.5
    # the frame fills the top 180 rows; red lands in the last (R of BGR) channel
    assert network_input[2, 0, 0] == pytest.approx((255 - 123.675) / 58.395)
    assert network_input[1, 0, 0] == pytest.approx((0 - 116.28) / 57.12)
    assert network_input[0, 0, 0] == pytest.approx((0 - 103.53) / 57.375)
    assert network_input[0, 200, 10] == pytest.approx((114 - 103.53) / 57.375)  # padding below the frame


def test_frame_boxes_go_back_to_frame_pixels_best_first_and_filtered():
    dets = np.array([[10, 10, 50, 100, 0.4],   # kept, second best
                     [0, 0, 20, 20, 0.1],      # below the threshold
                     [100, 20, 400, 300, 0.9],  # kept, best; clipped to the 640-wide frame at ratio 0.5
                     [30, 30, 30.2, 80, 0.8],   # less than a pixel wide in the frame: dropped
                     [5, 5, 60, 90, 0.95]], np.float32)  # not a person (label 1)
    labels = np.array([0, 0, 0, 0, 1])
    boxes = frame_boxes(dets, labels, ratio=0.5, width=640, height=360)
    np.testing.assert_allclose(boxes, [[200, 40, 640, 360, 0.9], [20, 20, 100, 200, 0.4]])


def test_at_most_twenty_people_are_kept():
    scores = np.linspace(0.99, 0.5, 30)
    lefts = np.arange(30) * 20.0  # side by side, apart: the second NMS keeps them all
    dets = np.column_stack([lefts, np.zeros(30), lefts + 15, np.full(30, 100), scores])
    boxes = frame_boxes(dets, np.zeros(30), 1.0, 640, 360)
    assert len(boxes) == MAX_PEOPLE
    np.testing.assert_allclose(boxes[:, 4], scores[:MAX_PEOPLE], rtol=1e-6)


def test_a_person_box_overlapping_a_better_one_by_more_than_the_nms_iou_goes():
    assert PERSON_NMS_IOU == 0.3  # mmpose's top-down demo (--nms-thr)
    worse, better = [0, 0, 10, 10, 0.6], [5, 0, 15, 10, 0.8]  # IoU 50 / 150 = 0.33
    np.testing.assert_allclose(suppress_overlaps(np.array([worse, better], np.float32)), [better])


def test_person_boxes_overlapping_less_than_the_nms_iou_are_both_kept():
    worse, better = [0, 0, 10, 10, 0.6], [6, 0, 16, 10, 0.8]  # IoU 40 / 160 = 0.25
    np.testing.assert_allclose(suppress_overlaps(np.array([worse, better], np.float32)), [better, worse])


def test_suppression_keeps_zero_scores_and_takes_no_boxes():
    apart = np.array([[0, 0, 10, 10, 0.0], [20, 0, 30, 10, 0.0]], np.float32)  # a 0.0 detection threshold keeps these
    np.testing.assert_allclose(suppress_overlaps(apart), apart)
    assert suppress_overlaps(np.zeros((0, 5), np.float32)).shape == (0, 5)


@pytest.mark.parametrize("second_left, people", [(40, 1), (90, 2)])  # IoU 0.6: one person; IoU 0.07: two
def test_the_backend_runs_the_second_nms_on_the_detectors_people(second_left, people):
    import torch

    from dancestyle.pose.rtm_networks import rtmdet_nano, rtmpose

    detector = rtmdet_nano(people=2)
    detector.boxes.copy_(torch.tensor([[20, 20, 100, 170, 0.9], [second_left, 20, second_left + 80, 170, 0.8]]))
    estimator = RTMPoseEstimator("t", networks=(TorchNetwork(detector), TorchNetwork(rtmpose("t"))))
    boxes = estimator.detect(np.zeros((320, 320, 3), np.uint8))  # ratio 1: detector pixels are frame pixels
    np.testing.assert_allclose(boxes[:, 0], [20, second_left][:people], atol=1e-3)


def test_pose_crops_are_rgb_normalised_with_mmposes_statistics():
    """mmpose's RTMPose configs: data_preprocessor bgr_to_rgb=True, mean (123.675, 116.28, 103.53), std (58.395,
    57.12, 57.375). Frames are RGB (video.py), so pure red must reach channel 0 unchanged in order."""
    image = np.zeros((360, 640, 3), np.uint8)
    image[..., 0] = 255
    centres, sizes = crop_boxes(np.array([[250, 100, 350, 250]], np.float32))  # the crop lies inside the frame
    crop = crop_people(image, centres, sizes)[0]
    np.testing.assert_allclose(crop[0], (255 - 123.675) / 58.395, rtol=1e-6)
    np.testing.assert_allclose(crop[1], (0 - 116.28) / 57.12, rtol=1e-6)
    np.testing.assert_allclose(crop[2], (0 - 103.53) / 57.375, rtol=1e-6)


def test_crops_are_padded_and_grown_to_three_by_four():
    centres, sizes = crop_boxes(np.array([[100, 100, 140, 300], [0, 0, 400, 100]], np.float32))
    np.testing.assert_allclose(centres, [[120, 200], [200, 50]])
    np.testing.assert_allclose(sizes, [[250 * 0.75, 250], [500, 500 / 0.75]])  # tall: width grows; wide: height


def test_a_keypoint_goes_through_crop_and_simcc_back_to_where_it_was():
    """A bright dot in the frame is found in the crop the pose network sees; a SimCC peak placed there decodes
    back to the dot's frame position."""
    image = np.zeros((360, 640, 3), np.uint8)
    dot = (301, 187)
    image[dot[1], dot[0]] = 255
    centres, sizes = crop_boxes(np.array([[250, 100, 350, 330]], np.float32))
    crop = crop_people(image, centres, sizes)[0]
    brightest = np.unravel_index(crop[0].argmax(), crop[0].shape)  # (row, column) in the 256 x 192 crop
    simcc_x = np.zeros((1, 17, int(POSE_WIDTH * SIMCC_SPLIT_RATIO)), np.float32)
    simcc_y = np.zeros((1, 17, int(POSE_HEIGHT * SIMCC_SPLIT_RATIO)), np.float32)
    simcc_x[0, :, int(brightest[1] * SIMCC_SPLIT_RATIO)] = 1
    simcc_y[0, :, int(brightest[0] * SIMCC_SPLIT_RATIO)] = 1
    keypoints = decode_simcc(simcc_x, simcc_y, centres, sizes)
    assert keypoints.shape == (1, 17, 2)
    scale = sizes[0, 1] / POSE_HEIGHT  # frame pixels per crop pixel
    np.testing.assert_allclose(keypoints[0, 0], dot, atol=scale + 0.5)


@pytest.fixture(scope="module")
def stand_in_home(tmp_path_factory):
    """One DANCESTYLE_HOME for this module's random-weights runs: the stand-ins are exported once for them all."""
    with pytest.MonkeyPatch.context() as patch:
        home = tmp_path_factory.mktemp("stand-ins") / "home"
        patch.setenv("DANCESTYLE_HOME", str(home))
        yield home


def test_random_weights_keep_a_realistic_fixed_number_of_people(stand_in_home):
    estimator = create_pose_estimator("rtmpose-t", random_weights=True)
    frames = [np.full((144, 176, 3), 90, np.uint8), np.full((1080, 1920, 3), 90, np.uint8),
              np.full((640, 360, 3), 90, np.uint8)]  # tiny, big, portrait
    people = estimator.estimate(frames)
    assert [p.shape for p in people] == [(5, 17, 2)] * 3
    for frame, skeletons in zip(frames, people):  # keypoints land around the boxes inside the frame
        assert np.isfinite(skeletons).all()
        assert (skeletons[..., 0] > -frame.shape[1]).all() and (skeletons[..., 0] < 2 * frame.shape[1]).all()


# -- the random stand-ins run as the real files do: onnxruntime, on an export made once ---------------------------


def _torch_stand_ins(variant: str = "t", people: int = 5) -> RTMPoseEstimator:
    """The same seeded stand-ins as random_weights builds, run as torch modules."""
    from dancestyle.pose.rtm_networks import rtmdet_nano, rtmpose
    from dancestyle.pose.rtmpose import seeded_stand_in

    networks = (TorchNetwork(seeded_stand_in(rtmdet_nano, people)), TorchNetwork(seeded_stand_in(rtmpose, variant)))
    return RTMPoseEstimator(variant, networks=networks)


def test_random_weights_run_the_stand_ins_in_onnxruntime_with_the_torch_modules_results(stand_in_home):
    exported = RTMPoseEstimator("t", random_weights=True)
    assert isinstance(exported.detector, OnnxNetwork) and isinstance(exported.pose, OnnxNetwork)
    assert not exported.torch_stand_ins
    in_torch = _torch_stand_ins()
    crops = np.random.default_rng(0).normal(size=(3, 3, POSE_HEIGHT, POSE_WIDTH)).astype(np.float32)
    for ours, theirs in zip(exported.pose(crops), in_torch.pose(crops)):  # float32: the same up to rounding
        np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-4)
    frame = np.random.default_rng(1).integers(0, 256, (360, 640, 3), dtype=np.uint8)
    (ours,), (theirs,) = exported.estimate([frame]), in_torch.estimate([frame])
    assert ours.shape == theirs.shape == (5, 17, 2)
    assert np.mean(np.abs(ours - theirs) < 1e-3) > 0.95  # an arg-max tie broken the other way moves a keypoint


def _counted(network, calls: list):
    """`network`, recording the batch size of each call."""
    def call(batch):
        calls.append(len(batch))
        return network(batch)

    return call


def test_batched_frames_and_crops_give_the_keypoints_of_one_call_each(stand_in_home):
    """estimate runs the detector once on all its frames and the pose network once on all their people's crops; a
    static batch-1 export (batchable False) runs one frame and one crop a call. Both give the same keypoints."""
    batched = RTMPoseEstimator("t", random_weights=True, random_people=6)
    one_by_one = RTMPoseEstimator("t", random_weights=True, random_people=6)
    one_by_one.detector.batchable = one_by_one.pose.batchable = False
    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, size, dtype=np.uint8) for size in ((360, 640, 3), (640, 360, 3), (720, 1280, 3))]
    crops = rng.normal(size=(6, 3, POSE_HEIGHT, POSE_WIDTH)).astype(np.float32)
    for ours, theirs in zip(batched.pose(crops), one_by_one.pose(crops)):  # the networks' outputs
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
    detector_calls, pose_calls = [], []
    batched.detector, batched.pose = _counted(batched.detector, detector_calls), _counted(batched.pose, pose_calls)
    ours, theirs = batched.estimate(frames), one_by_one.estimate(frames)
    assert detector_calls == [3] and pose_calls == [18]
    assert [p.shape for p in ours] == [p.shape for p in theirs] == [(6, 17, 2)] * 3
    for mine, one in zip(ours, theirs):
        np.testing.assert_allclose(mine, one, atol=1e-3)
    assert batched.estimate([]) == []


def test_the_stand_ins_are_exported_once_and_the_export_is_reused(home, monkeypatch):
    from dancestyle.pose import rtm_networks

    exports = []

    def counted(module, kind, path):
        exports.append(Path(path).name)
        return real_export(module, kind, path)

    real_export = rtm_networks.export_onnx
    monkeypatch.setattr(rtm_networks, "export_onnx", counted)
    RTMPoseEstimator("t", random_weights=True)
    assert len(exports) == 2 and sorted(p.name for p in (home / "standins").iterdir()) == sorted(exports)
    RTMPoseEstimator("t", random_weights=True)  # a later run: the same weights, so the same files
    assert len(exports) == 2
    RTMPoseEstimator("t", random_weights=True, random_people=2)  # another detector; the pose network is kept
    assert len(exports) == 3 and exports[-1].startswith("rtmdet-nano-2-people-")


def test_a_stand_in_whose_weights_change_is_exported_under_another_name(home):
    from dancestyle.pose.rtm_networks import rtmpose
    from dancestyle.pose.rtmpose import seeded_stand_in, stand_in_path

    module = seeded_stand_in(rtmpose, "t")
    before = stand_in_path(module, "pose", "rtmpose-t")
    assert stand_in_path(seeded_stand_in(rtmpose, "t"), "pose", "rtmpose-t") == before  # seeded: the same every time
    module.head.gau.res_scale.data[0] += 1
    assert stand_in_path(module, "pose", "rtmpose-t") != before


def test_without_onnx_the_stand_ins_run_in_torch_and_classify_says_so(home, monkeypatch):
    from dancestyle.pipeline import load_model

    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed: `import onnx` fails
    estimator = RTMPoseEstimator("t", random_weights=True)
    assert isinstance(estimator.detector, TorchNetwork) and isinstance(estimator.pose, TorchNetwork)
    assert estimator.torch_stand_ins and not (home / "standins").exists()
    cautions = load_model("lstm", device="cpu", random_weights=True, pose="rtmpose-t").cautions
    assert [c for c in cautions if "pip install onnx" in c and "torch modules" in c] and len(cautions) == 1


# -- the real loading code against the stand-in Hub -------------------------------------------------------------------


def _zip(member: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{member.split('/')[0]}/pipeline.json", "{}")
        archive.writestr(member, data)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def onnx_models(tmp_path_factory):
    """Random networks with the published inputs and outputs, exported to ONNX here (never committed)."""
    import torch

    from dancestyle.pose.rtm_networks import export_onnx, rtmdet_nano, rtmpose

    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    detector = export_onnx(rtmdet_nano(people=3), "detector", folder / "det.onnx").read_bytes()
    pose = export_onnx(rtmpose("t"), "pose", folder / "pose.onnx").read_bytes()
    return detector, pose


@pytest.fixture
def served_rtmpose(hub, onnx_models, monkeypatch):
    """The stand-in Hub serves the two zips at the pinned paths on its main (the published zips' hashes are
    dropped); the pins name the test networks' hashes."""
    from dancestyle import weights

    def servable(pin: weights.ZipMember) -> weights.ZipMember:
        return weights.ZipMember(replace(pin.archive, revision="main", sha256=""), pin.member, "")

    detector, pose = onnx_models
    pins = {"det": servable(weights.RTMDET_NANO), "pose": servable(weights.RTMPOSE["t"])}
    hub.publish(pins["det"].archive.repo, {pins["det"].archive.filename: _zip("rtmdet/end2end.onnx", detector),
                                           pins["pose"].archive.filename: _zip("rtmpose-t/end2end.onnx", pose)})
    monkeypatch.setattr(weights, "RTMDET_NANO",
                        weights.ZipMember(pins["det"].archive, "end2end.onnx", hashlib.sha256(detector).hexdigest()))
    monkeypatch.setattr(weights, "RTMPOSE", {"t": pins["pose"]})  # hash unknown: recorded at first download
    return hub


def test_the_fast_backend_downloads_verifies_and_runs(served_rtmpose, tmp_path):
    estimator = RTMPoseEstimator("t")
    people = estimator.estimate([np.full((360, 640, 3), 120, np.uint8), np.full((144, 176, 3), 30, np.uint8)])
    assert [p.shape for p in people] == [(3, 17, 2), (3, 17, 2)]  # the test detector reports 3 people
    recorded = json.loads((tmp_path / "home" / "pins.json").read_text())
    assert len(recorded) == 1 and next(iter(recorded)).endswith("!end2end.onnx")  # RTMPose-t's unknown hash
    RTMPoseEstimator("t")  # the second load checks the recorded hash and passes


def test_a_changed_file_fails_its_recorded_hash(served_rtmpose, tmp_path):
    from dancestyle.weights import RTMPOSE

    (tmp_path / "home").mkdir(parents=True, exist_ok=True)
    pin = RTMPOSE["t"]
    where = f"{pin.archive.repo}@{pin.archive.revision}/{pin.archive.filename}!{pin.member}"
    (tmp_path / "home" / "pins.json").write_text(json.dumps({where: "0" * 64}))
    with pytest.raises(ChecksumError, match="sha256"):
        RTMPoseEstimator("t")


def test_a_pinned_hash_that_does_not_match_is_refused(served_rtmpose, monkeypatch):
    from dancestyle import weights

    monkeypatch.setattr(weights, "RTMDET_NANO", weights.ZipMember(weights.RTMDET_NANO.archive, "end2end.onnx",
                                                                  "f" * 64))
    with pytest.raises(ChecksumError):
        RTMPoseEstimator("t")


# -- the backend a checkpoint records ---------------------------------------------------------------------------------


def _checkpoint(directory, pose_source=None, legacy=False):
    import torch

    from dancestyle.configs import default_config
    from dancestyle.models import DanceClassifier
    from dancestyle.checkpoints import checkpoint_config
    from dancestyle.checkpoints import save_checkpoint

    torch.manual_seed(0)
    classifier = DanceClassifier(default_config("lstm", streams=["pose"]))
    config = checkpoint_config(classifier.config.to_dict(), pose_source,
                               frame_size=pose_source.frame_size if pose_source else 512)  # as train writes it
    config["training"] = {"pose_source": (pose_source or PoseSource(None)).id}  # as train records it
    if legacy:  # what checkpoints said before pose backends existed
        config["features"]["pose"] = {"estimator": "keypointrcnn_resnet50_fpn.COCO_V1", "detector_size": 512}
    return save_checkpoint(directory, classifier.state_dict(), config)


@pytest.fixture
def clip(tmp_path):
    from media import make_video

    return make_video(tmp_path / "clip.mp4", frames=60, size=(64, 48))


@pytest.mark.parametrize("pose_source, legacy, expected", [
    (PoseSource("rcnn", 384), False, ("rcnn", 384)),
    (PoseSource("rtmpose-s", 512), False, ("rtmpose-s", 512)),
    (PoseSource(None), False, (DEFAULT_POSE, 512)),  # Let's Dance skeleton files: COCO-17, the default backend
    (None, True, ("rcnn", 512)),  # an old checkpoint means Keypoint R-CNN
])
def test_classify_runs_the_backend_the_checkpoint_records(pose_source, legacy, expected, clip, tmp_path, fake_pose,
                                                          isolated_home):
    checkpoint = _checkpoint(tmp_path / "ckpt", pose_source, legacy)
    result = CliRunner().invoke(app, ["classify", str(clip), "--weights", str(checkpoint), "--json"])
    assert result.exit_code == 0, result.output
    assert fake_pose.built == [(*expected, False)]
    assert "trained on poses from" not in result.stderr


def test_another_backend_than_the_recorded_one_warns(clip, tmp_path, fake_pose, isolated_home):
    checkpoint = _checkpoint(tmp_path / "ckpt", PoseSource("rcnn", 512))
    result = CliRunner().invoke(app, ["classify", str(clip), "--weights", str(checkpoint), "--pose", "rtmpose-t"])
    assert result.exit_code == 0, result.output
    assert fake_pose.built == [("rtmpose-t", 512, False)]
    assert "trained on poses from `rcnn`" in " ".join(result.stderr.split())


def test_a_corrupt_cached_archive_is_downloaded_once_more(served_rtmpose, tmp_path):
    from huggingface_hub import try_to_load_from_cache

    from dancestyle.weights import RTMDET_NANO

    RTMPoseEstimator("t")
    cached = Path(try_to_load_from_cache(RTMDET_NANO.archive.repo, RTMDET_NANO.archive.filename))
    cached.resolve().write_bytes(b"PK\x03\x04 not a zip any more")
    downloads = served_rtmpose.count("GET", RTMDET_NANO.archive.filename)
    RTMPoseEstimator("t")  # the bad copy fails its check, the Hub's copy passes
    assert served_rtmpose.count("GET", RTMDET_NANO.archive.filename) == downloads + 1


def test_pose_weights_that_cannot_be_had_say_which_where_and_what_to_do(clip, tmp_path, isolated_home):
    """No fake backend here: the real rtmpose-s loading code, offline with an empty cache."""
    checkpoint = _checkpoint(tmp_path / "ckpt", PoseSource("rtmpose-s", 512))
    result = CliRunner().invoke(app, ["classify", str(clip), "--weights", str(checkpoint)])
    said = " ".join(result.stderr.split())
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert "rtmpose-s pose backend" in said and "Tau-J/RTMPose" in said and "Hugging Face cache" in said
    assert "--pose rcnn" in said and "--random-weights" in said


def test_frames_with_nobody_give_empty_skeletons():
    from dancestyle.pose.rtm_networks import rtmdet_nano, rtmpose

    estimator = RTMPoseEstimator("t", networks=(TorchNetwork(rtmdet_nano(people=0)), TorchNetwork(rtmpose("t"))))
    assert [p.shape for p in estimator.estimate([np.zeros((48, 64, 3), np.uint8)] * 2)] == [(0, 17, 2)] * 2


def test_a_model_trained_on_the_datasets_skeleton_files_says_classify_runs_a_backend(clip, tmp_path, fake_pose,
                                                                                      isolated_home):
    checkpoint = _checkpoint(tmp_path / "ckpt", PoseSource(None))
    result = CliRunner().invoke(app, ["classify", str(clip), "--weights", str(checkpoint)])
    said = " ".join(result.stderr.split())
    assert result.exit_code == 0 and "dataset's own skeleton files" in said and f"`{DEFAULT_POSE}` backend" in said
    assert "--pose-source estimator" in said


def test_models_without_a_pose_stream_decode_at_the_training_frame_size(tmp_path, isolated_home):
    """The RGB stream's frames are decoded at the size training decoded them at, pose stream or not."""
    import torch

    from dancestyle.configs import default_config
    from dancestyle.models import DanceClassifier
    from dancestyle.checkpoints import checkpoint_config
    from dancestyle.pipeline import load_model
    from dancestyle.recipe import FeatureRecipe
    from dancestyle.checkpoints import save_checkpoint

    torch.manual_seed(0)
    classifier = DanceClassifier(default_config("lstm", streams=["rgb"]))
    config = checkpoint_config(classifier.config.to_dict(), frame_size=384, rgb_weights="random-seed-0")
    save_checkpoint(tmp_path / "ckpt", classifier.state_dict(), config)
    assert load_model(weights=str(tmp_path / "ckpt")).frame_size == 384
    older = {"model": {"name": "lstm"}, "features": {"pose": {"detector_size": 640}}}  # an older checkpoint
    assert FeatureRecipe.from_checkpoint(older).frame_size == 640
