"""The paper authors' split (splits.authors_splits, `fetch-dataset --split authors`): numpy's seeded generator as
scikit-learn's train_test_split uses it, checked against scikit-learn itself; whole videos on one side; recorded in
the split file and reused. Offline and quick."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from dancestyle.cli import app
from dancestyle.cli.research import SplitRule
from dancestyle.data import SPLITS_FILE, Clip, DatasetIndex, index_dataset
from dancestyle.errors import InputError, UsageError
from dancestyle.splits import SPLIT_RULES, authors_splits, load_or_make_splits, make_splits, shuffle_split
from media import SMALL_CORPUS_STYLES

YOUTUBE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def youtube_ids(n: int, seed: int = 0) -> list[str]:
    """n distinct 11-character ids, some starting with '-' or '_' (they sort before digits and between cases)."""
    rng = np.random.default_rng(seed)
    ids: list[str] = []
    while len(ids) < n:
        text = "".join(YOUTUBE_CHARS[i] for i in rng.integers(0, 64, 11))
        ids += [text] * (text not in ids)
    return ids  # unsorted: the rule sorts


def index_of(ids_by_class: dict[str, list[str]], clips_per_video: int = 2) -> DatasetIndex:
    clips = [Clip(label, youtube_id, f"{youtube_id}_{segment:03d}") for label, ids in ids_by_class.items()
             for youtube_id in ids for segment in range(clips_per_video)]
    return DatasetIndex(Path("."), "letsdance", list(ids_by_class), clips)


def sides_of_videos(index: DatasetIndex, splits: dict[str, list[str]]) -> dict[str, set[str]]:
    """YouTube id -> the sides its clips are on."""
    video_of = {clip.key: clip.youtube_id for clip in index.clips}
    sides: dict[str, set[str]] = {}
    for side, keys in splits.items():
        for key in keys:
            sides.setdefault(video_of[key], set()).add(side)
    return sides


def videos_by_side(index: DatasetIndex, splits: dict[str, list[str]]) -> dict[str, set[str]]:
    video_of = {clip.key: clip.youtube_id for clip in index.clips}
    return {side: {video_of[key] for key in keys} for side, keys in splits.items()}


# -- the draw itself, against scikit-learn -------------------------------------------------------------------------

@pytest.mark.parametrize("n", [2, 6, 7, 10, 15, 16, 25, 50, 99, 100, 167, 833])
@pytest.mark.parametrize("test_size", [0.07, 0.14, 0.2, 0.25, 0.5])
@pytest.mark.parametrize("random_state", [0, 1, 42])
def test_shuffle_split_is_scikit_learns_train_test_split(n, test_size, random_state):
    model_selection = pytest.importorskip("sklearn.model_selection")
    ids = youtube_ids(n, seed=n)
    try:
        expected = model_selection.train_test_split(ids, test_size=test_size, random_state=random_state)
    except ValueError:
        with pytest.raises(ValueError):
            shuffle_split(ids, test_size, random_state)
        return
    assert list(shuffle_split(ids, test_size, random_state)) == expected  # same ids, same order


@pytest.mark.parametrize(("n", "test_size"), [(0, 0.2), (1, 0.2), (1, 0.5), (5, 0.0), (5, 1.0)])
def test_shuffle_split_refuses_where_scikit_learn_does(n, test_size):
    model_selection = pytest.importorskip("sklearn.model_selection")
    ids = youtube_ids(n)
    with pytest.raises(ValueError):
        model_selection.train_test_split(ids, test_size=test_size, random_state=1)
    with pytest.raises(ValueError):
        shuffle_split(ids, test_size, 1)


def test_held_out_count_rounds_up_in_floating_point_as_scikit_learn_does():
    assert [len(shuffle_split(youtube_ids(n), 0.2, 1)[1]) for n in (10, 11, 14, 15)] == [2, 3, 3, 3]
    assert len(shuffle_split(list(range(100)), 0.07, 1)[1]) == 8  # 0.07 * 100 is 7.000000000000001


def authors_get_splits(vids: list[str]) -> tuple[list[str], list[str], list[str]]:
    """noa-codes/danceClassification, dataset.py, get_splits, as written there (with scikit-learn)."""
    from sklearn.model_selection import train_test_split

    vids = sorted(vids)
    train_vids, test_vids = train_test_split(vids, test_size=0.2, random_state=1)
    test_vids, val_vids = train_test_split(test_vids, test_size=0.5, random_state=1)
    return train_vids, val_vids, test_vids


@pytest.mark.parametrize("n", [6, 12, 40, 833])
def test_authors_split_is_their_get_splits(n):
    pytest.importorskip("sklearn")
    ids = youtube_ids(n, seed=3)
    classes = ("ballet", "waltz", "tango")
    index = index_of({label: ids[i::3] for i, label in enumerate(classes)})
    train, val, test = authors_get_splits(ids)
    assert videos_by_side(index, authors_splits(index)) == {"train": set(train), "val": set(val), "test": set(test)}


def test_the_sizes_match_the_authors_published_index_files():
    """Their data/val_index.csv and data/test_index.csv hold 84 and 83 videos: 167 held out, ceil(0.2 n) for
    n = 831..835 videos in the paper's 10 classes."""
    index = index_of({"ballet": youtube_ids(833)}, clips_per_video=1)
    videos = videos_by_side(index, authors_splits(index))
    assert {side: len(ids) for side, ids in videos.items()} == {"train": 666, "val": 84, "test": 83}


