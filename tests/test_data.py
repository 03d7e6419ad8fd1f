"""dancestyle.fetch, data and splits: resumable verified downloads from a loopback server, safe extraction, the
Let's Dance index on a tiny fake tree, and splits by YouTube id. Offline and fast."""

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
from pathlib import Path, PurePosixPath

import pytest

from dancestyle.data import (CLASSES_16, SOURCE_FILE, SPLITS_FILE, Clip, DatasetIndex, index_dataset,
                             index_for_training, parse_frame_name, source_cautions, video_source)
from dancestyle.errors import DownloadError, InputError, UnsafeArchiveError, UsageError
from dancestyle.fetch import TERMS_NOTE, Archive, download, fetch_dataset, safe_extract
from dancestyle.splits import load_or_make_splits, make_splits
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
    assert f"resumes from {part}" in failure.value.hint
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
    assert "resumes" not in failure.value.hint and "--source" in failure.value.hint  # no byte arrived: no .part
    assert not (tmp_path / "rgb.zip.part").exists()


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
    assert sorted((c.label, c.youtube_id, c.clip_id, c.video.name) for c in index.clips) == [  # sub/ is b's source
        ("tango", "c", "c.mp4", "c.mp4"), ("waltz", "a", "a.mp4", "a.mp4"), ("waltz", "sub", "sub/b.MKV", "b.MKV")]
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


def test_a_split_that_leaves_a_class_off_a_side_is_pointed_out():
    """Issue 28: a corpus of 6 clips a style split with styles missing from val and test, silently; training showed
    validation accuracy 0.000 every epoch."""
    from dancestyle.splits import coverage_cautions

    index = synthetic_index()  # tango: one video, so train only
    cautions = coverage_cautions(index, make_splits(index, seed=0))
    assert len(cautions) == 2 and all("of tango:" in text for text in cautions)
    assert "no val clips" in cautions[0] and "no test clips" in cautions[1] and "add videos" in cautions[0]
    index.clips = [clip for clip in index.clips if clip.label != "tango"]
    index.classes.remove("tango")
    assert coverage_cautions(index, make_splits(index, seed=0)) == []


def test_the_advice_on_a_class_left_out_fits_the_data(tmp_path):
    """A synthetic corpus can be made bigger or re-split; the authors' split must not be deleted (it would come back
    as ours), and real data without enough videos of a style needs more of them."""
    from dataclasses import replace

    from dancestyle.splits import coverage_cautions, split_rule

    index = replace(synthetic_index(), root=tmp_path)
    splits = make_splits(index, seed=0)
    assert split_rule(tmp_path) == "ours"  # no split file yet
    assert "add videos" in coverage_cautions(index, splits)[0]
    (tmp_path / "synthetic.json").write_text("{}")
    assert "--clips-per-class 20" in coverage_cautions(index, splits)[0]
    (tmp_path / SPLITS_FILE).write_text('{"rule": "authors"}')
    assert split_rule(tmp_path) == "authors"
    advice = coverage_cautions(index, splits, split_rule(tmp_path))[0]
    assert "authors' split" in advice and "delete" not in advice and "--dest NEW_FOLDER" in advice


def test_splits_file_is_written_once_and_reused(tmp_path, caplog):
    index = synthetic_index()
    splits = load_or_make_splits(tmp_path, index, seed=0)
    written = (tmp_path / SPLITS_FILE).read_bytes()
    assert json.loads(written)["train"] == splits["train"]
    assert load_or_make_splits(tmp_path, index, seed=5) == splits  # the file wins over a new seed
    assert (tmp_path / SPLITS_FILE).read_bytes() == written

    val_video = next(iter(_videos(index, splits["val"])))
    index.clips += [Clip("ballet", val_video, f"{val_video}_999"), Clip("break", "brand_new_v", "brand_new_v_001")]
    with caplog.at_level(logging.WARNING, logger="dancestyle.splits"):
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
    for dest in (None, source):  # no --dest, or the folder itself: in place
        result = fetch_dataset([str(source)], dest)
        assert result["root"] == str(source) and {key: result[key] for key in EXPECTED} == EXPECTED
        assert (source / SPLITS_FILE).is_file() and not (source / SOURCE_FILE).exists()

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


