import io
import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from dancestyle.cli import app
from dancestyle.models import DanceClassifier, default_config
from dancestyle.checkpoints import checkpoint_config
from dancestyle.checkpoints import save_checkpoint

from media import make_video

runner = CliRunner()
RECORD_KEYS = {"path", "label", "score", "top_k", "model", "frames", "people_max", "seconds", "random_weights"}


def run(*args):
    return runner.invoke(app, [str(a) for a in args], env={"COLUMNS": "250"})  # no folded paths in tables


def lines(result):
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def pose_checkpoint(directory, model="lstm", seed=0):
    """A real checkpoint of a pose-only classifier with random weights (no RGB backbone download needed)."""
    torch.manual_seed(seed)
    classifier = DanceClassifier(default_config(model, streams=["pose"]))
    return save_checkpoint(directory, classifier.state_dict(), checkpoint_config(classifier.config.to_dict()))


@pytest.fixture
def videos(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    make_video(folder / "short.mp4", frames=90)  # 3 s
    make_video(folder / "long.mkv", frames=12 * 25, fps=25, size=(32, 48))  # 12 s: two windows
    dark = [np.zeros((48, 32, 3), np.uint8)] * 30
    make_video(folder / "dark.mp4", frames=30, size=(32, 48), images=dark)
    return folder


def test_json_lines_for_a_folder_with_bad_inputs_mixed_in(videos, tmp_path, fake_pose, isolated_home):
    (videos / "notes.mp4").write_text("not a video")
    (videos / "empty.mp4").write_bytes(b"")
    result = run("classify", videos, tmp_path / "missing.mp4", "--random-weights", "--json", "--top-k", "2")
    assert result.exit_code == 1
    records = {record["path"].rsplit("/", 1)[-1]: record for record in lines(result)}
    assert set(records) == {"short.mp4", "long.mkv", "dark.mp4", "notes.mp4", "empty.mp4", "missing.mp4"}
    for name in ("short.mp4", "long.mkv", "dark.mp4"):
        record = records[name]
        assert set(record) == RECORD_KEYS
        assert record["random_weights"] is True and record["model"] == "lstm"
        assert len(record["top_k"]) == 2 and record["top_k"][0]["label"] == record["label"]
        assert record["top_k"][0]["score"] >= record["top_k"][1]["score"]
    assert records["short.mp4"]["frames"] == 2  # instants 0 s and 2 s of a 3 s clip
    assert records["long.mkv"]["frames"] == 6  # 0, 2, ..., 10 s: windows of 5 + 1 frames
    assert records["dark.mp4"]["people_max"] == 0 and records["short.mp4"]["people_max"] == 2
    for name, words in (("notes.mp4", "not a video"), ("empty.mp4", "empty"), ("missing.mp4", "no such file")):
        assert set(records[name]) == {"path", "error"}
        assert records[name]["error"]["type"] in ("MediaError", "InputError")
        assert words in records[name]["error"]["message"]
    assert "Traceback" not in result.stderr and "random" in result.stderr
    assert "3 of 6 input(s) failed" in result.stderr


def test_table_output_and_exit_code_zero(videos, fake_pose, isolated_home):
    result = run("classify", videos / "short.mp4", videos / "dark.mp4", "--random-weights")
    assert result.exit_code == 0, result.output
    assert "Dance style" in result.stdout and "short.mp4" in result.stdout
    assert "no person found" in result.stdout
    assert "warning" in result.stderr and "warning" not in result.stdout


def test_debug_shows_the_traceback_only_when_asked(tmp_path, fake_pose, isolated_home):
    bad = tmp_path / "bad.mp4"
    bad.write_text("nope")
    quiet = run("classify", bad, "--random-weights")
    loud = run("classify", bad, "--random-weights", "--debug")
    assert quiet.exit_code == loud.exit_code == 1
    assert "Traceback" not in quiet.stderr and "not a video" in quiet.stderr
    assert "Traceback" in loud.stderr


@pytest.mark.parametrize("args", [["--model", "transformer"], ["--top-k", "0"], []])
def test_usage_errors_exit_with_two(videos, args):
    result = run("classify", *( [videos / "short.mp4"] if args else []), *args)
    assert result.exit_code == 2


def test_weights_and_random_weights_together_is_a_usage_error(videos, tmp_path):
    pose_checkpoint(tmp_path / "run")
    result = run("classify", videos / "short.mp4", "--weights", tmp_path / "run", "--random-weights")
    assert result.exit_code == 2 and "--random-weights" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_cuda_is_a_usage_error(videos, fake_pose, isolated_home):
    result = run("classify", videos / "short.mp4", "--device", "cuda", "--random-weights")
    assert result.exit_code == 2 and "no CUDA device" in result.stderr


def test_missing_weights_say_what_to_do_and_fail_every_input(videos, isolated_home, monkeypatch):
    downloads = []
    monkeypatch.setattr("dancestyle.checkpoints.hub_download", lambda *args, **kwargs: downloads.append(args))
    monkeypatch.setattr("dancestyle.published.PUBLISHED", {})  # as today: nothing published
    result = run("classify", videos / "short.mp4", videos / "dark.mp4", "--json")
    assert result.exit_code == 1
    records = lines(result)
    assert len(records) == 2 and all(record["error"]["type"] == "WeightsError" for record in records)
    assert records[0]["error"]["message"].startswith("No lstm classifier is published yet")
    assert "letsdance" not in result.output and "Run once online" not in result.stderr
    for way in ("dancestyle train --model lstm", "dancestyle fetch-dataset", "--weights", "--random-weights"):
        assert way in result.stderr
    assert "Traceback" not in result.stderr
    assert downloads == []  # no Hub request was even tried


def test_inputs_that_cannot_be_used_are_reported_before_any_model_loads(videos, isolated_home, monkeypatch):
    """Issue 28: `classify nosuch.mp4` waited ~10 s for the models (or their weights error) before saying so."""
    import dancestyle.pipeline as pipeline

    loads, load_model = [], pipeline.load_model
    monkeypatch.setattr(pipeline, "load_model", lambda *args, **kwargs: loads.append(args))
    result = run("classify", "nosuch.mp4", "--json")
    assert result.exit_code == 1 and loads == [] and "nosuch.mp4" in result.stderr
    assert lines(result)[0]["error"]["type"] == "InputError"
    # with weights missing, a missing input still says what is wrong with it, the others what is wrong with weights
    monkeypatch.setattr(pipeline, "load_model", load_model)
    monkeypatch.setattr("dancestyle.published.PUBLISHED", {})
    records = lines(run("classify", "nosuch.mp4", videos / "short.mp4", "--json"))
    assert [record["error"]["type"] for record in records] == ["InputError", "WeightsError"]


def test_weights_directory_and_newest_local_run(videos, tmp_path, fake_pose, isolated_home):
    checkpoint = pose_checkpoint(tmp_path / "ckpt", model="attention")
    given = lines(run("classify", videos / "short.mp4", "--weights", checkpoint, "--json"))[0]
    assert given["model"] == "attention" and given["random_weights"] is False
    assert given["frames"] == 3  # attention samples every second

    pose_checkpoint(isolated_home / "runs" / "lstm-1", model="lstm", seed=1)
    newest = lines(run("classify", videos / "short.mp4", "--json"))[0]
    assert newest["model"] == "lstm" and "error" not in newest
    models = {row["name"]: row for row in lines(run("models", "--json"))}
    assert models["lstm"]["cached"] is True and models["lstm"]["weights"].endswith("lstm-1")
    assert models["tcn"]["cached"] is False and models["tcn"]["weights"] == "not published"


def test_models_shows_a_published_checkpoint_at_its_pinned_commit(isolated_home, monkeypatch):
    from dancestyle.published import PUBLISHED, PublishedCheckpoint

    monkeypatch.setitem(PUBLISHED, "tcn", PublishedCheckpoint("tcn", "org/tcn", "a" * 40, "b" * 64, "a test", 0.5))
    models = {row["name"]: row for row in lines(run("models", "--json")) if row["kind"] == "model"}
    assert (models["tcn"]["weights"], models["tcn"]["cached"]) == (f"org/tcn@{'a' * 40}", False)
    assert (models["lstm"]["weights"], models["lstm"]["cached"]) == ("not published", False)
    assert f"org/tcn@{'a' * 40}" in run("models").stdout and "not published" in run("models").stdout


def test_tampered_checkpoint_is_refused(videos, tmp_path, fake_pose, isolated_home):
    checkpoint = pose_checkpoint(tmp_path / "ckpt")
    weights = checkpoint / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = run("classify", videos / "short.mp4", "--weights", checkpoint, "--json")
    assert result.exit_code == 1
    assert lines(result)[0]["error"]["type"] == "ChecksumError"


def test_models_lists_every_model(isolated_home):
    result = run("models", "--json")
    models = [row for row in lines(result) if row["kind"] == "model"]
    assert result.exit_code == 0 and [row["name"] for row in models] == ["lstm", "attention", "tcn", "frame", "r3d"]
    assert [row["frames_per_window"] for row in models] == [5, 10, 100, 60, 60]
    assert all(row["parameters"] > 10_000 for row in models)
    assert [row["streams"] for row in models] == [["rgb", "pose"]] * 4 + [["pose"]]
    backends = [row for row in lines(result) if row["kind"] == "pose"]
    assert [row["name"] for row in backends] == ["rtmpose-t", "rtmpose-s", "rcnn"]
    assert [row["default"] for row in backends] == [False, True, False]
    assert all(row["license"] and row["coco_ap"] and row["cached"] is False for row in backends)
    table = run("models").stdout
    assert "Models" in table and "Pose backends" in table
    # issue 28: at 80 columns every cell folded mid-word ("attenti/on", "publishe/d"); the tables keep short facts
    # whole and each row's sentence goes on a line of its own
    from rich.console import Console

    from dancestyle import render

    console = Console(width=80, record=True, file=io.StringIO())
    console.print(render.models_table(models))
    console.print(render.pose_backends_table(backends))
    narrow = console.export_text()
    rows = [line for line in narrow.splitlines() if line.startswith(" ")]
    assert all(len(line) <= 80 for line in rows) and "…" not in narrow
    assert " attention " in narrow and " not published " in narrow and "rtmpose-s (default)" in narrow
    assert "tcn: TCN, 6 x 128 channels" in " ".join(narrow.split())


@pytest.mark.slow
def test_end_to_end_with_the_real_detector_and_random_weights(tmp_path, isolated_home):
    video = make_video(tmp_path / "clip.webm", frames=30, codec="libvpx-vp9", size=(96, 64))
    result = run("classify", video, "--random-weights", "--json", "--model", "tcn")
    assert result.exit_code == 0, result.output
    record = lines(result)[0]
    assert record["model"] == "tcn" and record["frames"] == 10 and 0 <= record["people_max"] <= 20
    assert sum(entry["score"] for entry in record["top_k"]) <= 1.0001


def test_a_short_last_window_is_completed_from_the_one_before(videos, fake_pose, isolated_home, monkeypatch):
    from dancestyle.pipeline import load_model

    pipeline = load_model("lstm", random_weights=True, device="cpu")
    seen, original = [], pipeline._probabilities
    monkeypatch.setattr(pipeline, "_probabilities",
                        lambda features, timings: seen.append(features) or original(features, timings))
    prediction = pipeline.classify(videos / "long.mkv", timeline=True)  # 12 s: samples at 0, 2, ..., 10 s
    assert prediction.window_count == 2 and prediction.frames == 6
    assert [(window.start, window.end) for window in prediction.windows] == [(0, 10), (2, 12)]
    assert [{s: len(f) for s, f in window.items()} for window in seen] == [{"rgb": 5, "pose": 5}] * 2
    for stream in ("rgb", "pose"):  # the second window is samples 2 s .. 10 s: four reused, one new
        assert torch.equal(seen[1][stream][:4], seen[0][stream][1:])
        assert not torch.equal(seen[1][stream][4], seen[0][stream][4])


def test_timeline_adds_windows_and_segments_to_json_and_a_strip_to_the_table(videos, fake_pose, isolated_home):
    result = run("classify", videos / "long.mkv", "--random-weights", "--timeline", "--hop", "4", "--json")
    assert result.exit_code == 0, result.output
    record = lines(result)[0]
    assert set(record) == RECORD_KEYS | {"windows", "segments"}
    assert [(w["start"], w["end"]) for w in record["windows"]] == [(0, 10), (2, 12)]
    assert set(record["windows"][0]) == {"start", "end", "label", "score", "top_k"}
    assert record["segments"][0]["start"] == 0 and record["segments"][-1]["end"] == 12
    table = run("classify", videos / "long.mkv", "--random-weights", "--timeline").stdout
    assert "█" * 60 in table and "0:00" in table and "0:12" in table and "Dance style" in table


@pytest.mark.slow
@pytest.mark.parametrize("model", ["lstm", "attention", "tcn", "frame", "r3d"])
def test_every_model_gives_a_timeline(model, videos, fake_pose, isolated_home):
    result = run("classify", videos / "long.mkv", "--random-weights", "--timeline", "--hop", "5", "--json",
                 "--model", model)
    assert result.exit_code == 0, result.output
    record = lines(result)[0]
    assert record["windows"][0]["start"] == 0 and record["windows"][-1]["end"] == 12
    assert record["segments"] and record["segments"][-1]["end"] == 12


@pytest.mark.parametrize("hop", ["0", "-1", "10.5"])
def test_a_hop_outside_one_window_is_a_usage_error(videos, hop):
    result = run("classify", videos / "long.mkv", "--random-weights", "--timeline", "--hop", hop)
    assert result.exit_code == 2 and "--hop" in result.output and "Traceback" not in result.output


def test_ctrl_c_shows_what_finished_and_exits_130(videos, fake_pose, isolated_home, monkeypatch):
    from dancestyle.pipeline import DanceStylePipeline

    real, calls = DanceStylePipeline.classify, []

    def classify(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(DanceStylePipeline, "classify", classify)
    result = run("classify", videos, "--random-weights", "--json")
    assert result.exit_code == 130 and len(lines(result)) == 1 and "Stopped: 1 of 3" in result.stderr
    calls.clear()
    table = run("classify", videos, "--random-weights")
    assert table.exit_code == 130 and "Dance style" in table.stdout


def test_file_names_with_brackets_are_shown_as_they_are(tmp_path, fake_pose, isolated_home):
    odd = make_video(tmp_path / "Waltz [dQw4w9WgXcQ].mp4", frames=30)
    (tmp_path / "odd[").mkdir()
    broken = tmp_path / "odd[" / "bold].mp4"  # the path holds "[/bold]", a closing tag to rich
    broken.write_text("not a video")
    result = run("classify", odd, broken, "--random-weights")
    assert result.exit_code == 1
    assert "[dQw4w9WgXcQ]" in result.stdout  # yt-dlp's naming survives the table
    assert "odd[/bold].mp4" in result.stderr.replace("\n", "") and "Traceback" not in result.stderr


def test_help_and_version_do_not_import_torch_or_the_hub():
    """--version and --help answer in a fraction of a second: nothing heavy is imported to build them."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from dancestyle.cli import app\n"
        "for args in (['--version'], ['--help'], ['classify', '--help'], ['train', '--help']):\n"
        "    result = CliRunner().invoke(app, args)\n"
        "    assert result.exit_code == 0 and result.stdout.strip(), (args, result.output)\n"
        "heavy = ('torch', 'torchvision', 'av', 'huggingface_hub', 'safetensors')\n"
        "print(sorted(name for name in sys.modules if name.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize("setting, says", [("hidden=x", "takes int values"), ("size=3", "not KEY=VALUE"),
                                           ("hidden", "not KEY=VALUE"), ("fusion=middle", "takes fusion")])
def test_a_model_setting_train_cannot_take_is_a_usage_error(setting, says, isolated_home):
    result = run("train", "--model", "lstm", "--set", setting)
    assert result.exit_code == 2 and says in result.stderr and "Traceback" not in result.stderr


def test_a_resumed_run_takes_no_model_settings(isolated_home, tmp_path):
    result = run("train", "--resume", "--out", tmp_path, "--set", "hidden=64")
    assert result.exit_code == 2 and "--set cannot change a resumed run" in result.stderr


def test_model_settings_are_typed_as_their_defaults():
    from dancestyle.configs import parse_settings
    from dancestyle.models import default_config

    parsed = parse_settings(["fusion=early", "hidden=64", "stream_dropout=1"], default_config("lstm"))
    assert parsed == {"fusion": "early", "hidden": 64, "stream_dropout": 1.0}
    assert type(parsed["stream_dropout"]) is float


def test_classify_decodes_each_video_once_the_first_from_before_the_models_load(videos, fake_pose, isolated_home,
                                                                               monkeypatch):
    from dancestyle import pipeline, video

    events = []
    read_ahead, load_model = video.Decoding.read_ahead, pipeline.load_model

    def decoding(decoding, source):
        events.append(source.name)
        return read_ahead(decoding, source)

    def loading(*args, **kwargs):
        events.append("models loaded")
        return load_model(*args, **kwargs)

    monkeypatch.setattr(video.Decoding, "read_ahead", decoding)
    monkeypatch.setattr(pipeline, "load_model", loading)
    result = run("classify", videos / "short.mp4", videos / "long.mkv", "--random-weights", "--json")
    assert result.exit_code == 0, result.output
    assert [record["frames"] > 0 for record in lines(result)] == [True, True]
    assert events == ["short.mp4", "models loaded", "long.mkv"]  # the first taken over, not decoded again


@pytest.mark.parametrize("failure", [KeyboardInterrupt, RuntimeError])
def test_a_load_that_fails_or_is_interrupted_stops_the_early_decoding(failure, videos, isolated_home, monkeypatch):
    from dancestyle import pipeline, video

    early = []
    monkeypatch.setattr(video.EarlyStart, "close", lambda self: early.append(self.reader))

    def failing(*args, **kwargs):
        raise failure

    monkeypatch.setattr(pipeline, "load_model", failing)
    result = run("classify", videos / "short.mp4", "--random-weights")
    assert result.exit_code != 0
    assert len(early) == 1 and early[0] is not None
    early[0].close()
