"""The split of a dataset into train, val and test: by YouTube id (or, for users' own videos, by the source a clip
was cut from), written once (atomically) into the dataset folder and reused by every later train and evaluate run;
clips added later join their video's side.

Two rules (SPLIT_RULES): ours, stratified by class and seeded, and the paper authors', reproduced for comparisons
with their numbers. The file records which rule wrote it.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .configs import CLASSES
from .data import SPLITS_FILE, DatasetIndex, source_cautions
from .errors import InputError, UsageError
from .weights import atomic_write_json

log = logging.getLogger(__name__)

SIDES = ("train", "val", "test")
GROUP_BY = {"letsdance": "youtube_id", "videos": "source"}  # what the split keeps on one side, per layout
SPLIT_RULES = {
    "ours": "whole videos, stratified by class, 80/10/10, seeded",
    "authors": "the paper authors' split (their dataset.py, get_splits): the sorted video ids through scikit-learn's "
               "train_test_split with random_state=1, 20% held out, then the held-out ids split again, half (rounded "
               "up) to val and the rest to test; not stratified",
}
DEFAULT_RULE = "ours"
AUTHORS_RANDOM_STATE = 1  # dataset.py's get_splits: random_state=1 in both train_test_split calls


def check_rule(rule: str) -> str:
    """The rule if it is one of SPLIT_RULES; else a usage error that lists them."""
    if rule not in SPLIT_RULES:
        raise UsageError(f"Unknown split rule {rule!r}.", f"Use one of: {', '.join(SPLIT_RULES)}.")
    return rule


def make_splits(index: DatasetIndex, seed: int = 0, fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                rule: str = DEFAULT_RULE) -> dict[str, list[str]]:
    """{"train", "val", "test"} -> sorted clip keys; whole YouTube ids go to one side. Rule "ours": stratified by
    the id's majority class; each class's ids are shuffled with a seeded generator and at least one stays in train.
    Rule "authors": `authors_splits` (seed and fractions do not apply)."""
    if check_rule(rule) == "authors":
        return authors_splits(index)
    if len(fractions) != 3 or min(fractions) < 0 or not math.isclose(sum(fractions), 1.0, abs_tol=1e-6):
        raise UsageError(f"Split fractions {fractions} must be three non-negative numbers that sum to 1.",
                         "Use e.g. (0.8, 0.1, 0.1) for train, val and test.")
    order = {label: i for i, label in enumerate(index.classes)}
    labels_of: dict[str, Counter] = defaultdict(Counter)
    for clip in index.clips:
        labels_of[clip.youtube_id][clip.label] += 1
    ids_of_class: dict[str, list[str]] = defaultdict(list)
    for youtube_id, counts in sorted(labels_of.items()):
        majority = min(counts, key=lambda label: (-counts[label], order.get(label, len(order)), label))
        ids_of_class[majority].append(youtube_id)
    rng = np.random.default_rng(seed)
    side_of: dict[str, str] = {}
    for label in sorted(ids_of_class, key=lambda label: (order.get(label, len(order)), label)):
        ids = ids_of_class[label]
        n_val, n_test = _allocate(len(ids), fractions)
        for rank, position in enumerate(rng.permutation(len(ids))):
            side_of[ids[position]] = "val" if rank < n_val else "test" if rank < n_val + n_test else "train"
    return _clips_by_side(index, side_of)


def authors_splits(index: DatasetIndex) -> dict[str, list[str]]:
    """The split the paper's authors made (noa-codes/danceClassification, dataset.py: make_index and get_splits):
    the YouTube ids of the clips in the paper's 10 classes, sorted, go through
    `train, held = train_test_split(ids, test_size=0.2, random_state=1)` and then
    `test, val = train_test_split(held, test_size=0.5, random_state=1)`; every clip follows its id.

    Their code drops the classes it does not know; here the ids found only in other classes (Let's Dance's 6 later
    ones, your own styles) are split the same way among themselves, so the paper's classes get exactly their split
    and a 16-class dataset gets the same one whether its extra classes come at once or later. A group too small for
    the rule (scikit-learn refuses fewer than 6 ids) goes to train whole."""
    paper = {clip.youtube_id for clip in index.clips if clip.label in CLASSES}
    others = {clip.youtube_id for clip in index.clips} - paper
    side_of: dict[str, str] = {}
    for ids in (sorted(paper), sorted(others)):  # sorted as Python sorts str, like their sorted(vids)
        try:
            train, held = shuffle_split(ids, 0.2, AUTHORS_RANDOM_STATE)
            test, val = shuffle_split(held, 0.5, AUTHORS_RANDOM_STATE)
        except ValueError:
            train, val, test = ids, [], []
        side_of.update({**dict.fromkeys(train, "train"), **dict.fromkeys(val, "val"), **dict.fromkeys(test, "test")})
    return _clips_by_side(index, side_of)


def shuffle_split(items: list, test_size: float, random_state: int) -> tuple[list, list]:
    """(train, test) exactly as scikit-learn's `train_test_split(items, test_size=test_size,
    random_state=random_state)` returns them (shuffled, not stratified; sklearn/model_selection/_split.py): n_test =
    ceil(test_size * n) in floating point (0.07 * 100 gives 8), then ShuffleSplit's draw: the first n_test entries of
    np.random.RandomState(random_state).permutation(n) are test, the next n - n_test train, in that order.
    Raises ValueError where scikit-learn does: test_size outside (0, 1), or nothing left to train on."""
    n = len(items)
    if not 0 < test_size < 1:
        raise ValueError(f"test_size={test_size} should be in the (0, 1) range")
    n_test = math.ceil(test_size * n)
    if n - n_test <= 0:
        raise ValueError(f"With {n} items and test_size={test_size}, the train part would be empty")
    permutation = np.random.RandomState(random_state).permutation(n)  # the legacy generator: its stream is frozen
    return [items[i] for i in permutation[n_test:]], [items[i] for i in permutation[:n_test]]


def _clips_by_side(index: DatasetIndex, side_of: dict[str, str]) -> dict[str, list[str]]:
    """{"train", "val", "test"} -> sorted keys of the clips, each on its YouTube id's (or source's) side."""
    splits: dict[str, list[str]] = {side: [] for side in SIDES}
    for clip in index.clips:
        splits[side_of[clip.youtube_id]].append(clip.key)
    return {side: sorted(keys) for side, keys in splits.items()}


def _allocate(n: int, fractions: tuple[float, float, float]) -> tuple[int, int]:
    """How many of n ids go to val and to test: rounded half up, at least one each once a class has three ids
    (small datasets would otherwise have nothing to validate on), trimmed (test first) to keep one for train."""
    n_val, n_test = (max(math.floor(n * fraction + 0.5), int(n >= 3 and fraction > 0)) for fraction in fractions[1:])
    excess = max(0, n_val + n_test - (n - 1))
    from_test = min(excess, n_test)
    return n_val - (excess - from_test), n_test - from_test


def load_or_make_splits(root: str | Path, index: DatasetIndex, seed: int = 0,
                        fractions: tuple[float, float, float] = (0.8, 0.1, 0.1),
                        on_caution: Callable[[str], None] | None = None,
                        rule: str | None = None) -> dict[str, list[str]]:
    """The split in root/splits.json, made once (atomically) and reused on every later run.

    rule: one of SPLIT_RULES, recorded in the file; None takes the file's (train and evaluate), or ours for a new
    file. Asking for another rule than the file's is a usage error that says what to do: the file is never
    rewritten, since runs trained on it would then be scored on clips they trained on.
    Clips the file does not list join their video's (or source's) side if it has one; clips of new videos get a
    split of their own by the file's rule; either way the file is updated (with a warning). Clips it lists but the
    index lacks are left out. Warnings, and what the source rule cannot tell (`source_cautions`), go to
    on_caution(text), by default to the log.
    """
    if rule is not None:
        check_rule(rule)
    caution = on_caution or _log_caution
    for text in source_cautions(index):
        caution(text)
    path = Path(root) / SPLITS_FILE
    if path.is_file():
        return _reuse_splits(path, index, seed, caution, rule)
    rule = rule or DEFAULT_RULE
    splits = make_splits(index, seed, fractions, rule)
    how = {"seed": seed, "fractions": list(fractions)} if rule == "ours" else {"random_state": AUTHORS_RANDOM_STATE}
    try:
        atomic_write_json(path, {"rule": rule, **how, "group_by": GROUP_BY.get(index.layout, "youtube_id"), **splits})
    except OSError as e:
        raise InputError(f"Cannot write {path} ({e}).", "Make the dataset folder writable: the split is kept "
                                                        "there so every run uses the same one.") from e
    return splits


def coverage_cautions(index: DatasetIndex, splits: dict[str, list[str]], rule: str = DEFAULT_RULE) -> list[str]:
    """What a split leaves out: the classes with no clip on a side. Without val clips of a class, the validation
    accuracy that picks the epoch kept says nothing about it (a corpus of a few clips a class can have none).
    What to do depends on the data: a synthetic corpus can be made bigger; the authors' split is kept as it is."""
    label_of = {clip.key: clip.label for clip in index.clips}
    cautions = []
    for side in SIDES:
        missing = [label for label in index.classes if label not in {label_of.get(key) for key in splits[side]}]
        if missing:
            cautions.append(f"The split of {index.root} has no {side} clips of {', '.join(missing)}: "
                            f"{_WHAT_A_SIDE_DOES[side]} says nothing about them. {_coverage_advice(index, rule)}")
    return cautions


def _coverage_advice(index: DatasetIndex, rule: str) -> str:
    if rule == "authors":  # deleting splits.json would re-split by our rule: no longer the authors' split
        return ("That is the authors' split of this release, kept as their code makes it so results compare with "
                "theirs. For a split that covers every class, train on a folder with the default split: the one "
                "`dancestyle fetch-dataset` made, or `dancestyle fetch-dataset --source THIS_FOLDER --dest "
                "NEW_FOLDER`.")
    if (index.root / "synthetic.json").is_file():
        return ("Use more clips per class (e.g. `fetch-dataset --synthetic --clips-per-class 20`), or delete "
                "splits.json there to re-split.")
    return ("Those classes have too few videos to fill every side (a video's clips stay on one side): add videos "
            "of them, or expect no score for them on that side.")


