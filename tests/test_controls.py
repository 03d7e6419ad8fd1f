"""benchmarks/controls.py's static controls on corpora written here (skeleton files whose every cue we set), and
seeds_table.py's protocol arithmetic (the choice on validation, the pooled Wilson interval) without training.
Offline, a few seconds.

Near chance, and how near: where a control's predictions cannot depend on the true style (the cue it reads is drawn
independently of the style), the number it gets right on n held-out clips of 10 balanced styles is Binomial(n, 0.1):
sd = sqrt(n * 0.1 * 0.9). The corpora are seeded, so each test is deterministic; the tolerance, 4 sd either side of
chance on val and test pooled, is what a different seed would stay within but for about 1 time in 15,000, and is
still far below what a real cue gives (the tests with a cue score 100%).
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from dancestyle.configs import CLASSES
from dancestyle.pose import KEYPOINT_NAMES

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"
FRAMES = 13  # prime: a joint circling k = 1..5 times per clip visits the same 13 phases whatever k is


def load_benchmark(name: str):
    """benchmarks/ is not a package: the script, imported by path (registered first, as dataclasses need)."""
    spec = importlib.util.spec_from_file_location(f"benchmarks_{name}", BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


controls = load_benchmark("controls")
seeds_table = load_benchmark("seeds_table")

# a standing figure, pixel (x, y) per COCO keypoint, about 60 x 150 px
FIGURE = np.array([[30, 10], [27, 7], [33, 7], [24, 9], [36, 9], [18, 30], [42, 30], [12, 55], [48, 55], [10, 80],
                   [50, 80], [22, 80], [38, 80], [21, 115], [39, 115], [20, 150], [40, 150]], dtype=np.float64)


def dance(style: int, people: int, rng: np.random.Generator, static_cue: bool) -> np.ndarray:
    """(frames, people, 17, 2) pixel skeletons. Each person stands somewhere at some size and circles both wrists
    k times per clip (k = 1..5), clockwise or not: the style sets k and the direction, so styles differ only in
    time, and every style visits the same 13 phases (a random offset per person), so any statistic over the frames
    has the same distribution in every style. static_cue: instead, k and the direction are random and the style
    moves one joint of its own (5 + style) 40 px aside in every frame."""
    k, turn = (1 + style // 2, 1 - 2 * (style % 2)) if not static_cue else (rng.integers(1, 6), rng.choice([-1, 1]))
    t = np.arange(FRAMES)[:, None]
    skeletons = np.empty((FRAMES, people, 17, 2))
    for person in range(people):
        phase = 2 * np.pi * k * t / FRAMES + rng.uniform(0, 2 * np.pi)
        body = np.repeat(FIGURE[None], FRAMES, axis=0)
        for wrist in (9, 10):
            body[:, wrist] += 15 * np.hstack([np.cos(phase), turn * np.sin(phase)])
        if static_cue:
            body[:, 5 + style, 0] += 40
        body = body * rng.uniform(0.5, 2.0) + rng.uniform(0, 600, 2) + rng.normal(0, 0.5, body.shape)
        skeletons[:, person] = body
    return skeletons


def write_corpus(root: Path, videos: int, people, static_cue: bool = False, frames: int = FRAMES,
                 seed: int = 0) -> Path:
    """A Let's Dance-layout tree: 10 styles × `videos` videos of one clip each; people(style, rng) dancers."""
    rng = np.random.default_rng(seed)
    for style, label in enumerate(CLASSES):
        (root / "rgb" / label).mkdir(parents=True)
        (root / "densepose/txt" / label).mkdir(parents=True)
        for video in range(videos):
            name = f"{label}{video:03d}x_001"
            skeletons = dance(style, people(style, rng), rng, static_cue)
            for frame in range(frames):
                stem = f"{name}_{frame + 1:04d}"
                (root / "rgb" / label / f"{stem}.jpg").write_bytes(b"")  # indexed, never decoded
                people_json = [[f"person{p}", *([joint, [float(x), float(y)]]
                                                for joint, (x, y) in zip(KEYPOINT_NAMES, person))]
                               for p, person in enumerate(skeletons[frame])]
                (root / "densepose/txt" / label / f"{stem}.json").write_text(json.dumps(people_json))
    return root


