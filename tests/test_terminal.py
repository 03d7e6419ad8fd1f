"""What reaches the terminal: SIGTERM taken as Ctrl-C, a failing stdout said in one line, and names from a
checkpoint or a folder shown as text (never as rich markup or terminal escapes). Issue 28, items 3, 5 and 6."""

import fcntl
import io
import json
import os
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
import torch
from rich.console import Console
from typer.testing import CliRunner

from dancestyle import render
from dancestyle.checkpoints import checkpoint_config, save_checkpoint
from dancestyle.cli import app
from dancestyle.evaluate import compute_metrics
from dancestyle.models import DanceClassifier, default_config
from media import make_video

runner = CliRunner()
# a terminal title, a screen clear, markup that would colour, a closing tag that crashes rich's markup parser
HOSTILE = ["\x1b]0;pwned\x07", "\x1b[2J", "[bold red]loud", "[/x]"]
SHOWN = ["\\x1b]0;pwned\\x07", "\\x1b[2J", "[bold red]loud", "[/x]"]


def child_env(home: Path) -> dict:
    return {**os.environ, "DANCESTYLE_HOME": str(home), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "COLUMNS": "200"}


def default_signals() -> None:
    """A harness started in the background (`cmd &`) hands its children SIGINT ignored, and Python keeps it so:
    give the child the defaults a terminal gives."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def unread(pipe) -> int:
    """Bytes written to a pipe that its reader has not read yet (Linux answers FIONREAD on either end)."""
    return int.from_bytes(fcntl.ioctl(pipe.fileno(), termios.FIONREAD, b"\0\0\0\0"), sys.byteorder)


@pytest.mark.slow
def test_sigterm_shows_the_clips_classify_finished_and_exits_143(tmp_path):
    """The issue's scenario: classify in table mode is sent SIGTERM while a later input is still arriving."""
    first, second = make_video(tmp_path / "first.mp4", frames=60), make_video(tmp_path / "second.mp4", frames=60)
    live = make_video(tmp_path / "live.mkv", frames=24 * 25, fps=25, size=(32, 48)).read_bytes()
    with open(tmp_path / "stderr.txt", "wb") as stderr:  # a file: a full pipe nobody reads would block the child
        process = subprocess.Popen([sys.executable, "-m", "dancestyle", "classify", str(first), str(second), "-",
                                    "--random-weights"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   stderr=stderr, env=child_env(tmp_path / "home"), preexec_fn=default_signals)
        process.stdin.write(live[: len(live) * 2 // 3])
        process.stdin.flush()  # and kept open: the third input never ends
        # standard input is read ahead while the second video is classified, so the first has finished by then
        deadline = time.monotonic() + 120
        while unread(process.stdin) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        process.send_signal(signal.SIGTERM)
        try:
            stdout, _ = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    messages = (tmp_path / "stderr.txt").read_text()
    assert process.returncode == 143, messages
    table = stdout.decode()
    assert "Dance style" in table and "first.mp4" in table, messages
    assert "of 3 input(s) classified" in messages and "Traceback" not in messages


@pytest.fixture
def sigterm_guard():
    """A SIGTERM the command under test does not take must fail the test, not end the test run."""
    def caught(signum, frame):
        raise AssertionError("SIGTERM reached the test process: the command did not take it")

    before = signal.signal(signal.SIGTERM, caught)
    yield caught
    assert signal.getsignal(signal.SIGTERM) is caught  # the command left the process as it found it
    signal.signal(signal.SIGTERM, before)


def terminate_self(*args, **kwargs):
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(5)  # the handler raises at once; this is never reached


def test_classify_takes_sigterm_as_ctrl_c_in_json_mode(tmp_path, fake_pose, isolated_home, monkeypatch,
                                                        sigterm_guard):
    from dancestyle.pipeline import DanceStylePipeline

    real, calls = DanceStylePipeline.classify, []

    def classify(self, path, *args, **kwargs):
        calls.append(path)
        return terminate_self() if len(calls) == 2 else real(self, path, *args, **kwargs)

    monkeypatch.setattr(DanceStylePipeline, "classify", classify)
    clips = [make_video(tmp_path / f"{name}.mp4", frames=30) for name in ("a", "b", "c")]
    result = runner.invoke(app, ["classify", *map(str, clips), "--random-weights", "--json"])
    assert result.exit_code == 143 and len(result.stdout.splitlines()) == 1
    assert "Stopped: 1 of 3" in result.stderr and "Traceback" not in result.stderr


def test_watch_takes_sigterm_after_a_window_and_exits_143(tmp_path, fake_pose, isolated_home, monkeypatch,
                                                          sigterm_guard):
    from dancestyle.pipeline import DanceStylePipeline

    real = DanceStylePipeline.watch

    def watch(self, *args, **kwargs):
        for number, window in enumerate(real(self, *args, **kwargs)):
            if number == 1:
                terminate_self()
            yield window

    monkeypatch.setattr(DanceStylePipeline, "watch", watch)
    video = make_video(tmp_path / "clip.mkv", frames=14 * 25, fps=25, size=(32, 48))
    result = runner.invoke(app, ["watch", str(video), "--random-weights"])
    assert result.exit_code == 143 and result.stdout.count("–") == 1
    assert "window(s) from" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command,target,says", [
    (["evaluate", "--weights", "nowhere"], "dancestyle.evaluate.evaluate_run", "Terminated"),
    (["fetch-dataset", "--synthetic", "--clips-per-class", "3"], "dancestyle.synthetic.generate_corpus",
     "same command again"),
])
def test_evaluate_and_fetch_dataset_take_sigterm(command, target, says, isolated_home, monkeypatch, sigterm_guard):
    monkeypatch.setattr(target, terminate_self)
    result = runner.invoke(app, command)
    assert result.exit_code == 143 and says in result.stderr and "Traceback" not in result.stderr


def test_ctrl_c_in_evaluate_keeps_130_and_says_so(isolated_home, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("dancestyle.evaluate.evaluate_run", interrupted)
    result = runner.invoke(app, ["evaluate", "--weights", "nowhere"])
    assert result.exit_code == 130 and "Interrupted." in result.stderr and "Aborted" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("args", [["models"], ["classify", "{clip}", "--json", "--random-weights"]])
def test_a_stdout_that_cannot_be_written_is_said_in_one_line(args, tmp_path):
    """`dancestyle classify --json clip.mp4 > /dev/full`: no traceback, what went wrong and what to do."""
    clip = make_video(tmp_path / "clip.mp4", frames=30) if "{clip}" in args else None
    command = [sys.executable, "-m", "dancestyle", *(str(clip) if a == "{clip}" else a for a in args)]
    with open("/dev/full", "w") as full:
        done = subprocess.run(command, stdout=full, stderr=subprocess.PIPE, env=child_env(tmp_path / "home"),
                              timeout=120)
    messages = " ".join(done.stderr.decode().split())
    assert done.returncode == 1 and "Traceback" not in messages and "Exception ignored" not in messages, messages
    assert "Results could not be written to standard output: no space left on device" in messages
    assert "Free some space" in messages


def hostile_checkpoint(directory: Path, classes: list[str]) -> Path:
    """A pose-only lstm with random weights whose classes are the names an untrusted checkpoint may hold."""
    torch.manual_seed(0)
    config = default_config("lstm", streams=["pose"])
    config.classes = list(classes)
    classifier = DanceClassifier(config)
    return save_checkpoint(directory, classifier.state_dict(), checkpoint_config(classifier.config.to_dict()))


def assert_shown_as_text(output: str, names: list[str]) -> None:
    assert "\x1b" not in output and "\x07" not in output
    for name in names:
        assert name in output, name


def test_class_names_from_a_checkpoint_are_shown_as_text(tmp_path, fake_pose, isolated_home):
    checkpoint = hostile_checkpoint(tmp_path / "ckpt", HOSTILE)
    clip = make_video(tmp_path / "clip.mp4", frames=90)
    shown = runner.invoke(app, ["classify", str(clip), "--weights", str(checkpoint), "--top-k", "4", "--timeline"],
                          env={"COLUMNS": "250"})
    assert shown.exit_code == 0, shown.output
    assert_shown_as_text(shown.stdout + shown.stderr, SHOWN)
    exact = runner.invoke(app, ["classify", str(clip), "--weights", str(checkpoint), "--top-k", "4", "--json"])
    record = json.loads(exact.stdout)  # JSON keeps the names exactly
    assert sorted(entry["label"] for entry in record["top_k"]) == sorted(HOSTILE)


def test_evaluate_shows_class_and_folder_names_as_text(tmp_path, fake_pose, isolated_home):
    """A <style>/<video> dataset whose style folders are named to act on a terminal ("/" cannot be in a folder
    name: the closing tag is the next test's)."""
    folders = HOSTILE[:3]
    checkpoint = hostile_checkpoint(tmp_path / "ckpt", folders)
    videos = tmp_path / "videos"
    for style in folders:
        (videos / style).mkdir(parents=True)
        for number in range(10):  # ten sources: some of each style's land in the test split
            make_video(videos / style / f"src{number}_001.mp4", frames=30, size=(32, 24))
    result = runner.invoke(app, ["evaluate", "--weights", str(checkpoint), "--data", str(videos)],
                           env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    assert_shown_as_text(result.stdout + result.stderr, SHOWN[:3])


def captured(*renderables) -> str:
    console = Console(width=250, record=True, force_terminal=False)
    with console.capture() as capture:
        for renderable in renderables:
            console.print(renderable)
    return capture.get()


def test_every_table_of_names_shows_them_as_text(monkeypatch):
    metrics = compute_metrics([0, 1, 2, 3], [1, 0, 2, 3], HOSTILE)
    tables = captured(render.metrics_table(metrics), render.confusion_heatmap(metrics),
                      render.confused_pairs_table(metrics),
                      render.dataset_table({"root": "/data/\x1b[2J", "classes": HOSTILE, "clips": 4, "frames": 40,
                                            "missing_frames": 0, "empty_pose_frames": 0,
                                            "splits": {"train": 2, "val": 1, "test": 1}}))
    assert_shown_as_text(tables, SHOWN + ["/data/\\x1b[2J"])

    class Evaluated:
        predictions, dataset, checkpoint = [], "/data/[/x]", "/runs/\x1b]0;t\x07"

    Evaluated.metrics = metrics
    console = Console(width=250, force_terminal=False)
    monkeypatch.setattr(render, "out", console)
    with console.capture() as capture:
        render.show_evaluation(Evaluated(), "test")
    assert_shown_as_text(capture.get(), SHOWN + ["/data/[/x]", "/runs/\\x1b]0;t\\x07"])


def test_watch_lines_and_messages_show_names_as_text(monkeypatch):
    from dancestyle.timeline import ScoredWindow

    console, messages = Console(width=250, force_terminal=False), Console(width=250, force_terminal=False)
    monkeypatch.setattr(render, "out", console)
    monkeypatch.setattr(render, "err", messages)
    top = [{"label": name, "score": 0.25} for name in HOSTILE]
    with console.capture() as lines, messages.capture() as said:
        render.window_line(ScoredWindow(0.0, 10.0, HOSTILE[3], 0.25, top))
        render.warning(f"class {HOSTILE[0]} and {HOSTILE[3]}")
    assert_shown_as_text(lines.get() + said.get(), SHOWN)


def test_visible_writes_control_characters_out_and_keeps_the_rest():
    assert render.visible("a\x1b[2Jb\x07\x9b\r") == "a\\x1b[2Jb\\x07\\x9b\\r"
    assert render.visible("tango\tvals\nwaltz [x] ü") == "tango\tvals\nwaltz [x] ü"
    assert render.visible("waltz\u202egnat\u2066x\u2069") == "waltz\\u202egnat\\u2066x\\u2069"  # bidi overrides


def test_an_error_on_a_stderr_that_is_no_terminal_stays_on_one_line(tmp_path, isolated_home, monkeypatch):
    """stderr to a log file: rich wrapped at 80 columns, which cut a message mid-sentence for grep and scripts."""
    monkeypatch.delenv("COLUMNS", raising=False)  # rich's default width for a non-terminal, as a log file gets
    missing = tmp_path / "a-dataset-folder-whose-name-alone-takes-most-of-a-line-of-eighty-columns"
    result = runner.invoke(app, ["train", "--data", str(missing), "--out", str(tmp_path / "run")])
    assert result.exit_code == 1 and result.stdout == ""
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith(f"error: No dataset at {missing}.") and line.endswith("or pass --data DIR."), line


def test_messages_keep_wrapping_at_a_terminals_width():
    message = "error: " + " ".join(["word"] * 30)
    terminal = render._Messages(file=io.StringIO(), force_terminal=True, width=40, color_system=None)
    terminal.print(message)
    assert len(terminal.file.getvalue().splitlines()) > 1
    assert all(len(line) <= 40 for line in terminal.file.getvalue().splitlines())
    log = render._Messages(file=io.StringIO(), force_terminal=False, width=40)
    log.print(message)
    assert log.file.getvalue() == message + "\n"
