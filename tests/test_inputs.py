"""Inputs beyond files: standard input (`-`) and network addresses, each compared with the same video as a file."""

import http.server
import json
import os
import threading
import time
from contextlib import contextmanager

import pytest
from typer.testing import CliRunner

from dancestyle.cli import app
from media import make_video

runner = CliRunner()


def classify(*args):
    result = runner.invoke(app, ["classify", *map(str, args), "--random-weights", "--json"], env={"COLUMNS": "250"})
    return result, [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def without_path(record: dict) -> dict:
    return {key: value for key, value in record.items() if key not in ("path", "seconds")}


@pytest.fixture
def video(tmp_path):
    return make_video(tmp_path / "clip.mkv", frames=12 * 25, fps=25, size=(32, 48))  # 12 s, two windows


@contextmanager
def standard_input(path):
    """fd 0 reads `path` (FFmpeg's pipe:0 reads the descriptor, not sys.stdin)."""
    saved = os.dup(0)
    with open(path, "rb") as source:
        os.dup2(source.fileno(), 0)
    try:
        yield
    finally:
        os.dup2(saved, 0)
        os.close(saved)


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def server(video):
    """A loopback HTTP server: /clip.mkv whole, /half.mkv cut in the middle, /stall never answers."""
    data = video.read_bytes()
    release = threading.Event()

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path == "/stall":
                release.wait(30)
                return
            if self.path not in ("/clip.mkv", "/half.mkv"):
                self.send_error(404)
                return
            body = data if self.path == "/clip.mkv" else data[: len(data) // 2]
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    release.set()
    httpd.shutdown()


def test_standard_input_gives_what_the_file_gives(video, fake_pose, isolated_home):
    _, (from_file,) = classify(video)
    with standard_input(video):
        result, (from_stdin,) = classify("-")
    assert result.exit_code == 0, result.output
    assert from_stdin["path"] == "-" and without_path(from_stdin) == without_path(from_file)


def test_a_pipe_that_closes_early_is_classified_and_flagged(video, tmp_path, fake_pose, isolated_home):
    half = tmp_path / "half.mkv"
    half.write_bytes(video.read_bytes()[: video.stat().st_size // 2])
    with standard_input(half):
        result, (record,) = classify("-")
    assert result.exit_code == 1 and record["truncated"] is True and 0 < record["frames"] < 6
    assert "ended early" in result.stderr


def test_standard_input_that_is_not_a_video_or_read_twice_is_a_clear_error(tmp_path, fake_pose, isolated_home):
    text = tmp_path / "notes.txt"
    text.write_text("not a video\n" * 50)
    with standard_input(text):
        result, (record, again) = classify("-", "-")
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert record == {"path": "-", "error": {"type": "MediaError", "message": record["error"]["message"]}}
    assert "not a video" in record["error"]["message"]
    assert again["error"]["type"] == "InputError" and "only once" in again["error"]["message"]


def test_a_url_gives_what_the_file_gives(video, server, fake_pose, isolated_home):
    _, (from_file,) = classify(video)
    result, (from_url,) = classify(f"{server}/clip.mkv")
    assert result.exit_code == 0, result.output
    assert from_url["path"] == f"{server}/clip.mkv" and without_path(from_url) == without_path(from_file)


def test_bad_urls_fail_alone_and_a_silent_one_times_out(video, server, fake_pose, isolated_home, monkeypatch):
    monkeypatch.setattr("dancestyle.video.NETWORK_TIMEOUT", 1.0)
    started = time.monotonic()
    result, records = classify(f"{server}/stall", f"{server}/missing.mkv", video, f"{server}/half.mkv")
    assert time.monotonic() - started < 20 and result.exit_code == 1
    stalled, missing, whole, half = records
    assert stalled["error"]["type"] == "InputError" and "timed out" in stalled["error"]["message"]
    assert missing["error"]["type"] == "InputError" and "404" in missing["error"]["message"]
    assert whole["label"] and "truncated" not in whole
    assert half["truncated"] is True and half["frames"] < whole["frames"]


def test_standard_input_from_a_terminal_is_refused_not_waited_on(tmp_path, fake_pose, isolated_home):
    controller, terminal = os.openpty()
    saved = os.dup(0)
    os.dup2(terminal, 0)
    try:
        result, (record,) = classify("-")
    finally:
        os.dup2(saved, 0)
        for descriptor in (saved, controller, terminal):
            os.close(descriptor)
    assert result.exit_code == 1 and "is a terminal" in record["error"]["message"]
