import math
import os
from fractions import Fraction

import numpy as np
import pytest

from dancestyle.errors import InputError, MediaError
from dancestyle.video import find_videos, iter_sampled_frames, sample_interval

from media import index_frame, make_audio_only, make_video, read_index


def expected_indices(frames: int, fps: Fraction, interval: Fraction) -> list[int]:
    """The frame on screen at each instant k * interval (with an eighth of a frame of slack for rounded
    timestamps), for instants before the video ends."""
    duration = frames / fps
    count = math.ceil(duration / interval)
    return [math.floor(k * interval * fps + Fraction(1, 8)) for k in range(count)]


@pytest.mark.parametrize("fps", [24, 25, Fraction(30000, 1001), 30, 60])
@pytest.mark.parametrize("stride", [60, 5])
def test_sampler_picks_the_frame_on_screen_at_each_instant(tmp_path, fps, stride):
    frames = int(3 * fps)  # 3 s
    video = make_video(tmp_path / "clip.mp4", frames=frames, fps=fps)
    interval = sample_interval(stride)
    sampled = list(iter_sampled_frames(video, interval))
    assert [read_index(s.image) for s in sampled] == expected_indices(frames, Fraction(fps), interval)
    assert [s.index for s in sampled] == list(range(len(sampled)))
    assert sampled[1].time == pytest.approx(float(interval))


@pytest.mark.parametrize("codec,suffix,pix_fmt,size", [
    ("libx264", ".mp4", "yuv420p", (64, 96)),
    ("mpeg4", ".avi", "yuv420p", (64, 96)),
    ("libvpx-vp9", ".webm", "yuv420p", (64, 96)),
    ("libsvtav1", ".mkv", "yuv420p", (64, 96)),
    ("libx264", ".mov", "yuv444p", (65, 97)),  # odd size
])
def test_codecs_and_containers_sample_the_same_instants(tmp_path, codec, suffix, pix_fmt, size):
    video = make_video(tmp_path / f"clip{suffix}", frames=50, fps=25, codec=codec, pix_fmt=pix_fmt, size=size)
    sampled = list(iter_sampled_frames(video, sample_interval(15)))  # every 0.5 s
    assert [read_index(s.image) for s in sampled] == [0, 12, 25, 37]
    assert sampled[0].image.shape == (size[1], size[0], 3)


@pytest.mark.parametrize("codec,suffix,pix_fmt", [("ffv1", ".mkv", "bgr0"), ("png", ".mov", "rgb24")])
def test_lossless_frames_decode_to_exactly_what_was_written(tmp_path, codec, suffix, pix_fmt):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (47, 65, 3), dtype=np.uint8) for _ in range(4)]
    video = make_video(tmp_path / f"noise{suffix}", frames=4, fps=30, codec=codec, pix_fmt=pix_fmt, size=(65, 47),
                       images=images)
    sampled = list(iter_sampled_frames(video, Fraction(1, 30)))
    assert len(sampled) == 4
    for written, decoded in zip(images, sampled):
        np.testing.assert_array_equal(decoded.image, written)


def test_one_frame_video_gives_one_sample(tmp_path):
    video = make_video(tmp_path / "one.mp4", frames=1)
    sampled = list(iter_sampled_frames(video, sample_interval(60)))
    assert len(sampled) == 1 and read_index(sampled[0].image) == 0


def test_long_video_is_sampled_every_interval_to_its_end(tmp_path):
    video = make_video(tmp_path / "long.mp4", frames=25 * 30, fps=30, size=(32, 48))
    sampled = list(iter_sampled_frames(video, sample_interval(60)))
    assert [frame.index for frame in sampled] == list(range(13))
    assert [read_index(frame.image) for frame in sampled[-3:]] == [600, 660, 720]


def test_a_jump_in_timestamps_is_not_sampled_hour_after_hour(tmp_path):
    """Issue 28: a 3 KB file with a 33-hour gap between frames was sampled ~60,000 times (a day of networks run on
    one held frame). A frame gives at most MAX_SAMPLES_PER_FRAME samples; sampling goes on from the next frame."""
    import av

    from dancestyle.video import MAX_SAMPLES_PER_FRAME

    path, gap = tmp_path / "gap.mkv", 33 * 3600
    container = av.open(str(path), "w")
    stream = container.add_stream("ffv1", rate=30)  # intra-only: frames come back in the order written
    stream.width, stream.height, stream.pix_fmt = 32, 48, "yuv420p"
    for index, pts in enumerate([0, 1, 2, 30 * gap]):
        frame = av.VideoFrame.from_ndarray(index_frame(index, 32, 48), format="rgb24")
        frame.pts, frame.time_base = pts, Fraction(1, 30)
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    sampled = list(iter_sampled_frames(path, sample_interval(3)))
    shown = [read_index(frame.image) for frame in sampled]
    assert len(sampled) == 2 + MAX_SAMPLES_PER_FRAME and shown[:2] == [0, 2] and shown[-1] == 3
    assert sampled[-1].time == pytest.approx(gap) and sampled[-2].time == pytest.approx(3.0)
    indices = [frame.index for frame in sampled]
    assert indices == sorted(set(indices))  # instants in order, the skipped ones left out