# -- the rule on a dataset -----------------------------------------------------------------------------------------

def test_authors_split_of_the_corpus_keeps_videos_whole_with_the_rules_sizes(corpus):
    index = index_dataset(corpus, SMALL_CORPUS_STYLES)
    splits = authors_splits(index)
    assert sorted(sum(splits.values(), [])) == sorted(clip.key for clip in index.clips)  # every clip, once
    assert all(len(sides) == 1 for sides in sides_of_videos(index, splits).values())
    n = len({clip.youtube_id for clip in index.clips})
    held = math.ceil(0.2 * n)
    assert n >= 6 and {side: len(ids) for side, ids in videos_by_side(index, splits).items()} == {
        "train": n - held, "val": math.ceil(held / 2), "test": held - math.ceil(held / 2)}
    assert make_splits(index, seed=7, rule="authors") == splits  # no seed: the authors' random_state=1
    assert make_splits(index, seed=0) != splits


def test_ids_of_other_classes_do_not_move_the_papers_classes():
    """Their code drops classes it does not know: the 10 classes' split is the same with Let's Dance's later 6,
    which are split among themselves, whether they come at once or later."""
    paper = index_of({"ballet": youtube_ids(30, seed=1), "waltz": youtube_ids(20, seed=2)})
    tap = youtube_ids(12, seed=4)
    full = index_of({"ballet": youtube_ids(30, seed=1), "waltz": youtube_ids(20, seed=2), "tap": tap})
    full.clips.append(Clip("tap", paper.clips[0].youtube_id, f"{paper.clips[0].youtube_id}_900"))  # a shared video
    at_once = authors_splits(full)
    alone = authors_splits(paper)
    assert {side: [key for key in keys if not key.startswith("tap/")] for side, keys in at_once.items()} == alone
    assert all(len(sides) == 1 for sides in sides_of_videos(full, at_once).values())
    tap_index = index_of({"tap": tap})
    assert videos_by_side(full, {side: [k for k in keys if k.startswith("tap/") and "_900" not in k]
                                 for side, keys in at_once.items()}) == videos_by_side(tap_index,
                                                                                        authors_splits(tap_index))


def test_too_few_videos_for_the_rule_stay_in_train():
    index = index_of({"waltz": youtube_ids(5)})
    assert authors_splits(index) == {"train": sorted(clip.key for clip in index.clips), "val": [], "test": []}


def test_authors_split_is_recorded_reused_and_grows_by_its_own_rule(tmp_path):
    paper = {"ballet": youtube_ids(30, seed=1), "waltz": youtube_ids(20, seed=2)}
    index = index_of(paper)
    splits = load_or_make_splits(tmp_path, index, rule="authors")
    written = (tmp_path / SPLITS_FILE).read_bytes()
    saved = json.loads(written)
    assert saved["rule"] == "authors" and saved["random_state"] == 1 and "seed" not in saved
    assert {side: saved[side] for side in ("train", "val", "test")} == splits == authors_splits(index)
    assert load_or_make_splits(tmp_path, index) == splits  # train and evaluate: the file's rule
    assert load_or_make_splits(tmp_path, index, seed=3, rule="authors") == splits
    assert (tmp_path / SPLITS_FILE).read_bytes() == written

    grown = index_of({**paper, "tap": youtube_ids(12, seed=4)})
    val_video = next(clip.youtube_id for clip in index.clips if clip.key in splits["val"])
    grown.clips.append(Clip("ballet", val_video, f"{val_video}_999"))
    told: list[str] = []
    later = load_or_make_splits(tmp_path, grown, on_caution=told.append)
    assert later == authors_splits(grown)  # as if fetched with the new classes at once
    assert f"ballet/{val_video}_999" in later["val"] and any("by the authors rule" in text for text in told)


