"""The synthetic corpus: Let's Dance layout and JSON, determinism, resuming, and styles that differ only in time."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from dancestyle.errors import InputError, UsageError
from dancestyle.models import CLASSES
from dancestyle.pose import KEYPOINT_NAMES, MAX_PEOPLE, normalise_skeletons, read_letsdance_pose
from dancestyle.synthetic import (MARKER, STYLES, clip_skeletons, corpus_clips, dance_skeletons,
                                  generate_corpus)

FRAMES, SIZE = 6, (64, 48)
YTID = re.compile(r"^[A-Za-z0-9_-]{11}$")
BALLROOM = ("foxtrot", "quickstep", "tango", "waltz")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("synthetic")
    summary = generate_corpus(root, clips_per_class=3, seed=0, frames_per_clip=FRAMES, size=SIZE, workers=2)
    return root, summary


def digest(root, names):
    return {name: hashlib.sha256((root / name).read_bytes()).hexdigest() for name in names}


def sample_files(root):
    files = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.suffix in (".jpg", ".json"))
    return [name for name in files if name != MARKER][::37]


def test_every_style_has_a_program_and_the_corpus_every_class(corpus):
    root, summary = corpus
    assert set(STYLES) == set(CLASSES)
    assert summary["synthetic"] is True and summary["classes"] == list(CLASSES)
    assert summary["clips"] == 3 * len(CLASSES) and summary["frames"] == 3 * len(CLASSES) * FRAMES
    for style in CLASSES:
        assert len(list((root / "rgb" / style).glob("*.jpg"))) == 3 * FRAMES
        assert len(list((root / "densepose" / "txt" / style).glob("*.json"))) == 3 * FRAMES
    marker = json.loads((root / MARKER).read_text())
    assert marker["synthetic"] is True and marker["complete"] is True and marker["seed"] == 0


def test_file_names_parse_from_the_right(corpus):
    root, _ = corpus
    ids, clips_per_id = set(), {}
    for path in (root / "densepose" / "txt").rglob("*.json"):
        ytid, segment, frame = path.stem.rsplit("_", 2)
        assert YTID.match(ytid) and re.fullmatch(r"\d{3}", segment) and re.fullmatch(r"\d{4}", frame)
        assert 1 <= int(frame) <= FRAMES
        assert (root / "rgb" / path.parent.name / f"{path.stem}.jpg").is_file()
        ids.add(ytid)
        clips_per_id.setdefault(ytid, set()).add(segment)
    assert any(ytid[0] in "-_" for ytid in ids), "some ids must start with - or _ like real YouTube ids"
    assert any(len(segments) > 1 for segments in clips_per_id.values()), "a video should give several clips"


def test_json_is_lets_dance_format_and_reads_back(corpus):
    root, _ = corpus
    clip = corpus_clips(["waltz"], 1, seed=0)[0]
    expected = dance_skeletons(clip.style, clip.rng(), FRAMES, SIZE)
    held = clip_skeletons(clip, FRAMES, SIZE)
    for frame in range(FRAMES):
        path = root / "densepose" / "txt" / "waltz" / f"{clip.name}_{frame + 1:04d}.json"
        raw = json.loads(path.read_text())
        read = read_letsdance_pose(path)
        assert read.shape == (len(raw), 17, 2)
        np.testing.assert_allclose(read, np.nan_to_num(held[frame]), atol=0.006)  # clip_skeletons, 2 decimals
        for index, person in enumerate(raw):
            assert person[0] == f"person{index}"
            names = [entry[0] for entry in person[1:]]  # the joints the detector reported, in COCO order
            assert names == [name for name in KEYPOINT_NAMES if name in names] and len(names) >= 1
            written = np.array([entry[1] for entry in person[1:]], dtype=np.float32)
            assert (written >= 0).all() and (written[:, 0] < SIZE[0]).all() and (written[:, 1] < SIZE[1]).all()
    assert len(raw) <= expected.shape[1] + 3  # the dancers, and now and then a false detection


def test_same_seed_same_files_other_seed_other_files(corpus, tmp_path):
    root, _ = corpus
    names = sample_files(root)
    assert len(names) > 5
    # one process here, two for the fixture: the same files
    again = generate_corpus(tmp_path / "again", clips_per_class=3, seed=0, frames_per_clip=FRAMES, size=SIZE,
                            workers=1)
    assert again["skipped"] == 0
    assert digest(tmp_path / "again", names) == digest(root, names)
    other = tmp_path / "other"
    generate_corpus(other, clips_per_class=3, seed=1, frames_per_clip=FRAMES, size=SIZE)
    assert sorted(p.name for p in other.rglob("*.json")) != sorted(p.name for p in root.rglob("*.json"))
    moves = [dance_skeletons("tango", np.random.default_rng(seed), 30) for seed in (0, 0, 1)]
    np.testing.assert_array_equal(moves[0], moves[1])
    assert moves[0].shape != moves[2].shape or not np.allclose(moves[0], moves[2])


def test_rerun_skips_complete_clips_and_refuses_other_settings(tmp_path):
    root = tmp_path / "corpus"
    options = {"clips_per_class": 2, "frames_per_clip": 4, "size": (32, 24), "classes": ["tango", "break"]}
    first = generate_corpus(root, **options)
    one = root / "densepose" / "txt" / "tango" / f"{corpus_clips(['tango'], 1)[0].name}_0004.json"
    stamp = one.stat().st_mtime_ns
    assert generate_corpus(root, **options)["skipped"] == first["clips"] == 4
    # an interrupted run: the marker says incomplete, one clip is gone; only that clip is written again
    marker = json.loads((root / MARKER).read_text())
    (root / MARKER).write_text(json.dumps({**marker, "complete": False}))
    missing = root / "densepose" / "txt" / "break" / f"{corpus_clips(['break'], 1)[0].name}_0004.json"
    missing.unlink()
    calls = []
    resumed = generate_corpus(root, **options, progress=lambda done, total: calls.append((done, total)))
    assert resumed["skipped"] == 3 and missing.is_file() and one.stat().st_mtime_ns == stamp
    assert calls[-1] == (4, 4)
    with pytest.raises(InputError, match=r"frames_per_clip \d+ \(asked: 5\)"):
        generate_corpus(root, **{**options, "frames_per_clip": 5})
    with pytest.raises(UsageError):
        generate_corpus(tmp_path / "x", classes=["polka"])
    with pytest.raises(UsageError):
        dance_skeletons("polka", np.random.default_rng(0))
    (tmp_path / "real" / "rgb").mkdir(parents=True)
    with pytest.raises(InputError):
        generate_corpus(tmp_path / "real", **options)


def test_every_style_draws_the_same_crowd():
    """The staging (dancers, holds, movement sizes) is drawn first and from one distribution for every style: the
    same clip seed gives every style the same number of dancers; over seeds, solos, couples and groups."""
    counts = set()
    for seed in range(12):
        shapes = {style: dance_skeletons(style, np.random.default_rng(seed), 20).shape for style in STYLES}
        assert len(set(shapes.values())) == 1, shapes
        points = dance_skeletons("waltz", np.random.default_rng(seed), 20)
        assert np.isfinite(points).all() and 1 <= points.shape[1] <= MAX_PEOPLE
        counts.add(points.shape[1])
    assert {1, 2} <= counts and max(counts) >= 4


def normalised_people(style, seed, frames=300):
    points = dance_skeletons(style, np.random.default_rng(seed), frames)
    return normalise_skeletons(points.reshape(-1, 17, 2)).reshape(frames, -1, 17, 2)


def leg_tempo(clip, fps=30):
    """The spectral centroid (Hz, 0.5 Hz and above) of the hips', knees' and ankles' motion in their boxes."""
    legs = clip[:, :, 11:17].reshape(len(clip), -1)
    power = (np.abs(np.fft.rfft(legs - legs.mean(0), axis=0)) ** 2).sum(axis=1)
    frequencies = np.fft.rfftfreq(len(legs), 1 / fps)
    keep = frequencies >= 0.5
    return (frequencies[keep] * power[keep]).sum() / power[keep].sum()


def test_styles_differ_in_time_not_in_pose():
    """The same seed gives every style the same staging (crowd, holds, movement sizes): the poses each visits over
    a clip are alike, but the legs of quickstep (~204 bpm, quick-quick chassés) move faster than waltz's (~87 bpm,
    a step a beat), and ballet's (a step every two beats at 60-100 bpm) slower."""
    tempo = {style: np.median([leg_tempo(normalised_people(style, seed)) for seed in range(8)])
             for style in ("waltz", "quickstep", "ballet")}
    assert tempo["quickstep"] >= 1.25 * tempo["waltz"] and tempo["ballet"] <= 0.85 * tempo["waltz"], tempo
    for seed in range(4):  # each joint's spread of positions over the clip: the same range of poses
        waltz, quickstep = normalised_people("waltz", seed), normalised_people("quickstep", seed)
        assert np.abs(waltz.std(axis=(0, 1)) - quickstep.std(axis=(0, 1))).mean() < 0.1