def split_rule(root: str | Path) -> str:
    """The rule of the split file in `root` (ours where it has none, or there is no file yet)."""
    try:
        return json.loads((Path(root) / SPLITS_FILE).read_text()).get("rule", DEFAULT_RULE)
    except (OSError, ValueError, AttributeError):
        return DEFAULT_RULE


_WHAT_A_SIDE_DOES = {"train": "the model never learns them, and accuracy",
                     "val": "the validation accuracy that picks the epoch kept",
                     "test": "the test accuracy"}


def _log_caution(text: str) -> None:
    log.warning("%s", text)


def _reuse_splits(path: Path, index: DatasetIndex, seed: int, caution: Callable[[str], None],
                  rule: str | None = None) -> dict[str, list[str]]:
    try:
        saved = json.loads(path.read_text())
        side_of_key = {key: side for side in SIDES for key in saved[side]}
        saved_rule = check_rule(saved.get("rule", DEFAULT_RULE))  # files from before rules: ours
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UsageError) as e:
        raise InputError(f"{path} is not a valid split file ({e}).",
                         "Delete it to make a new split (this changes which clips are held out).") from e
    if rule is not None and rule != saved_rule:
        raise UsageError(f"{path} holds the {saved_rule} split, not the {rule} one asked for; a dataset folder keeps "
                         "one split, which train and evaluate read.",
                         f"Drop --split to keep it. For both, give the other its own folder: `dancestyle fetch-dataset "
                         f"--source {path.parent} --dest NEW_FOLDER --split {rule}`. Or delete {path} to re-split "
                         "(runs trained on the old split would then be scored on clips they trained on).")
    if saved_rule == "ours" and saved.get("seed", seed) != seed:
        caution(f"{path} was made with seed {saved.get('seed')}; using it as it is (delete it to re-split)")
    if index.layout == "videos" and saved.get("group_by") != GROUP_BY["videos"]:  # split by file, before sources
        sides_of: dict[str, set[str]] = defaultdict(set)
        for clip in index.clips:
            if clip.key in side_of_key:
                sides_of[clip.youtube_id].add(side_of_key[clip.key])
        mixed = sorted(source for source, sides in sides_of.items() if len(sides) > 1)
        if mixed:
            caution(f"{path} was made before clips were grouped by source: {len(mixed)} source"
                    f"{'s' * (len(mixed) > 1)} ({', '.join(mixed[:3])}{', …' if len(mixed) > 3 else ''}) have clips "
                    "on two sides, so validation and test scores flatter the model. Delete the file to re-split "
                    "(this changes which clips are held out).")
    side_of_video: dict[str, str] = {}
    for clip in index.clips:
        if clip.key in side_of_key:
            side_of_video.setdefault(clip.youtube_id, side_of_key[clip.key])
    # clips of videos the file has never seen (new classes, say) get a split of their own, by the file's rule
    unseen = [clip for clip in index.clips if clip.key not in side_of_key and clip.youtube_id not in side_of_video]
    if unseen:
        fresh = make_splits(DatasetIndex(index.root, index.layout, index.classes, unseen), seed, rule=saved_rule)
        side_of_key.update({key: side for side, keys in fresh.items() for key in keys})
    splits: dict[str, list[str]] = {side: [] for side in SIDES}
    added = 0
    for clip in index.clips:
        side = side_of_key.get(clip.key)
        if side is None:  # a new clip of a known video joins its side: never one video on two sides
            side = side_of_video[clip.youtube_id]
        added += clip.key not in saved[side]
        splits[side].append(clip.key)
    splits = {side: sorted(keys) for side, keys in splits.items()}
    if added:
        how = "by class" if saved_rule == "ours" else f"by the {saved_rule} rule"
        caution(f"{added} clips were not in {path}: added (new videos split {how}, others beside their video's "
                "clips) and the file updated")
        kept = {side: sorted(set(saved[side]) | set(splits[side])) for side in SIDES}
        atomic_write_json(path, {**{k: v for k, v in saved.items() if k not in SIDES}, **kept})
    return splits
