import hashlib

import numpy as np
import pytest
import torch

from dancestyle.timeline import Segment, ScoredWindow, WindowBuffer, clock, segments, smoothed_labels, strip_cells

CLASSES = ["tango", "waltz", "swing"]


def frames_of(buffer: WindowBuffer, count: int, batch: int) -> list[tuple[int, list[int]]]:
    """Push frames 0..count-1 (each frame's feature is its own number) in batches; (first, frame numbers) out."""
    windows = []
    for start in range(0, count, batch):
        numbers = torch.arange(start, min(count, start + batch), dtype=torch.float32)
        windows += buffer.push({"pose": numbers.view(-1, 1)})
    windows += buffer.finish()
    return [(first, rows["pose"].view(-1).int().tolist()) for first, rows in windows]


def test_tiled_windows_end_with_one_reaching_back_to_the_end():
    windows = frames_of(WindowBuffer(window=5, hop=5), 13, batch=5)
    assert windows == [(0, [0, 1, 2, 3, 4]), (5, [5, 6, 7, 8, 9]), (8, [8, 9, 10, 11, 12])]


@pytest.mark.parametrize("batch", [1, 2, 3, 7])
def test_overlapping_windows_start_every_hop_whatever_the_batches(batch):
    windows = frames_of(WindowBuffer(window=5, hop=2), 14, batch)
    assert [first for first, _ in windows] == [0, 2, 4, 6, 8, 9]
    assert all(numbers == list(range(first, first + 5)) for first, numbers in windows)


def test_a_window_that_ends_at_the_end_gets_no_extra_one():
    assert [first for first, _ in frames_of(WindowBuffer(window=5, hop=2), 13, batch=4)] == [0, 2, 4, 6, 8]


def test_a_video_shorter_than_a_window_is_one_window_of_what_there_is():
    assert frames_of(WindowBuffer(window=5, hop=5), 3, batch=5) == [(0, [0, 1, 2])]
    assert frames_of(WindowBuffer(window=5, hop=5), 0, batch=5) == []


def test_a_window_holds_no_more_than_one_window_of_features():
    buffer = WindowBuffer(window=5, hop=1)
    buffer.push({"pose": torch.zeros(1000, 3)})
    assert len(buffer.rows) == 5


def test_one_odd_window_does_not_break_a_run_but_two_do():
    assert smoothed_labels(["a", "a", "b", "a", "a"]) == ["a"] * 5
    assert smoothed_labels(["a", "b", "b", "a"]) == ["a", "b", "b", "a"]
    assert smoothed_labels(["b", "a", "a"]) == ["b", "a", "a"]  # the ends have one neighbour: kept


def window(start: float, end: float, label: str, probabilities: list[float]) -> ScoredWindow:
    return ScoredWindow(start, end, label, max(probabilities), [], np.array(probabilities))


def test_segments_of_tiled_windows_meet_at_the_windows_edges():
    windows = [window(0, 10, "tango", [0.8, 0.1, 0.1]), window(10, 20, "tango", [0.6, 0.3, 0.1]),
               window(20, 30, "waltz", [0.2, 0.7, 0.1]), window(22, 32, "waltz", [0.1, 0.9, 0.0])]
    assert segments(windows, CLASSES) == [Segment(0, 20, "tango", 0.7), Segment(20, 32, "waltz", 0.8)]


def test_segments_of_overlapping_windows_meet_halfway_between_centres():
    windows = [window(0, 10, "tango", [0.9, 0.1, 0]), window(5, 15, "tango", [0.9, 0.1, 0]),
               window(10, 20, "swing", [0.1, 0.1, 0.8]), window(15, 25, "swing", [0, 0.2, 0.8])]
    result = segments(windows, CLASSES)
    assert [(s.start, s.end, s.label) for s in result] == [(0, 12.5, "tango"), (12.5, 25, "swing")]


