import os

import numpy as np
import pytest
import torch

from dancestyle.pose.rtm_networks import (DETECTOR_INPUT_SIZE, POSE_INPUT_SIZE, SIMCC_SPLIT_RATIO, export_onnx,
                                          rtmdet_nano, rtmpose)

# mmpose's projects/rtmpose/README.md, in millions of parameters
PUBLISHED_PARAMS = {"rtmdet-nano": 0.99, "rtmpose-t": 3.34, "rtmpose-s": 5.47}
POSE_OUTPUTS = {"simcc_x": (17, int(POSE_INPUT_SIZE[0] * SIMCC_SPLIT_RATIO)),
                "simcc_y": (17, int(POSE_INPUT_SIZE[1] * SIMCC_SPLIT_RATIO))}


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)


def images(batch, width_height):
    width, height = width_height
    return torch.randn(batch, 3, height, width)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("people", [0, 1, 5])
def test_detector_reports_exactly_the_asked_people_as_mmdeploy_shapes(batch, people):
    with torch.inference_mode():
        dets, labels = rtmdet_nano(people)(images(batch, DETECTOR_INPUT_SIZE))
    assert dets.shape == (batch, people, 5) and dets.dtype == torch.float32
    assert labels.shape == (batch, people) and labels.dtype == torch.int64 and (labels == 0).all()
    assert torch.isfinite(dets).all()
    boxes, scores = dets[..., :4], dets[..., 4]
    assert (boxes >= 0).all() and (boxes <= DETECTOR_INPUT_SIZE[0]).all()
    assert (boxes[..., 2] > boxes[..., 0]).all() and (boxes[..., 3] > boxes[..., 1]).all()
    assert (scores[:, 1:] < scores[:, :-1]).all() and ((scores > 0) & (scores < 1)).all()


def test_detector_boxes_depend_on_the_network_so_nothing_can_be_pruned():
    detector = rtmdet_nano(2)
    x = images(1, DETECTOR_INPUT_SIZE).requires_grad_()
    dets, _ = detector(x)
    input_grad, head_grad = torch.autograd.grad(dets.sum(), [x, detector.head.cls_preds[0].weight])
    assert input_grad.abs().sum() > 0 and head_grad.abs().sum() > 0


def test_negative_people_is_refused():
    with pytest.raises(ValueError, match="people"):
        rtmdet_nano(-1)


@pytest.mark.parametrize("batch", [1, 3])
@pytest.mark.parametrize("variant", ["t", "s"])
def test_pose_outputs_simcc_logits_of_mmdeploy_shapes(variant, batch):
    with torch.inference_mode():
        simcc_x, simcc_y = rtmpose(variant)(images(batch, POSE_INPUT_SIZE))
    assert simcc_x.shape == (batch, *POSE_OUTPUTS["simcc_x"]) and simcc_y.shape == (batch, *POSE_OUTPUTS["simcc_y"])
    assert simcc_x.dtype == simcc_y.dtype == torch.float32
    assert torch.isfinite(simcc_x).all() and torch.isfinite(simcc_y).all()


def test_unknown_pose_variant_lists_the_valid_ones():
    with pytest.raises(ValueError, match="t, s"):
        rtmpose("m")


@pytest.mark.parametrize("name, build", [("rtmdet-nano", rtmdet_nano), ("rtmpose-t", lambda: rtmpose("t")),
                                         ("rtmpose-s", lambda: rtmpose("s"))])
def test_parameter_counts_match_the_published_ones(name, build):
    params = sum(p.numel() for p in build().parameters()) / 1e6
    assert params == pytest.approx(PUBLISHED_PARAMS[name], rel=0.2)


def run_onnx(path, x):
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["input"]
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, {"input": x.numpy()})))


@pytest.mark.parametrize("people", [0, 5])
def test_detector_onnx_round_trip_has_mmdeploy_names_and_any_batch(tmp_path, people):
    pytest.importorskip("onnx")
    detector = rtmdet_nano(people)
    path = export_onnx(detector, "detector", tmp_path / "end2end.onnx")
    assert path == tmp_path / "end2end.onnx" and os.listdir(tmp_path) == ["end2end.onnx"]  # no temp file left
    x = images(3, DETECTOR_INPUT_SIZE)
    outputs = run_onnx(path, x)
    assert list(outputs) == ["dets", "labels"]
    assert outputs["dets"].shape == (3, people, 5) and outputs["dets"].dtype == np.float32
    assert outputs["labels"].shape == (3, people) and outputs["labels"].dtype == np.int64
    with torch.inference_mode():
        dets, _ = detector(x)
    np.testing.assert_allclose(outputs["dets"], dets.numpy(), atol=1e-4)


def test_pose_onnx_round_trip_has_mmdeploy_names_and_any_batch(tmp_path):
    pytest.importorskip("onnx")
    pose = rtmpose("t")
    path = export_onnx(pose, "pose", tmp_path / "end2end.onnx")
    x = images(2, POSE_INPUT_SIZE)
    outputs = run_onnx(path, x)
    assert list(outputs) == ["simcc_x", "simcc_y"]
    with torch.inference_mode():
        expected = pose(x)
    for (name, got), want in zip(outputs.items(), expected):
        assert got.shape == (2, *POSE_OUTPUTS[name]) and got.dtype == np.float32
        np.testing.assert_allclose(got, want.numpy(), rtol=1e-3, atol=1e-3)


def test_export_refuses_an_unknown_kind(tmp_path):
    with pytest.raises(ValueError, match="detector, pose"):
        export_onnx(rtmpose("t"), "segmenter", tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())