def test_an_ordinary_mp4_piped_in_says_it_needs_its_index_first(tmp_path):
    """Issue 28: `cat clip.mp4 | dancestyle classify -` (index at the end, past what FFmpeg buffers from a pipe)
    said "corrupt or truncated; re-export or re-download it", which is false."""
    import subprocess
    import sys

    noise = np.random.default_rng(0).integers(0, 255, (60, 240, 320, 3), dtype=np.uint8)  # big: ~2 MB of H.264
    video = make_video(tmp_path / "plain.mp4", frames=60, size=(320, 240), images=list(noise))
    read = ("from dancestyle.video import iter_sampled_frames, sample_interval\n"
            "try:\n    list(iter_sampled_frames('-', sample_interval(3)))\n"
            "except Exception as e:\n    print(e)")
    said = subprocess.run([sys.executable, "-c", read], input=video.read_bytes(), capture_output=True).stdout
    assert b"+faststart" in said and b"re-download" not in said


def test_frames_are_downscaled_to_the_short_side_keeping_aspect(tmp_path):
    video = make_video(tmp_path / "big.mp4", frames=2, size=(320, 192))
    sampled = next(iter_sampled_frames(video, sample_interval(60), max_short_side=96))
    assert sampled.image.shape == (96, 160, 3)


def test_find_videos_expands_directories_and_globs_and_reports_bad_inputs(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "empty").mkdir()
    make_video(tmp_path / "a" / "one.mp4", frames=1)
    make_video(tmp_path / "a" / "b" / "two.MKV", frames=1)
    (tmp_path / "a" / "notes.txt").write_text("not a video")
    rows = find_videos([str(tmp_path / "a"), str(tmp_path / "a" / "*.mp4"), str(tmp_path / "missing.mp4"),
                        str(tmp_path / "empty"), str(tmp_path / "nothing*.mp4")])
    found = [path.name for _, path, error in rows if error is None]
    assert found == ["two.MKV", "one.mp4", "one.mp4"]  # sorted by path: a/b/ before a/one
    errors = [(given, error) for given, _, error in rows if error is not None]
    assert [type(e) for _, e in errors] == [InputError] * 3
    assert "no such file" in errors[0][1].message
    assert "no video files" in errors[1][1].message
    assert "matches no files" in errors[2][1].message


def bad_file(tmp_path, kind):
    path = tmp_path / "bad.mp4"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("this is not a video\n" * 20)
    elif kind == "truncated":
        data = make_video(tmp_path / "whole.mp4", frames=60).read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "audio":
        path = make_audio_only(tmp_path / "audio.m4a")
    elif kind == "undecodable":  # a valid Matroska header followed by garbage where the frames should be
        data = bytearray(make_video(tmp_path / "whole.mkv", frames=60).read_bytes())
        start = data.find(bytes.fromhex("1F43B675")) + 40  # Matroska Cluster element
        data[start:] = np.random.default_rng(0).integers(0, 256, len(data) - start, dtype=np.uint8).tobytes()
        path = tmp_path / "bad.mkv"
        path.write_bytes(bytes(data))
    elif kind == "directory":
        path.mkdir()
    return path


@pytest.mark.parametrize("kind,words", [
    ("empty", "empty"), ("text", "not a video"), ("truncated", "not a video"), ("audio", "no video stream"),
    ("undecodable", "no frame could be decoded"), ("directory", "not a regular file"),
])
def test_bad_media_gives_a_clear_error(tmp_path, kind, words):
    with pytest.raises(InputError) as caught:
        list(iter_sampled_frames(bad_file(tmp_path, kind), sample_interval(60)))
    assert words in caught.value.message
    assert caught.value.hint
    if kind not in ("directory",):
        assert isinstance(caught.value, MediaError)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_says_permission_denied(tmp_path):
    video = make_video(tmp_path / "locked.mp4", frames=1)
    video.chmod(0)
    with pytest.raises(InputError, match="permission denied"):
        list(iter_sampled_frames(video, sample_interval(60)))