def random_people(style: int, rng: np.random.Generator) -> int:
    return int(rng.integers(1, 5))


def near_chance(result: dict) -> bool:
    """Val and test pooled within 4 binomial sd of chance (see the module docstring)."""
    correct = result["val"]["correct"] + result["test"]["correct"]
    clips = result["val"]["clips"] + result["test"]["clips"]
    sd = math.sqrt(clips * result["chance"] * (1 - result["chance"]))
    return abs(correct - clips * result["chance"]) <= 4 * sd


@pytest.fixture(scope="module")
def motion_only(tmp_path_factory) -> Path:
    """Styles differ only in time; 1-4 dancers whatever the style. 50 videos a style: 50 val and 50 test clips."""
    return write_corpus(tmp_path_factory.mktemp("motion") / "corpus", 50, random_people)


def test_the_people_count_gives_the_style_away_when_it_is_the_style(tmp_path):
    data = write_corpus(tmp_path / "counted", 6, lambda style, rng: style + 1, frames=3)
    result = controls.people_count_lookup(data)
    assert result["table"] == {f"{style + 1}": label for style, label in enumerate(CLASSES)}
    assert result["val"]["accuracy"] == result["test"]["accuracy"] == 1.0
    assert result["val"]["clips"] == result["test"]["clips"] == 10  # the library's split: 1 of 6 videos each
    assert result["chance"] == 0.1


def wrist_rhythm(skeletons: np.ndarray) -> int:
    """The frequency bin (of 13) at which the first dancer's left wrist circles its elbow: k one way round, 13 - k
    the other; what only the order of the frames tells."""
    relative = skeletons[:, 0, 9] - skeletons[:, 0, 7]
    spectrum = np.abs(np.fft.fft(relative[:, 0] + 1j * relative[:, 1]))
    spectrum[0] = 0
    return int(spectrum.argmax())


def test_the_motion_only_corpus_can_be_told_by_motion():
    """So that chance below means the controls are blind to motion, not that the corpus carries no style."""
    rng = np.random.default_rng(1)
    rhythms = [{wrist_rhythm(dance(style, 2, rng, static_cue=False)) for _ in range(5)} for style in range(10)]
    assert all(len(seen) == 1 for seen in rhythms) and len(set.union(*rhythms)) == 10


def test_controls_land_near_chance_when_styles_differ_only_in_motion(motion_only):
    clips, classes = controls.clip_summaries(motion_only)
    assert {clip.people for clip in clips} == {1, 2, 3, 4} and classes == list(CLASSES)
    lookup = controls.people_count_lookup(motion_only, clips, classes)
    statistics = controls.summary_statistics_classifier(motion_only, clips, classes)
    assert lookup["val"]["clips"] == lookup["test"]["clips"] == 50
    assert near_chance(lookup), lookup
    assert statistics["features"] == 2 * 2 * 17 + 1 and near_chance(statistics), statistics


def test_the_summary_statistics_classifier_finds_a_static_pose(tmp_path):
    data = write_corpus(tmp_path / "posed", 20, random_people, static_cue=True)
    clips, classes = controls.clip_summaries(data)
    assert near_chance(controls.people_count_lookup(data, clips, classes))
    result = controls.summary_statistics_classifier(data, clips, classes)
    assert result["val"]["accuracy"] == result["test"]["accuracy"] == 1.0


