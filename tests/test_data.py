"""dancestyle.data: resumable verified downloads from a loopback server, safe extraction, the Let's Dance
index on a tiny fake tree, and splits by YouTube id. Offline and fast."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import socket
import stat
import struct
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from dancestyle.data import (CLASSES_16, Clip, DatasetIndex, fetch_dataset, index_dataset, load_or_make_splits,
                             make_splits, parse_frame_name)
from dancestyle.errors import DownloadError, InputError, UnsafeArchiveError, UsageError
from dancestyle.fetch import SPLITS_FILE, download, safe_extract
from dancestyle.models import CLASSES

# -- a loopback file server -----------------------------------------------------------------------------------------


class FileServer:
    """Serves `files` on 127.0.0.1 with Range support; can drop one response mid-body or ignore Range."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.drop_next = False
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                if self.headers.get("Range") and server.honour_range:
                    start = int(self.headers["Range"].removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if server.drop_next:  # half the body, then hang up
                    server.drop_next = False
                    body = body[: len(body) // 2]
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def payload() -> bytes:
    return os.urandom(300_000)  # several read chunks would be 1 MiB each; the drop lands mid-body anyway


@pytest.fixture
def server(payload):
    server = FileServer({"/rgb.zip": payload})
    yield server
    server.stop()


# -- download -------------------------------------------------------------------------------------------------------

def test_download_resumes_after_a_dropped_connection(server, payload, tmp_path):
    server.drop_next = True
    with pytest.raises(DownloadError, match="closed after") as failure:
        download(f"{server.url}/rgb.zip", tmp_path)
    assert "again" in failure.value.hint
    part = tmp_path / "rgb.zip.part"
    assert 0 < part.stat().st_size < len(payload)
    assert not (tmp_path / "rgb.zip").exists()  # nothing that looks whole

    seen = []
    path = download(f"{server.url}/rgb.zip", tmp_path, progress=lambda done, total: seen.append((done, total)))
    assert hashlib.sha256(path.read_bytes()).hexdigest() == hashlib.sha256(payload).hexdigest()
    assert server.requests[-1] == ("/rgb.zip", f"bytes={len(payload) // 2}-")
    assert seen[-1] == (len(payload), len(payload))
    assert not part.exists()
    entry = json.loads((tmp_path / "manifest.json").read_text())["archives"]["rgb.zip"]
    assert entry == {"source": f"{server.url}/rgb.zip", "size": len(payload),
                     "sha256": hashlib.sha256(payload).hexdigest()}


def test_a_server_ignoring_range_restarts_from_zero(server, payload, tmp_path):
    server.honour_range = False
    (tmp_path / "rgb.zip.part").write_bytes(b"stale bytes from another file")
    path = download(f"{server.url}/rgb.zip", tmp_path)
    assert server.requests[-1][1] is not None  # we asked to resume ...
    assert path.read_bytes() == payload  # ... got a 200, and started over


def test_rerun_reuses_without_a_request_and_a_bad_checksum_downloads_again(server, payload, tmp_path):
    url = f"{server.url}/rgb.zip"
    path = download(url, tmp_path)
    download(url, tmp_path)
    assert len(server.requests) == 1

    corrupt = bytearray(payload)
    corrupt[1000] ^= 0xFF
    path.write_bytes(bytes(corrupt))  # same size, different content
    assert download(url, tmp_path).read_bytes() == payload
    assert server.requests[1:] == [("/rgb.zip", None)]


def test_pinned_checksum_mismatch_is_an_error_and_leaves_no_file(server, tmp_path):
    with pytest.raises(DownloadError, match="sha256"):
        download(f"{server.url}/rgb.zip", tmp_path, sha256="0" * 64)
    assert not (tmp_path / "rgb.zip").exists() and not (tmp_path / "rgb.zip.part").exists()


def test_http_and_network_errors_say_what_to_do(server, tmp_path):
    with pytest.raises(DownloadError, match="404") as failure:
        download(f"{server.url}/missing.zip", tmp_path)
    assert "URL" in failure.value.hint
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DownloadError, match="failed") as failure:
        download(f"http://127.0.0.1:{port}/rgb.zip", tmp_path)
    assert "network" in failure.value.hint


# -- safe extraction ------------------------------------------------------------------------------------------------

def _zip(path: Path, members: list[tuple[zipfile.ZipInfo | str, bytes]], method=zipfile.ZIP_DEFLATED) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", method) as archive:
        for info, data in members:
            archive.writestr(info, data)
    return path


def _symlink_member() -> zipfile.ZipInfo:
    info = zipfile.ZipInfo("rgb/link")
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def _declared_65_mib(path: Path) -> Path:
    """A stored 1 MiB member whose central directory claims 65 MiB: trips the size test, not the ratio test."""
    _zip(path, [("ok.txt", b"fine"), ("big.bin", os.urandom(1 << 20))], zipfile.ZIP_STORED)
    data = bytearray(path.read_bytes())
    entry = data.index(b"PK\x01\x02", data.index(b"PK\x01\x02") + 4)  # the second member's central record
    struct.pack_into("<I", data, entry + 24, 65 << 20)  # its uncompressed size
    path.write_bytes(bytes(data))
    assert zipfile.ZipFile(path).getinfo("big.bin").file_size == 65 << 20
    return path


HOSTILE = {
    "absolute": (lambda p: _zip(p, [("ok.txt", b"fine"), ("/abs.txt", b"x")]), "absolute"),
    "parent": (lambda p: _zip(p, [("ok.txt", b"fine"), ("../x", b"x")]), r"'\.\.'"),
    "backslash-parent": (lambda p: _zip(p, [("ok.txt", b"fine"), ("a\\..\\..\\x", b"x")]), r"'\.\.'"),
    "drive": (lambda p: _zip(p, [("ok.txt", b"fine"), ("C:/x", b"x")]), "drive letter"),
    "symlink": (lambda p: _zip(p, [("ok.txt", b"fine"), (_symlink_member(), b"/etc/passwd")]), "symbolic link"),
    "65 MiB": (_declared_65_mib, "64 MiB"),
    "1000:1": (lambda p: _zip(p, [("ok.txt", b"fine"), ("zeros.bin", bytes(10 << 20))]), "100:1"),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_hostile_zips_are_refused_before_anything_is_written(kind, tmp_path):
    build, reason = HOSTILE[kind]
    archive = build(tmp_path / "in" / "bad.zip")
    dest = tmp_path / "out" / "dest"
    with pytest.raises(UnsafeArchiveError, match=reason) as failure:
        safe_extract(archive, dest)
    assert "nothing was extracted" in failure.value.message and failure.value.hint
    assert not dest.exists()  # not even ok.txt, which came first
    assert sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")) == ["in", "in/bad.zip"]


def test_safe_extract_renames_into_place_merges_and_skips_a_rerun(tmp_path):
    dest = tmp_path / "dest"
    first = _zip(tmp_path / "txt.zip", [("densepose/txt/ballet/a.json", b"[]")])
    second = _zip(tmp_path / "png.zip", [("densepose/rgb/ballet/a.png", b"png"), ("densepose/", b"")])
    safe_extract(first, dest)
    safe_extract(second, dest)
    assert (dest / "densepose/txt/ballet/a.json").read_bytes() == b"[]"  # merged, not replaced
    assert (dest / "densepose/rgb/ballet/a.png").read_bytes() == b"png"
    assert not [p for p in dest.iterdir() if p.name.startswith(".")]  # no temp folder left
    assert set(json.loads((dest / "manifest.json").read_text())["extracted"]) == {"txt.zip", "png.zip"}

    (dest / "densepose/txt/ballet/a.json").write_bytes(b"edited")
    safe_extract(first, dest)
    assert (dest / "densepose/txt/ballet/a.json").read_bytes() == b"edited"  # skipped: recorded as done


# -- index ----------------------------------------------------------------------------------------------------------

PERSON = json.dumps([["person0", ["nose", [10.0, 20.0]], ["left_eye", [11.0, 19.0]]]])


def _put(path: Path, data: bytes | str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)


def make_letsdance(root: Path) -> Path:
    """3 clips in 2 of the 10 classes (+1 in 'tap'), frames under an extra rgb/rgb level; 8 frames, 2 missing
    frames (one gap, one frame that only has a pose file), 1 missing pose file, 1 empty pose file."""
    def clip(label, name, frames, poses, empty=()):
        for n in frames:
            _put(root / "rgb/rgb" / label / f"{name}_{n:04d}.jpg", b"not a jpeg: never decoded")
        for n in poses:
            _put(root / "densepose/txt" / label / f"{name}_{n:04d}.json", "[]" if n in empty else PERSON)

    clip("ballet", "-2W1PfHleRM_033", [1, 2, 4], [1, 2, 4], empty={2})
    clip("ballet", "_FidGI7J718_039", [1, 2, 3], [1, 3])
    clip("waltz", "ab_cd-ef_gh_1234", [1, 2], [1, 2, 3])
    clip("tap", "zz_zz-zz_zz_001", [1], [])
    _put(root / "densepose/rgb/ballet/-2W1PfHleRM_033_0001.png", b"rendered skeleton")
    _put(root / "flow_png/ballet/-2W1PfHleRM_033_0001.png", b"flow")
    _put(root / "rgb/rgb/ballet/notes.jpg", b"not a frame name")
    return root


def test_parse_frame_name_from_the_right():
    assert parse_frame_name("-2W1PfHleRM_033_0001") == ("-2W1PfHleRM", "033", 1)
    assert parse_frame_name("_FidGI7J718_039_0158") == ("_FidGI7J718", "039", 158)
    assert parse_frame_name("notes") is None and parse_frame_name("abc_def_x001") is None


def test_index_of_a_letsdance_tree_counts_every_quirk(tmp_path):
    index = index_dataset(make_letsdance(tmp_path / "ld"))
    assert index.layout == "letsdance" and index.classes == ["ballet", "waltz"]
    assert (len(index.clips), index.frames, index.missing_frames, index.missing_pose, index.empty_pose_frames,
            index.skipped_files) == (3, 8, 2, 1, 1, 1)
    by_id = {clip.clip_id: clip for clip in index.clips}
    first = by_id["-2W1PfHleRM_033"]
    assert (first.label, first.youtube_id, first.frame_numbers) == ("ballet", "-2W1PfHleRM", [1, 2, 4])
    assert [p.name for p in first.frames] == [f"-2W1PfHleRM_033_{n:04d}.jpg" for n in (1, 2, 4)]
    assert all(p.suffix == ".json" and "txt" in p.parts for p in first.poses)  # not the rendered PNGs
    second = by_id["_FidGI7J718_039"]
    assert second.youtube_id == "_FidGI7J718" and second.poses[1] is None and second.poses[2] is not None
    assert by_id["ab_cd-ef_gh_1234"].youtube_id == "ab_cd-ef_gh"

    sixteen = index_dataset(tmp_path / "ld", CLASSES_16)
    assert sixteen.classes == ["ballet", "waltz", "tap"] and len(sixteen.clips) == 4 and sixteen.missing_pose == 2


def test_index_of_style_folders_of_videos(tmp_path):
    for name in ("waltz/a.mp4", "waltz/sub/b.MKV", "tango/c.mp4", "tango/readme.txt", "salsa/d.mp4"):
        _put(tmp_path / name, b"")
    index = index_dataset(tmp_path)
    assert index.layout == "videos" and index.classes == ["tango", "waltz"]
    assert sorted((c.label, c.youtube_id, c.clip_id, c.video.name) for c in index.clips) == [
        ("tango", "c", "c.mp4", "c.mp4"), ("waltz", "a", "a.mp4", "a.mp4"), ("waltz", "b", "sub/b.MKV", "b.MKV")]
    assert index_dataset(tmp_path, classes=None).classes == ["salsa", "tango", "waltz"]


def test_a_folder_without_a_dataset_is_an_input_error(tmp_path):
    _put(tmp_path / "random/file.txt", b"x")
    with pytest.raises(InputError, match="No dataset") as failure:
        index_dataset(tmp_path)
    assert "fetch-dataset" in failure.value.hint


# -- splits ---------------------------------------------------------------------------------------------------------

def synthetic_index() -> DatasetIndex:
    """10 videos in ballet and break, 11 in waltz (one shared with a ballet clip), 1 in tango; 1-3 clips each."""
    clips = [Clip(label, f"{label[:2]}-{v:02d}_x", f"{label[:2]}-{v:02d}_x_{s:03d}")
             for label in ("ballet", "break", "waltz") for v in range(10) for s in range(1 + v % 3)]
    clips += [Clip("tango", "lonely_vid1", "lonely_vid1_001")]
    clips += [Clip(label, "shared_vid1", f"shared_vid1_00{s}") for s, label in enumerate(["waltz", "waltz", "ballet"])]
    return DatasetIndex(Path("."), "letsdance", ["ballet", "break", "tango", "waltz"], clips)


def _videos(index: DatasetIndex, keys: list[str]) -> set[str]:
    youtube_of = {clip.key: clip.youtube_id for clip in index.clips}
    return {youtube_of[key] for key in keys}


def test_splits_group_by_video_stratify_and_are_seeded():
    index = synthetic_index()
    splits = make_splits(index, seed=0)
    train, val, test = (_videos(index, splits[side]) for side in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert sorted(sum(splits.values(), [])) == sorted(clip.key for clip in index.clips)
    for label, sizes in {"ballet": (8, 1, 1), "break": (8, 1, 1), "waltz": (9, 1, 1), "tango": (1, 0, 0)}.items():
        prefix = "lonely" if label == "tango" else label[:2] + "-"
        ids = {"waltz": {"shared_vid1"}}.get(label, set()) | {v for v in train | val | test if v.startswith(prefix)}
        assert (len(ids & train), len(ids & val), len(ids & test)) == sizes, label
    assert make_splits(index, seed=0) == splits
    assert make_splits(index, seed=1) != splits


def test_splits_keep_one_video_in_train_and_check_fractions():
    index = synthetic_index()
    splits = make_splits(index, seed=3, fractions=(0.0, 0.5, 0.5))
    assert "tango/lonely_vid1_001" in splits["train"]
    with pytest.raises(UsageError):
        make_splits(index, fractions=(0.8, 0.3, 0.1))


def test_splits_file_is_written_once_and_reused(tmp_path, caplog):
    index = synthetic_index()
    splits = load_or_make_splits(tmp_path, index, seed=0)
    written = (tmp_path / SPLITS_FILE).read_bytes()
    assert json.loads(written)["train"] == splits["train"]
    assert load_or_make_splits(tmp_path, index, seed=5) == splits  # the file wins over a new seed
    assert (tmp_path / SPLITS_FILE).read_bytes() == written

    val_video = next(iter(_videos(index, splits["val"])))
    index.clips += [Clip("ballet", val_video, f"{val_video}_999"), Clip("break", "brand_new_v", "brand_new_v_001")]
    with caplog.at_level(logging.WARNING, logger="dancestyle.data"):
        grown = load_or_make_splits(tmp_path, index)
    assert f"ballet/{val_video}_999" in grown["val"]  # joins its video's side
    assert "break/brand_new_v_001" in grown["train"]
    assert "2 clips" in caplog.text
    updated = json.loads((tmp_path / SPLITS_FILE).read_text())  # the file grows; no clip changes side
    assert all(set(splits[side]) <= set(updated[side]) for side in ("train", "val", "test"))
    assert {side: updated[side] for side in ("train", "val", "test")} == grown
    assert load_or_make_splits(tmp_path, index) == grown


def test_clips_of_new_classes_get_val_and_test_too(tmp_path):
    index = synthetic_index()
    load_or_make_splits(tmp_path, index)
    index.clips += [Clip("tap", f"tapvideo{n:03d}", f"tapvideo{n:03d}_001") for n in range(10)]
    grown = load_or_make_splits(tmp_path, index)
    sides = {side for side, keys in grown.items() for key in keys if key.startswith("tap/")}
    assert sides == {"train", "val", "test"}


# -- fetch_dataset --------------------------------------------------------------------------------------------------

def _zip_tree(source: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(source).as_posix())
    return buffer.getvalue()


EXPECTED = {"classes": ["ballet", "waltz"], "clips": 3, "frames": 8, "missing_frames": 2, "empty_pose_frames": 1}


def test_fetch_dataset_from_a_url_then_reruns_without_requests(tmp_path):
    server = FileServer({"/letsdance.zip": _zip_tree(make_letsdance(tmp_path / "src"))})
    try:
        seen = []
        dest = tmp_path / "dest"
        result = fetch_dataset([f"{server.url}/letsdance.zip"], dest, progress=lambda *a: seen.append(a))
        assert set(result) == {"root", "classes", "clips", "frames", "missing_frames", "empty_pose_frames", "splits"}
        assert {key: result[key] for key in EXPECTED} == EXPECTED and result["root"] == str(dest)
        assert sum(result["splits"].values()) == 3 and result["splits"]["train"] >= 1
        assert seen[-1][0] == "letsdance.zip" and seen[-1][1] == seen[-1][2]
        assert (dest / SPLITS_FILE).is_file() and (dest / "rgb/rgb/ballet").is_dir()
        assert fetch_dataset([f"{server.url}/letsdance.zip"], dest) == result
        assert len(server.requests) == 1
    finally:
        server.stop()


def test_fetch_dataset_uses_a_folder_in_place_and_a_local_zip(tmp_path):
    source = make_letsdance(tmp_path / "src")
    result = fetch_dataset([str(source)], tmp_path / "unused")
    assert result["root"] == str(source) and {key: result[key] for key in EXPECTED} == EXPECTED
    assert not (tmp_path / "unused").exists() and (source / SPLITS_FILE).is_file()

    archive = tmp_path / "ld.zip"
    archive.write_bytes(_zip_tree(make_letsdance(tmp_path / "other")))
    result = fetch_dataset([str(archive)], tmp_path / "dest", classes=16)
    assert result["root"] == str(tmp_path / "dest") and result["classes"] == ["ballet", "waltz", "tap"]


def test_fetch_dataset_rejects_bad_arguments(tmp_path):
    with pytest.raises(UsageError):
        fetch_dataset([str(tmp_path)], tmp_path, classes=12)
    with pytest.raises(InputError, match="not an http"):
        fetch_dataset([str(tmp_path / "nope.zip")], tmp_path / "dest")


def test_default_classes_are_the_papers():
    assert CLASSES_16[:10] == CLASSES and len(set(CLASSES_16)) == 16