def test_read_ahead_yields_everything_in_order_and_raises_where_it_failed():
    from dancestyle.video import ReadAhead

    assert list(ReadAhead(iter(range(100)), depth=3)) == list(range(100))

    def failing():
        yield 1
        yield 2
        raise ValueError("broken at 3")

    seen = []
    with pytest.raises(ValueError, match="broken at 3"):
        for item in ReadAhead(failing()):
            seen.append(item)
    assert seen == [1, 2]


def test_read_ahead_stops_decoding_when_the_consumer_stops():
    import threading

    from dancestyle.video import ReadAhead

    closed = threading.Event()

    def endless():
        try:
            number = 0
            while True:
                number += 1
                yield number
        finally:
            closed.set()

    reader = ReadAhead(endless(), depth=2)
    for item in reader:
        if item == 5:
            break
    assert closed.wait(5) and not reader._thread.is_alive()


def test_classify_many_keeps_the_order_and_the_failures_in_place(tmp_path, fake_pose, isolated_home):
    from dancestyle.errors import InputError
    from dancestyle.pipeline import load_model

    clips = [make_video(tmp_path / f"{name}.mp4", frames=30, size=(32, 24)) for name in "ab"]
    (tmp_path / "bad.mp4").write_text("not a video")
    given_error = InputError("never found")
    pipeline = load_model("lstm", random_weights=True)
    results = list(pipeline.classify_many([clips[0], tmp_path / "bad.mp4", given_error, clips[1]]))
    assert [type(r).__name__ for r in results] == ["Prediction", "MediaError", "InputError", "Prediction"]
    assert results[2] is given_error and results[3].path == str(clips[1])


def test_classify_tells_how_far_into_each_video_the_networks_are(tmp_path, fake_pose, isolated_home):
    """Issue 28: a long video showed no progress until it was done."""
    from dancestyle.pipeline import load_model

    clips = [make_video(tmp_path / f"{name}.mp4", frames=frames, size=(32, 24)) for name, frames in (("a", 90),
                                                                                                    ("b", 30))]
    pipeline = load_model("attention", random_weights=True)  # a sample every second
    told = []
    results = list(pipeline.classify_many(clips, on_progress=lambda item, seconds: told.append((item, seconds))))
    assert all(type(result).__name__ == "Prediction" for result in results)
    assert told == [(clips[0], 0.0), (clips[0], 1.0), (clips[0], 2.0), (clips[1], 0.0)]


def test_a_video_with_display_rotation_comes_out_upright(tmp_path):
    """A phone video: stored landscape with a display matrix rotating it -90 degrees (90 clockwise), as players show
    it: portrait, the stored top-left corner at the top right."""
    import av

    path = tmp_path / "phone.mp4"
    image = np.zeros((32, 64, 3), np.uint8)
    image[:12, :20] = 255  # the stored frame's top-left corner
    container = av.open(str(path), "w")
    stream = container.add_stream("libx264", rate=30)
    stream.width, stream.height, stream.pix_fmt = 64, 32, "yuv420p"
    if not hasattr(stream, "set_display_rotation"):
        pytest.skip("this PyAV cannot write a display matrix")
    stream.set_display_rotation(-90)
    for _ in range(10):
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    frame = next(iter_sampled_frames(path, sample_interval(30))).image
    assert frame.shape == (64, 32, 3)
    bright = frame.mean(axis=2) > 128
    assert bright[:10, -6:].all() and not bright[:10, :6].any() and not bright[-10:].any()


@pytest.mark.parametrize("with_flow", [False, True])
def test_with_end_the_last_item_says_where_the_video_ends(tmp_path, with_flow):
    from dancestyle.flow import FlowSettings
    from dancestyle.video import VideoEnd

    video = make_video(tmp_path / "seven.mkv", frames=7 * 25, fps=25, size=(32, 48))
    flow = FlowSettings(pairs=2, grid=4) if with_flow else None
    items = list(iter_sampled_frames(video, sample_interval(60), flow=flow, with_end=True))
    assert [type(item).__name__ for item in items] == ["SampledFrame"] * 4 + ["VideoEnd"]
    assert items[-1] == VideoEnd(7.0)
    assert not any(isinstance(item, VideoEnd) for item in iter_sampled_frames(video, sample_interval(60)))


def _decoded(items) -> list:
    """Sampled frames as (index, time, pixels) and the VideoEnd, comparable between two decodings."""
    return [(item.index, item.time, item.image.tobytes()) if hasattr(item, "image") else item for item in items]


