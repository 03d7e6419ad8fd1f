"""`dancestyle watch` and Pipeline.watch: windows reported as a live source plays, samples dropped (and counted)
only when the networks fall behind its clock."""

import json
import subprocess
import sys
import threading
import time

import pytest
import torch
from typer.testing import CliRunner

from dancestyle.cli import app
from dancestyle.pipeline import Dropped, _fill_dropped, _keep_up
from dancestyle.video import SampledFrame
from media import make_video

runner = CliRunner()


def samples(count: int, interval: float = 1.0) -> list[SampledFrame]:
    return [SampledFrame(i, i * interval, None) for i in range(count)]


def test_samples_are_dropped_only_while_behind_the_sources_clock(monkeypatch):
    clock = iter([0.0, 1.0, 2.0, 7.5, 7.6, 7.7, 7.8])  # the networks stall for ~5 s after the third sample
    monkeypatch.setattr("dancestyle.pipeline.time.monotonic", lambda: next(clock))
    kinds = [type(item).__name__ for item in _keep_up(samples(7), max_lag=2.0)]
    assert kinds == ["SampledFrame"] * 3 + ["Dropped"] * 3 + ["SampledFrame"]  # caught up: 7.8 s for 6 s


def test_a_dropped_sample_repeats_the_features_before_it_and_is_flagged():
    chunk = [SampledFrame(0, 0, None), Dropped(1, 1), SampledFrame(2, 2, None)]
    features, last = _fill_dropped(chunk, {"pose": torch.tensor([[1.0], [3.0]])}, None)
    assert features["pose"].view(-1).tolist() == [1, 1, 3] and features["dropped"].tolist() == [0, 1, 0]
    features, _ = _fill_dropped([Dropped(3, 3), Dropped(4, 4)], {}, last)
    assert features["pose"].view(-1).tolist() == [3, 3] and features["dropped"].tolist() == [1, 1]


@pytest.mark.slow
def test_watch_on_a_paced_pipe_prints_each_window_before_the_pipe_ends(tmp_path, isolated_home):
    """A 24 s video written to `watch -` in pieces over ~6 s: JSON lines come while it is still being written (the
    last two pieces wait for the first line, so a slow start under load cannot let the whole video in first)."""
    video = make_video(tmp_path / "live.mkv", frames=24 * 25, fps=25, size=(32, 48)).read_bytes()
    command = [sys.executable, "-m", "dancestyle", "watch", "-", "--random-weights", "--json", "--hop", "4"]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               env={**isolated_env(isolated_home), "OMP_NUM_THREADS": "1"})
    finished, first_line = threading.Event(), threading.Event()

    def write_paced():
        pieces = 12
        for i in range(pieces):
            if i == pieces - 2:  # 20 s of video written: the windows 0-10 s and 4-14 s are complete
                first_line.wait(timeout=120)
            process.stdin.write(video[i * len(video) // pieces:(i + 1) * len(video) // pieces])
            process.stdin.flush()
            time.sleep(0.5)
        finished.set()
        process.stdin.close()

    writer = threading.Thread(target=write_paced)
    writer.start()
    arrivals = []
    for line in process.stdout:
        arrivals.append((json.loads(line), finished.is_set()))
        first_line.set()
    writer.join()
    assert process.wait(timeout=60) == 0, process.stderr.read().decode()
    records = [record for record, _ in arrivals]
    assert [(r["start"], r["end"]) for r in records] == [(0, 10), (4, 14), (8, 18), (12, 22), (14, 24)]
    assert all(r["path"] == "-" and r["dropped"] == 0 and r["label"] for r in records)
    assert not arrivals[0][1]  # the first window came while the video was still arriving


def isolated_env(home):
    import os

    return {**os.environ, "DANCESTYLE_HOME": str(home), "HF_HUB_OFFLINE": "1"}


@pytest.mark.parametrize("windows_before,code", [(0, 130), (1, 0)])
def test_ctrl_c_ends_watch_with_0_after_a_window_and_130_before(tmp_path, fake_pose, isolated_home, monkeypatch,
                                                                  windows_before, code):
    from dancestyle.pipeline import DanceStylePipeline

    real = DanceStylePipeline.watch

    def watch(self, *args, **kwargs):
        for number, window in enumerate(real(self, *args, **kwargs)):
            if number == windows_before:
                raise KeyboardInterrupt
            yield window

    monkeypatch.setattr(DanceStylePipeline, "watch", watch)
    video = make_video(tmp_path / "clip.mkv", frames=14 * 25, fps=25, size=(32, 48))
    result = runner.invoke(app, ["watch", str(video), "--random-weights"])
    assert result.exit_code == code and result.stdout.count("–") == windows_before
    assert "window(s) from" in result.stderr


def test_watch_says_what_went_wrong_with_a_source(isolated_home):
    result = runner.invoke(app, ["watch", "/dev/video-none", "--random-weights"])
    assert result.exit_code == 1 and "could not be opened" in result.stderr and "camera" in result.stderr
    assert runner.invoke(app, ["watch", "-", "--hop", "0"]).exit_code == 2


@pytest.mark.slow
def test_ctrl_c_ends_watch_at_once_while_its_pipe_stays_open(tmp_path, isolated_home):
    """The decoding thread blocks reading a pipe that sends nothing more: Ctrl-C must not wait for it."""
    import signal

    video = make_video(tmp_path / "live.mkv", frames=24 * 25, fps=25, size=(32, 48)).read_bytes()
    # stderr goes to a file, not a pipe nobody reads: a full pipe would block the child's last messages
    with open(tmp_path / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen([sys.executable, "-m", "dancestyle", "watch", "-", "--random-weights", "--json"],
                                   stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr,
                                   env={**isolated_env(isolated_home), "OMP_NUM_THREADS": "1",
                                        "PYTHONFAULTHANDLER": "1"},
                                   # a harness started in the background (`cmd &`) hands its children SIGINT ignored,
                                   # and Python then keeps it ignored: give the child the default, as a terminal does
                                   preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        process.stdin.write(video[: len(video) * 2 // 3])
        process.stdin.flush()  # and kept open
        assert json.loads(process.stdout.readline())["start"] == 0
        process.send_signal(signal.SIGINT)
        started = time.monotonic()
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:  # hung: every thread's stack into the messages, then gone
            process.send_signal(signal.SIGABRT)
            code = process.wait(timeout=10)
        waited = time.monotonic() - started
        process.stdin.close()
    messages = (tmp_path / "stderr.txt").read_text()
    assert code == 0 and waited < 10, messages
    assert "window(s) from" in messages, messages  # the summary, written after Ctrl-C