# -- your own videos: grouped by source -----------------------------------------------------------------------------

@pytest.mark.parametrize("path, source", [
    ("partysrc3_001.mp4", "partysrc3"), ("party-Scene-012.mp4", "party-Scene"), ("party 3.mkv", "party"),
    ("a_b_c_7.mp4", "a_b_c"), ("x _- 01.mp4", "x"), ("2023-05-01.mp4", "2023-05"),
    ("party001.mp4", "party001"), ("001.mp4", "001"), ("_001.mp4", "_001"), ("solo.mp4", "solo"),
    ("v1_final.mp4", "v1_final"), ("party3/any name.mp4", "party3"), ("party3/deeper/clip_9.mp4", "party3")])
def test_the_source_of_a_video(path, source):
    assert video_source(PurePosixPath(path)) == source


def make_segments(root: Path) -> dict[str, str]:
    """3 styles x 6 sources x 2-4 segments, named every way the rule knows, and one source filmed in two styles.
    Empty files: nothing is decoded. Returns {clip key: its source}."""
    patterns = ["{s}_{n:03d}.mp4", "{s}-{n}.mp4", "{s} {n}.mkv", "{s}/{n}.mp4", "{s}/take {n}.mp4", "{s}_-_{n}.webm"]
    expected = {}
    for label in ("salsa", "tango", "waltz"):
        for i, pattern in enumerate(patterns):
            for n in range(1, 3 + i % 3):
                name = pattern.format(s=f"{label}src{i}", n=n)
                _put(root / label / name, b"")
                expected[f"{label}/{name}"] = f"{label}src{i}"
    for key in ("salsa/party_001.mp4", "tango/party_002.mp4"):
        _put(root / key, b"")
        expected[key] = "party"
    return expected


def _sides_of_sources(expected: dict[str, str], splits: dict[str, list[str]]) -> dict[str, set[str]]:
    side_of = {key: side for side, keys in splits.items() for key in keys}
    sides: dict[str, set[str]] = {}
    for key, source in expected.items():
        sides.setdefault(source, set()).add(side_of[key])
    return sides


def test_own_videos_are_split_by_source_in_every_style(tmp_path):
    expected = make_segments(tmp_path)
    index = index_dataset(tmp_path, None)
    assert {clip.key: clip.youtube_id for clip in index.clips} == expected
    splits = make_splits(index, seed=0)
    assert all(len(sides) == 1 for sides in _sides_of_sources(expected, splits).values())
    side_of = {key: side for side, keys in splits.items() for key in keys}
    for label in ("salsa", "tango", "waltz"):  # stratified: every style has a source in val and one in test
        assert {side_of[key] for key in expected if key.startswith(f"{label}/")} == {"train", "val", "test"}
    assert make_splits(index, seed=0) == splits and make_splits(index, seed=1) != splits


def test_new_segments_join_their_sources_side(tmp_path):
    expected = make_segments(tmp_path)
    splits = load_or_make_splits(tmp_path, index_dataset(tmp_path, None))
    assert json.loads((tmp_path / SPLITS_FILE).read_text())["group_by"] == "source"
    side = {source: sides.pop() for source, sides in _sides_of_sources(expected, splits).items()}
    added = {"waltz/waltzsrc0_099.mp4": "waltzsrc0", "tango/tangosrc3/new.mp4": "tangosrc3",
             "waltz/party_003.mp4": "party", "salsa/salsasrc2 9.mkv": "salsasrc2"}
    for key in added:
        _put(tmp_path / key, b"")
    grown = load_or_make_splits(tmp_path, index_dataset(tmp_path, None))
    for key, source in added.items():
        assert key in grown[side[source]], key
    assert all(set(splits[s]) <= set(grown[s]) for s in ("train", "val", "test"))  # no clip changes side