def test_a_smoothed_over_window_counts_with_its_score_for_the_runs_style():
    windows = [window(0, 10, "tango", [0.8, 0.2, 0]), window(10, 20, "waltz", [0.4, 0.6, 0]),
               window(20, 30, "tango", [0.9, 0.1, 0])]
    assert segments(windows, CLASSES) == [Segment(0, 30, "tango", 0.7)]


def test_clock_shows_minutes_and_hours_when_long():
    assert [clock(s) for s in (0, 59.4, 61, 600, 3725)] == ["0:00", "0:59", "1:01", "10:00", "1:02:05"]


def test_strip_cells_follow_the_segments():
    cells = list(strip_cells([Segment(0, 30, "tango", 0.9), Segment(30, 40, "waltz", 0.8)], width=8))
    assert cells == ["tango"] * 6 + ["waltz"] * 2


class TruePoses:
    """A pose backend that knows the answer: each frame's skeletons from the synthetic corpus's own files, looked
    up by the frame's pixels (the video is lossless), so a model trained on those files sees what it learnt."""

    def __init__(self) -> None:
        self.skeletons: dict[bytes, np.ndarray] = {}
        self.frames_estimated = 0

    def add(self, image: np.ndarray, skeletons: np.ndarray) -> None:
        self.skeletons[hashlib.sha1(image.tobytes()).digest()] = skeletons

    def estimate(self, images: list[np.ndarray]) -> list[np.ndarray]:
        self.frames_estimated += len(images)
        return [self.skeletons[hashlib.sha1(np.ascontiguousarray(image).tobytes()).digest()] for image in images]


@pytest.mark.slow
def test_two_styles_back_to_back_give_two_segments_split_near_the_cut(corpus, home, tmp_path, monkeypatch):
    """Trained on the corpus's skeletons, a video of three break clips then three flamenco ones (12 s each, from
    the training split): windows every hop, segments that tile the video, and each sampled frame's pose computed
    once however many windows hold it."""
    from PIL import Image

    from dancestyle.data import index_dataset
    from dancestyle.splits import load_or_make_splits
    from dancestyle.pipeline import load_model
    from dancestyle.pose import read_letsdance_pose
    from dancestyle.train import TrainOptions, train
    from media import make_video

    train(TrainOptions(model="attention", data=corpus, out=tmp_path / "run", epochs=150, patience=150,
                       streams=["pose"], seed=3))
    index = index_dataset(corpus, None)
    training = index.clips_for(load_or_make_splits(corpus, index)["train"])
    chosen = [clip for clip in training if clip.label == "break"][:3] + [
        clip for clip in training if clip.label == "flamenco"][:3]
    poses, images = TruePoses(), []
    for clip in chosen:
        for frame, skeletons in zip(clip.frames, clip.poses):
            images.append(np.array(Image.open(frame).convert("RGB")))
            poses.add(images[-1], read_letsdance_pose(skeletons))
    height, width = images[0].shape[:2]
    video = make_video(tmp_path / "two.mkv", len(images), chosen[0].frame_rate, codec="ffv1", pix_fmt="bgr0",
                       size=(width, height), images=images)
    monkeypatch.setattr("dancestyle.maker.create_pose_estimator", lambda *args, **kwargs: poses)
    prediction = load_model("attention", weights=str(tmp_path / "run"), device="cpu").classify(
        video, timeline=True, hop=2)
    assert [(w.start, w.end) for w in prediction.windows] == [(s, s + 10) for s in range(0, 16, 2)]
    # the segments tile the video (where they split is the pure tests' above: the corpus's styles differ only in
    # time, which this test's short training does not learn to tell apart reliably)
    segments = prediction.segments
    assert segments[0].start == 0 and segments[-1].end == 24 and all(
        a.end == b.start and a.label != b.label for a, b in zip(segments, segments[1:]))
    assert poses.frames_estimated == prediction.frames == 24  # not 8 windows x 10