def test_asking_for_the_other_rule_is_refused_and_the_file_kept(tmp_path):
    index = index_of({"ballet": youtube_ids(30, seed=1)})
    ours = load_or_make_splits(tmp_path, index)
    written = (tmp_path / SPLITS_FILE).read_bytes()
    assert json.loads(written)["rule"] == "ours"
    with pytest.raises(UsageError, match="holds the ours split, not the authors one") as refused:
        load_or_make_splits(tmp_path, index, rule="authors")
    assert "--split authors" in refused.value.hint and "Drop --split" in refused.value.hint
    assert (tmp_path / SPLITS_FILE).read_bytes() == written
    assert load_or_make_splits(tmp_path, index, rule="ours") == ours

    before_rules = {key: value for key, value in json.loads(written).items() if key != "rule"}  # older files: ours
    (tmp_path / SPLITS_FILE).write_text(json.dumps(before_rules))
    assert load_or_make_splits(tmp_path, index, rule="ours") == ours
    with pytest.raises(UsageError):
        load_or_make_splits(tmp_path, index, rule="authors")
    (tmp_path / SPLITS_FILE).write_text(json.dumps({**before_rules, "rule": "someone else's"}))
    with pytest.raises(InputError, match="not a valid split file"):
        load_or_make_splits(tmp_path, index)
    with pytest.raises(UsageError, match="Unknown split rule"):
        make_splits(index, rule="random")


# -- fetch-dataset --split -----------------------------------------------------------------------------------------

def make_tree(root: Path, videos_per_class: int = 5) -> Path:
    """A Let's Dance tree of frame names only (nothing is decoded): 2 classes, 2 clips a video."""
    for label, seed in (("ballet", 1), ("tango", 2)):
        folder = root / "rgb" / label
        folder.mkdir(parents=True)
        for youtube_id in youtube_ids(videos_per_class, seed):
            for segment in (3, 7):
                (folder / f"{youtube_id}_{segment:03d}_0001.jpg").write_bytes(b"never decoded")
    return root


def test_fetch_dataset_split_authors(tmp_path, isolated_home):
    runner, root = CliRunner(), make_tree(tmp_path / "letsdance")
    result = runner.invoke(app, ["fetch-dataset", "--source", str(root), "--split", "authors", "--json"])
    assert result.exit_code == 0, result.output
    saved = json.loads((root / SPLITS_FILE).read_text())
    index = index_dataset(root)
    assert saved["rule"] == "authors" and {side: saved[side] for side in ("train", "val", "test")} == authors_splits(
        index)
    assert json.loads(result.stdout)["splits"] == {"train": 16, "val": 2, "test": 2}  # 10 videos: 8, 1, 1

    again = runner.invoke(app, ["fetch-dataset", "--source", str(root), "--json"])  # no --split: the folder's
    assert again.exit_code == 0 and json.loads(again.stdout)["splits"] == {"train": 16, "val": 2, "test": 2}
    other = runner.invoke(app, ["fetch-dataset", "--source", str(root), "--split", "ours"], env={"COLUMNS": "200"})
    assert other.exit_code == 2 and "holds the authors split" in other.stderr and "Traceback" not in other.output
    assert json.loads((root / SPLITS_FILE).read_text()) == saved
    both = runner.invoke(app, ["fetch-dataset", "--source", str(root), "--dest", str(tmp_path / "ours"), "--split",
                               "ours"])  # what the refusal suggests, for both splits
    assert both.exit_code == 0, both.output
    assert json.loads((tmp_path / "ours" / SPLITS_FILE).read_text())["rule"] == "ours"
    assert json.loads((root / SPLITS_FILE).read_text()) == saved


def test_fetch_dataset_split_ours_is_recorded(tmp_path, isolated_home):
    root = make_tree(tmp_path / "letsdance")
    result = CliRunner().invoke(app, ["fetch-dataset", "--source", str(root), "--split", "ours"])
    assert result.exit_code == 0, result.output
    assert json.loads((root / SPLITS_FILE).read_text())["rule"] == "ours"


def test_fetch_dataset_bad_split_is_a_usage_error_before_any_work(tmp_path, isolated_home):
    root = make_tree(tmp_path / "letsdance")
    result = CliRunner().invoke(app, ["fetch-dataset", "--source", str(root), "--split", "random"],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "'ours'" in result.stderr and "'authors'" in result.stderr  # the choices
    assert not (root / SPLITS_FILE).exists()


def test_the_cli_offers_every_rule_the_library_has():
    assert [rule.value for rule in SplitRule] == list(SPLIT_RULES)