def test_a_split_made_file_by_file_is_pointed_out(tmp_path):
    make_segments(tmp_path)
    index = index_dataset(tmp_path, None)
    told = []
    load_or_make_splits(tmp_path, index, on_caution=told.append)
    assert told == []  # well-named segments, a split by source: nothing to say
    by_file = make_splits(DatasetIndex(tmp_path, "videos", index.classes,
                                       [Clip(c.label, c.clip_id, c.clip_id, video=c.video) for c in index.clips]))
    (tmp_path / SPLITS_FILE).write_text(json.dumps({"seed": 0, "group_by": "youtube_id", **by_file}))
    assert load_or_make_splits(tmp_path, index, on_caution=told.append) == by_file  # kept: no clip changes side
    assert len(told) == 1 and "grouped by source" in told[0] and "Delete the file" in told[0]


def test_names_the_rule_cannot_tell_are_pointed_out(tmp_path):
    for name in ("waltz/party001.mp4", "waltz/party002.mp4", "waltz/party003.mp4", "waltz/other.mp4",
                 "waltz/x_1.mp4", "tango/IMG_0001.mov", "tango/IMG_0002.mov", "tango/IMG_0003.mov",
                 "salsa/a.mp4", "salsa/b.mp4", "salsa/c_1.mp4", "salsa/c_2.mp4", "salsa/d/1.mp4", "salsa/d/2.mp4"):
        _put(tmp_path / name, b"")
    told = source_cautions(index_dataset(tmp_path, None))
    assert [text.split(":")[0] for text in told] == ["tango", "waltz"]
    tango, waltz = told
    assert "3 clips come from 1 source (IMG)" in tango and "sub-folder of its own" in tango
    assert "3 videos (party001.mp4, party002.mp4, …)" in waltz and "party_001.mp4" in waltz
    assert "<source>_<n>" in waltz and "waltz/<source>/" in waltz
    assert source_cautions(index_dataset(make_letsdance(tmp_path / "ld"))) == []


def test_fetch_dataset_dest_holds_the_split_of_a_video_folder_kept_in_place(tmp_path):
    videos = tmp_path / "videos"
    expected = make_segments(videos)
    before = sorted(videos.rglob("*"))
    dest, told = tmp_path / "dest", []
    result = fetch_dataset([str(videos)], dest, on_caution=told.append)
    assert result["root"] == str(dest) and result["clips"] == len(expected) and told == []  # no terms note
    assert sorted(videos.rglob("*")) == before  # the user's folder is only read
    assert json.loads((dest / SOURCE_FILE).read_text()) == {"folder": str(videos.resolve())}
    saved = json.loads((dest / SPLITS_FILE).read_text())
    index = index_for_training(dest)  # what `train --data dest` and `evaluate --data dest` do
    assert index.root == dest and index.layout == "videos" and len(index.clips) == len(expected)
    assert all(videos.resolve() in clip.video.resolve().parents for clip in index.clips)
    assert load_or_make_splits(index.root, index) == {side: saved[side] for side in ("train", "val", "test")}
    assert fetch_dataset([str(videos)], dest) == result  # a re-run reuses it all

    other = tmp_path / "other"
    make_segments(other)
    with pytest.raises(UsageError, match="already refers"):
        fetch_dataset([str(other)], dest)
    _put(tmp_path / "busy/notes.txt", b"")
    with pytest.raises(UsageError, match="not empty"):
        fetch_dataset([str(videos)], tmp_path / "busy")
    assert not (tmp_path / "busy" / SPLITS_FILE).exists()

    moved = videos.rename(tmp_path / "moved")
    with pytest.raises(InputError, match="moved"):
        index_dataset(dest)
    again = fetch_dataset([str(moved)], dest, on_caution=told.append)  # dest follows it and keeps its split
    assert again == result and len(told) == 1 and "gone" in told[0]
    assert json.loads((dest / SPLITS_FILE).read_text()) == saved