def test_early_start_is_taken_over_only_for_the_same_file_decoded_the_same_way(tmp_path):
    from dancestyle.video import Decoding, EarlyStart

    video = make_video(tmp_path / "clip.mp4", frames=60)
    decoding = Decoding(sample_interval(10), 64)
    early = EarlyStart(video, decoding)
    assert early.take(video, Decoding(sample_interval(5), 64)) is None
    assert early.take(video, Decoding(sample_interval(10), 32)) is None
    assert early.take(tmp_path / "other.mp4", decoding) is None
    reader = early.take(str(video), decoding)  # the CLI's paths and the pipeline's may differ in type
    assert reader is not None and early.take(video, decoding) is None  # taken once
    assert _decoded(reader) == _decoded(decoding.read_ahead(video))
    early.close()  # nothing left to stop


def test_early_start_not_taken_is_stopped_by_close(tmp_path):
    from dancestyle.video import Decoding, EarlyStart

    early = EarlyStart(make_video(tmp_path / "clip.mp4", frames=90), Decoding(sample_interval(1), 64))
    reader = early.reader
    early.close()
    assert early.reader is None and not reader._thread.is_alive()


def test_the_pipeline_reads_ahead_with_the_early_start_when_it_decodes_the_same_way(tmp_path):
    from types import SimpleNamespace

    from dancestyle.pipeline import DanceStylePipeline
    from dancestyle.video import Decoding, EarlyStart

    video = make_video(tmp_path / "clip.mp4", frames=30)
    early = EarlyStart(video, Decoding(sample_interval(10), 64))
    same = SimpleNamespace(early=early, decoding=Decoding(sample_interval(10), 64))
    other = SimpleNamespace(early=early, decoding=Decoding(sample_interval(5), 64))
    expected = early.reader
    fresh = DanceStylePipeline.read_ahead(other, video)
    fresh.close()
    assert fresh is not expected
    assert DanceStylePipeline.read_ahead(same, video) is expected
    early.close()


def decoded_and_sampled(video, interval: Fraction, skip_unseen: bool) -> tuple[int, list[np.ndarray]]:
    """How many frames the decoder gave, and the sampled images, with or without skipping unseen frames."""
    from dancestyle.video import SampledFrame, _sampled_frames

    items = list(_sampled_frames(video, interval, None, with_decoded=True, skip_unseen=skip_unseen))
    decoded = sum(1 for item in items if isinstance(item, tuple) and item[0] == "frame")
    return decoded, [item.image for item in items if isinstance(item, SampledFrame)]


@pytest.mark.parametrize("suffix,fps", [(".mp4", 30), (".mp4", Fraction(30000, 1001)), (".mkv", 25), (".mp4", 60)])
@pytest.mark.parametrize("stride", [60, 5, 1])
def test_skipping_unseen_frames_samples_the_same_frames(tmp_path, suffix, fps, stride):
    # libx264's default B-frames: the frames between sparse instants are mostly non-reference ones, which are skipped
    video = make_video(tmp_path / f"clip{suffix}", frames=int(3 * fps), fps=fps)
    interval = sample_interval(stride)
    every, before = decoded_and_sampled(video, interval, skip_unseen=False)
    fewer, after = decoded_and_sampled(video, interval, skip_unseen=True)
    assert [read_index(image) for image in after] == [read_index(image) for image in before]
    for image_before, image_after in zip(before, after):
        np.testing.assert_array_equal(image_after, image_before)  # the very frames, not look-alikes
    assert every == int(3 * fps)
    if stride == 60:
        assert fewer < every * 0.75
    if interval <= 1 / Fraction(fps):  # every frame is on screen at some instant: none may be skipped
        assert fewer == every


def test_a_frame_is_unseen_only_when_no_instant_falls_before_a_later_frame():
    from types import SimpleNamespace

    from dancestyle.video import UnseenFrames

    unseen = UnseenFrames(Fraction(2), Fraction(1, 240))  # an instant every 2 s; a 30 fps stream's slack
    unseen.first_pts = 0

    def packet(pts):  # timestamps in 1/30 s
        return SimpleNamespace(pts=pts, time_base=Fraction(1, 30), size=100)

    assert not unseen.unseen(packet(0)) and not unseen.unseen(packet(6))  # nothing later seen yet: kept
    assert unseen.unseen(packet(3))  # it ends by 6/30 s at the latest, before the 2 s instant
    assert not unseen.unseen(packet(63))
    assert not unseen.unseen(packet(59))  # the frame after it could start as late as 63/30 s: it may show 2 s
    assert unseen.unseen(packet(58))  # 59 starts before 2 s
    unseen.unseen(SimpleNamespace(pts=None, time_base=None, size=100))  # untimed: frames are counted, keep all
    assert not unseen.unseen(packet(61))
