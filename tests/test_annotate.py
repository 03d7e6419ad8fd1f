"""--save-video (annotate.py): the frames the model sampled written back as an MP4, with the skeletons the pose
backend found and the styles the windows scored drawn on them; decoded back here and looked at."""

import json
from fractions import Fraction

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from dancestyle.annotate import PERSON_COLOURS, VideoAnnotator
from dancestyle.cli import app
from dancestyle.render import style_rgb
from dancestyle.timeline import ScoredWindow
from dancestyle.video import SampledFrame
from media import make_video

runner = CliRunner()
GREY = 90  # the source videos' colour: a joint or the banner drawn over it is told apart from it
SIZE = (64, 96)  # the source videos' width, height: enlarged 5.625 times to a short side of 360
JOINTS = np.array([(20 + 2 * (joint % 6), 35 + 3 * (joint // 6)) for joint in range(17)], np.float32)
NOSE = (12, 60)  # where the fake backend puts the only person's nose (x, y in the source's pixels)


class OnePersonPose:
    """A pose backend that finds one person, always at the same place: its nose at NOSE, the rest at JOINTS."""

    def __init__(self, *args, **kwargs):
        pass

    def estimate(self, images):
        person = JOINTS.copy()
        person[0] = NOSE
        return [person[None] for _ in images]


@pytest.fixture
def one_person(monkeypatch):
    monkeypatch.setattr("dancestyle.maker.create_pose_estimator", OnePersonPose)


def grey_video(path, seconds: int, fps: int = 5):
    image = np.full((SIZE[1], SIZE[0], 3), GREY, np.uint8)
    return make_video(path, frames=seconds * fps, fps=fps, size=SIZE, images=[image] * (seconds * fps))


def decoded(path) -> list[av.VideoFrame]:
    with av.open(str(path)) as container:
        return list(container.decode(video=0))


def said(result) -> str:
    """stderr with rich's line wrapping undone."""
    return " ".join(result.stderr.split())


def classify(*args):
    result = runner.invoke(app, ["classify", *map(str, args), "--random-weights", "--json"])
    assert result.exit_code == 0, result.output
    return result, json.loads(result.stdout.splitlines()[0])


def test_classify_writes_the_sampled_frames_at_their_pace(tmp_path, one_person, isolated_home):
    out = tmp_path / "videos" / "out.mp4"
    out.parent.mkdir()
    out.write_bytes(b"an older video")  # replaced
    result, prediction = classify(grey_video(tmp_path / "clip.mp4", 12), "--save-video", out)
    frames = decoded(out)
    assert prediction["frames"] == 6 and len(frames) == 6  # the lstm samples every 2 s
    assert [float(frame.time) for frame in frames] == [0, 2, 4, 6, 8, 10]
    assert (frames[0].width, frames[0].height) == (360, 540)  # enlarged from 64 x 96
    assert f"video: {out} (6 frames)" in said(result)
    assert [p.name for p in out.parent.iterdir()] == ["out.mp4"]  # no temporary file left


def test_a_joint_is_drawn_where_the_pose_backend_found_it(tmp_path, one_person, isolated_home):
    out = tmp_path / "out.mp4"
    classify(grey_video(tmp_path / "clip.mp4", 10), "--save-video", out)
    image = decoded(out)[2].to_ndarray(format="rgb24")
    scale = image.shape[1] / SIZE[0]
    x, y = round(NOSE[0] * scale), round(NOSE[1] * scale)
    assert np.abs(image[y, x].astype(int) - PERSON_COLOURS[0]).max() < 60  # H.264 is lossy
    far = image[y, round(50 * scale)].astype(int)  # no joint or limb there: the source's grey
    assert np.abs(far - GREY).max() < 20


def test_the_banner_shows_the_windows_style_and_the_strip_its_run(tmp_path, one_person, isolated_home):
    out = tmp_path / "out.mp4"
    _, prediction = classify(grey_video(tmp_path / "clip.mp4", 10), "--save-video", out)  # one window
    image = decoded(out)[1].to_ndarray(format="rgb24").astype(int)
    colour = np.array(style_rgb(prediction["label"]))
    near = (np.abs(image - colour).max(axis=2) < 40)
    banner, strip = near[:image.shape[0] // 6], near[-10:]
    assert banner.sum() > 50 and strip.mean() > 0.5  # the top style's bar; its run along the bottom
    assert np.abs(image[:5].mean() - GREY) > 30  # the banner's band is darkened
    assert near[image.shape[0] // 3: -image.shape[0] // 6].sum() == 0  # and the picture in between is not hidden


def test_frames_are_written_with_the_first_window_that_holds_them(tmp_path, monkeypatch):
    """Overlapping windows (4 frames every 2): a frame waits only until the first window that holds it is scored,
    so at most one window's frames wait; the strip shows each window's new part."""
    written = []

    class Writer:
        def __init__(self, *args):
            pass

        def write(self, image, seconds):
            written.append(seconds)

        def close(self, path):
            written.append("closed")

    monkeypatch.setattr("dancestyle.annotate._Mp4Writer", Writer)
    samples = [SampledFrame(i + 30, i * 0.5, np.full((40, 40, 3), 50, np.uint8)) for i in range(8)]  # indexes
    # that jumped with the video's timestamps: what counts is the place among the samples

    def window(first, label):
        return ScoredWindow(first * 0.5, (first + 4) * 0.5, label, 0.9, [{"label": label, "score": 0.9}])

    with VideoAnnotator(tmp_path / "out.mp4", Fraction(1, 2)) as video:
        video.add(samples[:4], [], [0, 1, 2, 3])
        assert written == [] and len(video.waiting) == 4
        video.scored(0, 4, window(0, "waltz"))
        video.add(samples[4:6], [], [4, 5])
        assert written == [0, 0.5, 1, 1.5] and len(video.waiting) == 2
        video.scored(2, 4, window(2, "waltz"))
        video.add(samples[6:], [], [6, 7])
        video.scored(4, 4, window(4, "tango"))
    assert written == [i * 0.5 for i in range(8)] + ["closed"]
    assert video.runs == [[0.0, 3.0, "waltz"], [3.0, 4.0, "tango"]]


def test_watch_writes_a_playable_video_also_after_ctrl_c(tmp_path, one_person, isolated_home, monkeypatch):
    from dancestyle.pipeline import DanceStylePipeline

    real = DanceStylePipeline.watch

    def watch(self, *args, **kwargs):  # Ctrl-C as the second window arrives
        for number, window in enumerate(real(self, *args, **kwargs)):
            if number == 1:
                raise KeyboardInterrupt
            yield window

    clip = grey_video(tmp_path / "clip.mp4", 24)  # 12 samples: windows of 0-5, 5-10 and 7-12
    whole, stopped = tmp_path / "whole.mp4", tmp_path / "stopped.mp4"
    result = runner.invoke(app, ["watch", str(clip), "--random-weights", "--hop", "10", "--save-video", str(whole)])
    assert result.exit_code == 0 and len(decoded(whole)) == 12, result.output
    monkeypatch.setattr(DanceStylePipeline, "watch", watch)
    result = runner.invoke(app, ["watch", str(clip), "--random-weights", "--hop", "10", "--save-video",
                                 str(stopped)])
    assert result.exit_code == 0 and f"video: {stopped} (10 frames)" in said(result), result.output
    assert len(decoded(stopped)) == 10  # the frames of the two windows scored, finished and playable


@pytest.mark.parametrize("save,message", [
    ("missing/out.mp4", "does not exist"), ("out.avi", "must end in .mp4"), (".", "is a folder")])
def test_a_bad_save_video_path_is_a_usage_error_before_any_model_loads(tmp_path, monkeypatch, save, message):
    monkeypatch.setattr("dancestyle.pipeline.load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    clip = grey_video(tmp_path / "clip.mp4", 2)
    for command in ("classify", "watch"):
        result = runner.invoke(app, [command, str(clip), "--random-weights", "--save-video", str(tmp_path / save)])
        assert result.exit_code == 2 and message in said(result), result.output
        assert "Traceback" not in result.output and result.stdout == ""


def test_save_video_takes_one_input(tmp_path, monkeypatch):
    monkeypatch.setattr("dancestyle.pipeline.load_model", lambda *a, **k: pytest.fail("a model was loaded"))
    first, second = grey_video(tmp_path / "a.mp4", 2), grey_video(tmp_path / "b.mp4", 2)
    result = runner.invoke(app, ["classify", str(first), str(second), "--save-video", str(tmp_path / "out.mp4")])
    assert result.exit_code == 2 and "2 inputs" in said(result) and not (tmp_path / "out.mp4").exists()


def test_a_video_that_cannot_be_written_fails_its_input_without_a_traceback(tmp_path, one_person, isolated_home,
                                                                            monkeypatch):
    def full_disk(*args):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("dancestyle.annotate._Mp4Writer.write", full_disk)
    out = tmp_path / "videos" / "out.mp4"
    out.parent.mkdir()
    result = runner.invoke(app, ["classify", str(grey_video(tmp_path / "clip.mp4", 4)), "--random-weights",
                                 "--save-video", str(out)])
    assert result.exit_code == 1 and "could not be written" in said(result) and "No space" in said(result)
    assert "Traceback" not in result.output and list(out.parent.iterdir()) == []  # its temporary file removed


def test_a_model_without_the_pose_stream_says_its_video_has_no_skeletons(tmp_path, capsys):
    from types import SimpleNamespace

    from dancestyle.cli.use import _video_writer

    for streams, warned in ((("rgb",), True), (("rgb", "pose"), False)):
        pipeline = SimpleNamespace(recipe=SimpleNamespace(streams=streams), config=SimpleNamespace(name="lstm"),
                                   annotator=lambda path, live: VideoAnnotator(path, Fraction(2), live))
        assert isinstance(_video_writer(pipeline, tmp_path / "out.mp4"), VideoAnnotator)
        assert ("no pose stream" in " ".join(capsys.readouterr().err.split())) == warned