def test_a_synthetic_corpus_is_not_referred_to(tmp_path):
    corpus = make_letsdance(tmp_path / "corpus")
    _put(corpus / "synthetic.json", "{}")
    with pytest.raises(UsageError, match="synthetic"):
        fetch_dataset([str(corpus)], tmp_path / "dest")
    assert not (tmp_path / "dest").exists()


def test_the_lets_dance_terms_only_for_lets_dance(tmp_path, monkeypatch):
    told = []
    fetch_dataset([str(make_letsdance(tmp_path / "ld"))], on_caution=told.append)
    assert told == [TERMS_NOTE]
    make_segments(tmp_path / "videos")
    corpus = make_letsdance(tmp_path / "corpus")
    _put(corpus / "synthetic.json", "{}")
    told.clear()
    fetch_dataset([str(tmp_path / "videos")], on_caution=told.append)
    fetch_dataset([str(corpus)], corpus, on_caution=told.append)
    assert told == []

    server = FileServer({"/rgb.zip": _zip_tree(make_letsdance(tmp_path / "src"))})
    try:  # the listed archives: before the download starts
        monkeypatch.setattr("dancestyle.fetch.LETSDANCE_ARCHIVES", {"rgb": Archive(f"{server.url}/rgb.zip")})
        events = []
        fetch_dataset(None, tmp_path / "dest", progress=lambda *a: events.append("progress"),
                      on_caution=events.append)
        assert events[0] == TERMS_NOTE and events.count(TERMS_NOTE) == 1 and "progress" in events
        events.clear()
        fetch_dataset([f"{server.url}/rgb.zip"], tmp_path / "unlisted", on_caution=events.append)
        assert events == [TERMS_NOTE]  # a Let's Dance tree found after extraction
    finally:
        server.stop()


def test_cli_fetch_dataset_of_own_videos_into_dest(tmp_path, isolated_home):
    from typer.testing import CliRunner

    from dancestyle.cli import app

    videos = tmp_path / "videos"
    make_segments(videos)
    for name in ("waltz/take001.mp4", "waltz/take002.mp4"):
        _put(videos / name, b"")
    runner, dest = CliRunner(), tmp_path / "dest"
    result = runner.invoke(app, ["fetch-dataset", "--source", str(videos), "--dest", str(dest), "--json"],
                           env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["root"] == str(dest) and (dest / SPLITS_FILE).is_file()
    assert not (videos / SPLITS_FILE).exists()
    assert "terms" not in result.stderr and "take_001.mp4" in result.stderr  # the caution, not the note
    _put(tmp_path / "busy/notes.txt", b"")
    refused = runner.invoke(app, ["fetch-dataset", "--source", str(videos), "--dest", str(tmp_path / "busy")],
                            env={"COLUMNS": "200"})
    assert refused.exit_code == 2 and "not empty" in refused.stderr


def test_train_and_evaluate_read_own_videos_through_dest(tmp_path, fake_pose, isolated_home):
    from typer.testing import CliRunner

    from dancestyle.cli import app
    from media import make_video

    videos = tmp_path / "videos"
    for label in ("salsa", "tango", "waltz"):
        (videos / label).mkdir(parents=True)
        for source in range(3):
            for n in (1, 2):
                make_video(videos / label / f"{label}{source}_{n}.mp4", frames=6)
    runner, dest = CliRunner(), tmp_path / "dest"
    assert runner.invoke(app, ["fetch-dataset", "--source", str(videos), "--dest", str(dest)]).exit_code == 0
    trained = runner.invoke(app, ["train", "--data", str(dest), "--streams", "pose", "--epochs", "1", "--json",
                                  "--set", "hidden=16"])
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout)
    assert json.loads((Path(summary["out"]) / "config.json").read_text())["model"]["hidden"] == 16
    assert summary["dataset"] == str(dest) and summary["clips"] == {"train": 6, "val": 6}  # one source each: 2 clips
    evaluated = runner.invoke(app, ["evaluate", "--data", str(dest), "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["clips"] == 6 and not (videos / SPLITS_FILE).exists()
