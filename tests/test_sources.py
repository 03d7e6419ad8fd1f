"""A pinned file's sources, in order and each checked against the same sha256: $DANCESTYLE_WEIGHTS_DIR, the Hub
mirror, then the publisher's own server. The stand-in Hub (tests/hub_server.py) plays both servers."""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import replace

import pytest
import test_hub
from typer.testing import CliRunner

from dancestyle import weights
from dancestyle.errors import ChecksumError

hub = test_hub.hub  # the stand-in Hub fixture; OpenMMLab's server is on it too, under /openmmlab

DETECTOR = b"RTMDet-nano's end2end.onnx, as far as the loading code can tell"
ONNX_SDK = "https://download.openmmlab.com/mmpose/v1/projects/rtmposev1/onnx_sdk/"


def _zip(data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("rtmdet/end2end.onnx", data)
    return buffer.getvalue()


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def detector(hub, monkeypatch) -> weights.ZipMember:
    """RTMDet-nano pinned as the product pins it (the mirror's commit, OpenMMLab's path), to a stand-in zip's hashes;
    the mirror, at that commit, holds the pose network's zip only."""
    served = _zip(DETECTOR)
    archive = replace(weights.RTMDET_NANO.archive, revision=weights.RTM_MIRROR_COMMIT, sha256=_sha256(served))
    pin = weights.ZipMember(archive, "end2end.onnx", _sha256(DETECTOR))
    monkeypatch.setattr(weights, "RTMDET_NANO", pin)
    hub.publish(archive.repo, {weights.RTMPOSE["t"].archive.filename: b"not asked for"}, branch=None,
                commit=weights.RTM_MIRROR_COMMIT)
    return pin


def _serve_at_openmmlab(hub, pin: weights.ZipMember, data: bytes) -> str:
    return hub.serve(f"openmmlab/{pin.archive.origin[1]}", data)


def test_the_rtm_zips_come_from_the_pinned_mirror_commit_then_openmmlab_under_the_same_names():
    for pin in (weights.RTMDET_NANO, *weights.RTMPOSE.values()):
        assert pin.archive.repo == "Tau-J/RTMPose"
        assert pin.archive.revision == "cd4d7095f5cfc9cfc4f46289bee91ea4a1e1d9fd"
        assert pin.archive.filename == f"rtmposev1/onnx_sdk/{pin.archive.name}"
        assert pin.archive.origin_url() == ONNX_SDK + pin.archive.name
    assert weights.RTMPOSE["t"].sha256 == "a6c2f6a3896a4d51131d14d7a80a3d08b50f559af5a58a45d5b098aef510a70f"
    assert weights.RTMPOSE["t"].archive.sha256 == "937003a70832d9cc34ea16927f504792f3133e92dda1b9c626236bbbe9e805cb"
    assert weights.RTMPOSE["s"].archive.sha256 == "7673922e531014906ca4f0f239b7e233b740146a10b632deaa2a28d45470d802"


def test_a_zip_the_mirror_lacks_comes_verified_from_the_publisher_and_is_kept(hub, detector, tmp_path):
    url = _serve_at_openmmlab(hub, detector, _zip(DETECTOR))

    assert weights.load_zip_member(detector) == DETECTOR

    assert hub.count("HEAD", f"/{detector.archive.repo}/resolve/{weights.RTM_MIRROR_COMMIT}/") == 1  # asked first
    assert hub.count("GET", "/openmmlab/") == 1 and url.endswith(detector.archive.name)
    kept = tmp_path / "home" / "downloads"
    assert [p.name for p in kept.iterdir()] == [detector.archive.name]  # no temp file left beside it
    seen = hub.count()
    assert weights.load_zip_member(detector) == DETECTOR
    assert hub.count() == seen  # the kept copy, checked again, without a request


def test_a_wrong_file_on_both_sources_is_one_error_naming_both_and_what_to_do(hub, detector, tmp_path):
    mirror = {detector.archive.filename: _zip(b"a changed detector")}
    hub.publish(detector.archive.repo, mirror, branch=None, commit=weights.RTM_MIRROR_COMMIT)
    url = _serve_at_openmmlab(hub, detector, _zip(b"another changed detector"))

    with pytest.raises(ChecksumError) as raised:
        weights.load_zip_member(detector)

    said = raised.value.message
    assert f"Tau-J/RTMPose@{weights.RTM_MIRROR_COMMIT}/{detector.archive.filename}" in said and url in said
    assert "DANCESTYLE_WEIGHTS_DIR" in said and "DANCESTYLE_WEIGHTS_DIR" in raised.value.hint
    assert hub.count("GET", "/openmmlab/") == 1 and not list((tmp_path / "home" / "downloads").iterdir())


def test_the_cli_reports_it_once_and_exits_1(hub, detector, tmp_path):
    from media import make_video
    from test_pose_backends import _checkpoint

    from dancestyle.cli import app
    from dancestyle.pose import PoseSource

    _serve_at_openmmlab(hub, detector, _zip(b"a changed detector"))
    checkpoint = _checkpoint(tmp_path / "ckpt", PoseSource("rtmpose-t", 512))
    clip = make_video(tmp_path / "clip.mp4", frames=10, size=(64, 48))

    result = CliRunner().invoke(app, ["classify", str(clip), "--weights", str(checkpoint)])

    said = " ".join(result.stderr.split())
    assert result.exit_code == 1 and "Traceback" not in result.stderr and said.count("error:") == 1
    assert "Tau-J/RTMPose" in said and f"{hub.url}/openmmlab/mmpose/v1/projects/rtmposev1/onnx_sdk/" in said
    assert "DANCESTYLE_WEIGHTS_DIR" in said


def test_a_file_in_the_weights_dir_is_used_without_any_request(hub, detector, tmp_path, monkeypatch):
    folder = tmp_path / "weights"
    folder.mkdir()
    (folder / detector.archive.name).write_bytes(_zip(DETECTOR))
    (folder / "w.bin").write_bytes(b"plain weights")
    monkeypatch.setenv("DANCESTYLE_WEIGHTS_DIR", str(folder))
    seen = hub.count()

    assert weights.load_zip_member(detector) == DETECTOR
    plain = weights.HubFile("org/name", "sub/w.bin", "main", _sha256(b"plain weights"))
    assert weights.pinned_file_here(plain)  # what `dancestyle models` reports as cached
    assert weights.fetch_pinned(plain) == folder / "w.bin"
    assert hub.count() == seen
    monkeypatch.delenv("DANCESTYLE_WEIGHTS_DIR")
    assert not weights.pinned_file_here(weights.HubFile("org/name", "sub/w.bin", "main", _sha256(b"plain weights")))


def test_a_wrong_file_in_the_weights_dir_is_refused(hub, detector, tmp_path, monkeypatch):
    _serve_at_openmmlab(hub, detector, _zip(DETECTOR))  # the right file is online: the user's copy still wins
    (tmp_path / detector.archive.name).write_bytes(_zip(b"a changed detector"))
    monkeypatch.setenv("DANCESTYLE_WEIGHTS_DIR", str(tmp_path))
    seen = hub.count()

    with pytest.raises(ChecksumError) as raised:
        weights.load_zip_member(detector)

    assert str(tmp_path / detector.archive.name) in raised.value.message
    assert "DANCESTYLE_WEIGHTS_DIR" in raised.value.message and "Delete it" in raised.value.hint
    assert hub.count() == seen