def test_a_count_train_never_saw_gets_the_most_common_train_style():
    def summary(label: str, side: str, people: float):
        return controls.ClipSummary(f"{label}/{side}{people}", label, side, people, np.zeros(68))

    clips = [summary("tango", "train", 2), *[summary("waltz", "train", 1)] * 3,
             summary("ballet", "train", 3), summary("tango", "train", 3),  # a tie: ballet is first in class order
             summary("waltz", "val", 7), summary("ballet", "test", 3), summary("tango", "test", 2)]
    result = controls.people_count_lookup(Path("unused"), clips, list(CLASSES))
    assert result["table"] == {"1": "waltz", "2": "tango", "3": "ballet"} and result["unseen"] == "waltz"
    assert result["val"] == {"accuracy": 1.0, "correct": 1, "clips": 1}
    assert result["test"] == {"accuracy": 1.0, "correct": 2, "clips": 2}


def test_controls_main_prints_a_table(tmp_path, capsys, monkeypatch):
    data = write_corpus(tmp_path / "counted", 6, lambda style, rng: style + 1, frames=3)
    monkeypatch.setattr("sys.argv", ["controls.py", "--data", str(data)])
    controls.main()
    table = capsys.readouterr().out
    assert "| people-count lookup | 100.0 (10/10) | 100.0 (10/10) | 10.0 |" in table
    assert "| summary statistics (logistic regression) |" in table
    assert table.count("| 10.0 |") == 2


# -- seeds_table's protocol ---------------------------------------------------------------------------------------

def test_the_choice_is_the_best_validation_mean_ties_to_the_first():
    assert seeds_table.best_candidate([[0.5, 0.7], [0.9, 0.5], [0.6, 0.6]]) == 1
    assert seeds_table.best_candidate([[0.6, 0.8], [0.7, 0.7], [0.8, 0.6]]) == 0  # a three-way tie
    assert seeds_table.best_candidate([[0.1 + 0.2], [0.3]]) == 0  # 0.30000000000000004 ties 0.3
    assert seeds_table.best_candidate([[0.4]]) == 0


def test_choose_options_make_the_grid_in_the_order_given():
    assert seeds_table.candidate_items([]) == [[]]
    assert seeds_table.candidate_items(["input_dropout=0,0.5", "hidden=32,64"]) == [
        ["input_dropout=0", "hidden=32"], ["input_dropout=0", "hidden=64"],
        ["input_dropout=0.5", "hidden=32"], ["input_dropout=0.5", "hidden=64"]]
    assert seeds_table.run_name(["input_dropout=0.5", "fusion=early"]) == "-input_dropout0.5-fusionearly"
    for bad in (["input_dropout"], ["input_dropout="], ["hidden=32", "hidden=64"]):
        with pytest.raises(SystemExit):
            seeds_table.candidate_items(bad)


def test_the_wilson_interval_and_pooled_counts():
    low, high = seeds_table.wilson_interval(81, 100)  # Wilson (1927) / standard tables: 0.7222 to 0.8749
    assert (round(low, 4), round(high, 4)) == (0.7222, 0.8749)
    assert seeds_table.wilson_interval(0, 10)[0] == 0.0 and 0.27 < seeds_table.wilson_interval(0, 10)[1] < 0.28
    assert seeds_table.wilson_interval(10, 10)[1] == 1.0 and seeds_table.wilson_interval(0, 0) == (0.0, 1.0)
    runs = [seeds_table.Score(0.9, 90, 100), seeds_table.Score(0.8, 80, 100), seeds_table.Score(0.85, 85, 100)]
    assert seeds_table.pooled(runs) == seeds_table.Score(0.85, 255, 300)
    cell = seeds_table.test_cell(runs)
    assert cell.startswith("85.0 ± 5.0 (90.0, 80.0, 85.0); pooled 85.0 [") and cell.endswith("(255/300)")


def test_seeds_table_checks_flow_settings_as_train_does(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.argv", ["seeds_table.py", "--data", str(tmp_path), "--flow-set", "pairs=0"])
    with pytest.raises(SystemExit, match="pairs is 0"):
        seeds_table.main()
