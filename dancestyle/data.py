"""Datasets: index a dataset folder, split it by YouTube id, and fetch it (via fetch.py) into place.

Two layouts are recognised (see shared/letsdance.md for the first):
- Let's Dance: rgb/<class>/<youtube id>_<segment>_<NNNN>.jpg and densepose/txt/<class>/<same>.json, at any depth.
- Users' own data: <root>/<style>/<clip>.<video ext>; each file is a clip, grouped by the source it was cut from
  (see `video_source`): the source stands where Let's Dance has the YouTube id.
The split is written once (atomically) into the dataset folder and reused by train and evaluate. A dataset folder
may also be a `fetch-dataset --dest` folder that refers to one kept elsewhere (source.json): it holds the split.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import urllib.parse
import zipfile
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from .configs import CLASSES
from .errors import InputError, UsageError
from .fetch import (LETSDANCE_ARCHIVES, SOURCE_FILE, SPLITS_FILE, TERMS_NOTE, archive_name, download,
                    safe_extract)
from .video import VIDEO_EXTENSIONS
from .weights import atomic_write_json, home

log = logging.getLogger(__name__)

CLASSES_16 = (*CLASSES, "cha", "jive", "pasodoble", "rumba", "samba", "tap")
SIDES = ("train", "val", "test")
FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
GROUP_BY = {"letsdance": "youtube_id", "videos": "source"}  # what the split keeps on one side, per layout
SEGMENT_NAME = re.compile(r"(.*?[^_\- ])[_\- ]+(\d+)")  # <source>_<n>, <source>-<n>, <source> <n>
TRAILING_DIGITS = re.compile(r"(.*?)(\d+)")


# -- index --------------------------------------------------------------------------------------------------------

@dataclass
class Clip:
    """One clip: Let's Dance frames (sorted) with their pose files aligned (None where missing), or one video."""

    label: str
    youtube_id: str  # what the split keeps on one side: the YouTube id, or for your own videos their source
    clip_id: str
    frames: list[Path] = field(default_factory=list)
    poses: list[Path | None] = field(default_factory=list)
    frame_numbers: list[int] = field(default_factory=list)
    video: Path | None = None
    missing_frames: int = 0  # gaps in the numbering 1..last (last seen among frames and pose files)
    empty_poses: int = 0  # pose files holding [] (nobody found)
    frame_rate: int = 30  # frames per second of a frame folder (dataset metadata, else infer_frame_rate)

    @property
    def key(self) -> str:
        """Unique within a dataset; what splits.json lists."""
        return f"{self.label}/{self.clip_id}"


@dataclass
class DatasetIndex:
    root: Path
    layout: str  # "letsdance" or "videos"
    classes: list[str]  # the classes that have clips, in the order asked for
    clips: list[Clip]
    skipped_files: int = 0  # frame or pose files whose names do not parse

    def clips_for(self, keys: list[str]) -> list[Clip]:
        """The clips a split lists, in its order; keys the index lacks are left out."""
        by_key = {clip.key: clip for clip in self.clips}
        return [by_key[key] for key in keys if key in by_key]

    @property
    def frames(self) -> int:
        return sum(len(clip.frames) for clip in self.clips)

    @property
    def missing_frames(self) -> int:
        return sum(clip.missing_frames for clip in self.clips)

    @property
    def missing_pose(self) -> int:
        return sum(clip.poses.count(None) for clip in self.clips)

    @property
    def empty_pose_frames(self) -> int:
        return sum(clip.empty_poses for clip in self.clips)


def letsdance_classes(count: int) -> tuple[str, ...]:
    """The paper's 10 Let's Dance classes, or all 16 of the later release."""
    if count not in (10, 16):
        raise UsageError(f"--classes {count}: Let's Dance has 10 or 16 classes.", "Pass 10 (the paper's) or 16.")
    return CLASSES if count == 10 else CLASSES_16


def index_for_training(root: str | Path, letsdance_classes: Sequence[str] = CLASSES) -> DatasetIndex:
    """Let's Dance: the given classes (the paper's 10 by default); your own <style>/<video> folders: every style."""
    try:
        index = index_dataset(root, letsdance_classes)
    except InputError:  # e.g. only styles Let's Dance does not have: index every style folder
        return index_dataset(root, None)
    return index_dataset(root, None) if index.layout == "videos" else index


def default_root(name: str) -> Path:
    """Where `fetch-dataset` puts a dataset by default: DANCESTYLE_HOME/datasets/<name>."""
    return home() / "datasets" / name


def parse_frame_name(stem: str) -> tuple[str, str, int] | None:
    """'-2W1PfHleRM_033_0001' -> ('-2W1PfHleRM', '033', 1). From the right: YouTube ids contain '_' and '-'."""
    parts = stem.rsplit("_", 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit() or not parts[2].isdigit():
        return None
    return parts[0], parts[1], int(parts[2])


def index_dataset(root: str | Path, classes: Sequence[str] | None = CLASSES) -> DatasetIndex:
    """Index a Let's Dance tree or a <style>/<video> folder under `root` (detected automatically).

    `classes` picks the class folders to use; None takes all 16 Let's Dance classes, or every style folder.
    Nothing is decoded: frames and pose files are only listed (pose files of a few bytes are read to spot []).
    """
    root = Path(root).expanduser()
    if not root.is_dir():
        raise InputError(f"{root} is not a folder.", "Pass the folder the dataset was extracted into.")
    folder = referred_folder(root) or root  # a --dest folder: the data is elsewhere, the split is here
    if not folder.is_dir():
        raise InputError(f"{root} refers to {folder} ({SOURCE_FILE}), which is not a folder (moved or unmounted?).",
                         f"Mount it again, or run `dancestyle fetch-dataset --source NEW_PLACE --dest {root}`.")
    frame_dirs, pose_dirs = _class_dirs(folder, classes or CLASSES_16)
    if frame_dirs:
        index = _index_letsdance(folder, frame_dirs, pose_dirs, classes or CLASSES_16)
    elif pose_dirs:
        raise InputError(f"{folder} holds Let's Dance skeleton files but no rgb frame folders.",
                         "Fetch the rgb archive too: clips are indexed by their frames.")
    else:
        index = _index_videos(folder, classes)
    if not index.clips:
        raise InputError(f"No dataset found in {folder}: no Let's Dance class folders (rgb/<class>/…) and no "
                         "<style>/<clip> video files with a known style name.",
                         "Run `dancestyle fetch-dataset`, or arrange videos as ROOT/<style>/<clip>.mp4.")
    index.root = root
    return index


def referred_folder(root: Path) -> Path | None:
    """The dataset folder that root/source.json names (root is a `fetch-dataset --dest` folder), or None."""
    path = Path(root) / SOURCE_FILE
    if not path.is_file():
        return None
    try:
        return Path(root) / Path(json.loads(path.read_text())["folder"]).expanduser()  # relative: to root
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path} is not a valid source file ({e}).",
                         f"Run `dancestyle fetch-dataset --source FOLDER --dest {root}` again.") from e


def _class_dirs(root: Path, classes: Sequence[str]) -> tuple[dict[str, list[Path]], dict[str, list[Path]]]:
    """Class folders at any depth: frames under an 'rgb' folder, skeletons under 'densepose' or 'txt'."""
    wanted = {label.lower(): label for label in classes}
    frames, poses = defaultdict(list), defaultdict(list)
    for here, dirs, _ in os.walk(root):
        chain = {part.lower() for part in (root.name, *Path(here).relative_to(root).parts)}
        descend = []
        for name in sorted(d for d in dirs if not d.startswith(".")):  # skips .extract-* temp folders
            label = wanted.get(name.lower())
            if label is None:
                descend.append(name)
            elif chain & {"densepose", "txt"}:  # densepose/rgb/<class> holds PNGs: only .json is taken later
                poses[label].append(Path(here, name))
            elif "rgb" in chain:
                frames[label].append(Path(here, name))
        dirs[:] = descend  # class folders are listed once, by _scan
    return frames, poses


def _scan(dirs: list[Path], suffixes: frozenset[str]) -> tuple[dict[tuple[str, str], dict[int, Path]], int]:
    """{(youtube id, segment): {frame number: path}} of the files in `dirs`, and how many names did not parse."""
    clips: dict[tuple[str, str], dict[int, Path]] = defaultdict(dict)
    skipped = 0
    for directory in dirs:
        for entry in os.scandir(directory):
            name = PurePosixPath(entry.name)
            if name.suffix.lower() not in suffixes or name.name.startswith(".") or not entry.is_file():
                continue
            parsed = parse_frame_name(name.stem)
            if parsed is None:
                skipped += 1
                continue
            youtube_id, segment, number = parsed
            clips[(youtube_id, segment)].setdefault(number, Path(entry.path))
    return clips, skipped


COMMON_FRAME_RATES = (30, 25, 24)  # Let's Dance's clips: ~301, 251 or 241 frames, 10 s each (letsdance.md)


def infer_frame_rate(frame_count: int) -> int:
    """The frame rate of a frame folder that stores none: the common rate that makes the clip last closest to a
    whole number of 5 s (Let's Dance cut its clips at 10 s, a few at 5 or 20 s: 301 -> 30, 251 -> 25, 241 -> 24,
    502 -> 25, 151 -> 30). Ties go to 30, the rate the paper's strides assume."""
    def distance(rate: int) -> float:
        seconds = frame_count / rate
        return abs(seconds - max(5, round(seconds / 5) * 5))

    return min(COMMON_FRAME_RATES, key=distance)


def _metadata_frame_rate(root: Path) -> int | None:
    """A frame rate the dataset states (the synthetic corpus's synthetic.json), if any."""
    from .synthetic import MARKER

    try:
        rate = json.loads((root / MARKER).read_text()).get("fps")
    except (OSError, ValueError, AttributeError):
        return None
    return int(rate) if isinstance(rate, (int, float)) and rate > 0 else None


def _index_letsdance(root: Path, frame_dirs: dict, pose_dirs: dict, classes: Sequence[str]) -> DatasetIndex:
    index = DatasetIndex(root, "letsdance", [], [])
    stated_rate = _metadata_frame_rate(root)
    for label in classes:
        frames, skipped_frames = _scan(frame_dirs.get(label, []), FRAME_SUFFIXES)
        poses, skipped_poses = _scan(pose_dirs.get(label, []), frozenset({".json"}))
        index.skipped_files += skipped_frames + skipped_poses
        if frames:
            index.classes.append(label)
        for (youtube_id, segment), numbered in sorted(frames.items()):
            pose_files = poses.get((youtube_id, segment), {})
            index.clips.append(_letsdance_clip(label, youtube_id, segment, numbered, pose_files, stated_rate))
    return index


def _letsdance_clip(label: str, youtube_id: str, segment: str, frames: dict[int, Path],
                    poses: dict[int, Path], frame_rate: int | None = None) -> Clip:
    numbers = sorted(frames)
    pose_paths = [poses.get(number) for number in numbers]
    last = max([*numbers, *poses])  # frames are numbered from 1: the clip's length in frames
    return Clip(label, youtube_id, f"{youtube_id}_{segment}", [frames[n] for n in numbers], pose_paths, numbers,
                missing_frames=last - sum(1 for n in numbers if n >= 1),
                empty_poses=sum(_is_empty_pose(path) for path in pose_paths if path),
                frame_rate=frame_rate or infer_frame_rate(last))


def _is_empty_pose(path: Path) -> bool:
    """True for a file holding [] (or nothing). Files with people are hundreds of bytes, so only tiny ones are read."""
    if path.stat().st_size > 16:
        return False
    try:
        return json.loads(path.read_text() or "[]") == []
    except (OSError, ValueError):
        return False


def _index_videos(root: Path, classes: Sequence[str] | None) -> DatasetIndex:
    wanted = None if classes is None else {label.lower(): label for label in classes}
    found: dict[str, list[Clip]] = {}
    for style_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        label = style_dir.name if wanted is None else wanted.get(style_dir.name.lower())
        videos = sorted(p for p in style_dir.rglob("*")
                        if p.suffix.lower() in VIDEO_EXTENSIONS and not p.name.startswith(".") and p.is_file())
        if label is not None and videos:  # the source stands in for the YouTube id: splits group by source
            # the suffix stays in the clip id: a.mp4 and a.webm are two clips (of one source)
            found[label] = [Clip(label, video_source(video.relative_to(style_dir)),
                                 video.relative_to(style_dir).as_posix(), video=video) for video in videos]
    order = list(found) if classes is None else [label for label in classes if label in found]
    return DatasetIndex(root, "videos", order, [clip for label in order for clip in found[label]])


def video_source(path: PurePosixPath | Path) -> str:
    """The source a video was cut from, given its path inside its <style> folder; a source's clips stay on one side
    of the split, in every style. In a sub-folder: the sub-folder's name ('party3/any.mp4' -> 'party3'). Else a
    name ending in digits after '_', '-' or ' ' (any run of them): what comes before ('party3_001.mp4',
    'party3-002.mp4', 'party3 3.mp4' -> 'party3'). Else the file's stem: a video of its own."""
    parts = PurePosixPath(path).parts
    if len(parts) > 1:
        return parts[0]
    stem = PurePosixPath(parts[0]).stem
    match = SEGMENT_NAME.fullmatch(stem)
    return match.group(1) if match else stem


def source_cautions(index: DatasetIndex) -> list[str]:
    """For your own videos, what the source rule cannot tell: names ending in digits with no separator
    ('party001.mp4', 'party002.mp4': one video's segments or separate videos?), and styles whose clips come from
    fewer than three sources, so that none of them can be held out for val or test."""
    if index.layout != "videos":
        return []
    cautions = []
    for label in index.classes:
        clips = [clip for clip in index.clips if clip.label == label]
        alike: dict[str, list[str]] = defaultdict(list)
        for clip in clips:
            stem = PurePosixPath(clip.clip_id).stem
            match = TRAILING_DIGITS.fullmatch(stem)
            if "/" not in clip.clip_id and match and not SEGMENT_NAME.fullmatch(stem):
                alike[match.group(1)].append(clip.clip_id)
        for prefix, names in sorted(alike.items()):
            if len(names) > 1:
                first = PurePosixPath(names[0])  # party001.mp4 -> party_001.mp4
                digits = TRAILING_DIGITS.fullmatch(first.stem).group(2)
                example = f"{prefix.strip('_- ') or 'source'}_{digits}{first.suffix}"
                cautions.append(
                    f"{label}: {len(names)} videos ({', '.join(names[:2])}{', …' if len(names) > 2 else ''}) end in "
                    "digits with nothing before them to tell a segment number, so each counts as a video of its "
                    "own and, if they were cut from one video, its segments can land in train and test alike. "
                    f"Segments of one source are kept together when named <source>_<n> (e.g. "
                    f"{example}; '-' or a space works too) or put in a sub-folder "
                    f"per source ({label}/<source>/…).")
        sources = sorted({clip.youtube_id for clip in clips})
        if len(clips) >= 3 and len(sources) < 3:
            cautions.append(
                f"{label}: its {len(clips)} clips come from {len(sources)} source{'s' * (len(sources) > 1)} "
                f"({', '.join(sources)}), and a source's clips stay on one side of the split, so none can be held "
                "out for val or test. If they are separate videos, give each a name that does not end in "
                "_<n>, -<n> or ' <n>', or a sub-folder of its own.")
    return cautions


# -- splits -------------------------------------------------------------------------------------------------------

def make_splits(index: DatasetIndex, seed: int = 0,
                fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)) -> dict[str, list[str]]:
    """{"train", "val", "test"} -> sorted clip keys. Whole YouTube ids go to one side, stratified by the id's
    majority class; each class's ids are shuffled with a seeded generator and at least one stays in train."""
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
                        on_caution: Callable[[str], None] | None = None) -> dict[str, list[str]]:
    """The split in root/splits.json, made once (atomically) and reused on every later run.

    Clips the file does not list join their video's (or source's) side if it has one; clips of new videos get a
    stratified split of their own; either way the file is updated (with a warning). Clips it lists but the index
    lacks are left out. Warnings, and what the source rule cannot tell (`source_cautions`), go to on_caution(text),
    by default to the log.
    """
    caution = on_caution or _log_caution
    for text in source_cautions(index):
        caution(text)
    path = Path(root) / SPLITS_FILE
    if path.is_file():
        return _reuse_splits(path, index, seed, caution)
    splits = make_splits(index, seed, fractions)
    try:
        atomic_write_json(path, {"seed": seed, "fractions": list(fractions),
                                 "group_by": GROUP_BY.get(index.layout, "youtube_id"), **splits})
    except OSError as e:
        raise InputError(f"Cannot write {path} ({e}).", "Make the dataset folder writable: the split is kept "
                                                        "there so every run uses the same one.") from e
    return splits


def _log_caution(text: str) -> None:
    log.warning("%s", text)


def _reuse_splits(path: Path, index: DatasetIndex, seed: int, caution: Callable[[str], None]) -> dict[str, list[str]]:
    try:
        saved = json.loads(path.read_text())
        side_of_key = {key: side for side in SIDES for key in saved[side]}
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{path} is not a valid split file ({e}).",
                         "Delete it to make a new split (this changes which clips are held out).") from e
    if saved.get("seed", seed) != seed:
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
    # clips of videos the file has never seen (new classes, say) get a stratified split of their own
    unseen = [clip for clip in index.clips if clip.key not in side_of_key and clip.youtube_id not in side_of_video]
    if unseen:
        fresh = make_splits(DatasetIndex(index.root, index.layout, index.classes, unseen), seed)
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
        caution(f"{added} clips were not in {path}: added (new videos split by class, others beside their video's "
                "clips) and the file updated")
        kept = {side: sorted(set(saved[side]) | set(splits[side])) for side in SIDES}
        atomic_write_json(path, {**{k: v for k, v in saved.items() if k not in SIDES}, **kept})
    return splits


# -- fetch --------------------------------------------------------------------------------------------------------

def fetch_dataset(sources: list[str] | None = None, dest: Path | None = None, classes: int = 10,
                  progress: Callable[[str, int, int | None], None] | None = None, seed: int = 0,
                  on_caution: Callable[[str], None] | None = None) -> dict:
    """Download/extract (or use in place) the dataset, index it, make or reuse its split; return a summary.

    sources: http(s) .zip URLs, local .zip files or extracted folders (default: LETSDANCE_ARCHIVES).
    dest: where archives are extracted (default DANCESTYLE_HOME/datasets/letsdance). A folder is used in place
    when no other dest is given; with one, dest becomes the dataset's root: it gets the split and a source.json
    naming the folder (nothing is copied, the folder is only read), and `train --data dest` reads through it.
    progress(archive name, bytes done, total) is called while downloading.
    on_caution(text) is told what a user should know (default: the log): the Let's Dance terms (for Let's Dance
    only, not for your own videos or the synthetic corpus) and what the split rule cannot tell.
    """
    letsdance = letsdance_classes(classes)
    caution = on_caution or _log_caution
    given_dest = Path(dest).expanduser() if dest else None
    dest = given_dest or default_root("letsdance")
    known = [archive.url for archive in LETSDANCE_ARCHIVES.values()]
    sources = sources or known
    noted = any(source in known for source in sources)
    if noted:  # before the download: these are Let's Dance's own archives
        caution(TERMS_NOTE)
    roots = {_fetch_source(source, dest, progress) for source in sources}
    if len(roots) > 1:
        raise UsageError("The sources do not end up in one folder: " + ", ".join(sorted(map(str, roots))) + ".",
                         "Pass one extracted folder, or archives only (they are extracted together).")
    (root,) = roots
    if given_dest is not None and root.resolve() != given_dest.resolve():  # a folder kept where it is
        root = _refer(given_dest, root, caution)
    index = index_for_training(root, letsdance)
    if not noted and index.layout == "letsdance" and not _is_synthetic(referred_folder(root) or root):
        caution(TERMS_NOTE)
    splits = load_or_make_splits(root, index, seed, on_caution=caution)
    return {"root": str(root), "classes": index.classes, "clips": len(index.clips), "frames": index.frames,
            "missing_frames": index.missing_frames, "empty_pose_frames": index.empty_pose_frames,
            "splits": {side: len(keys) for side, keys in splits.items()}}


def _is_synthetic(folder: Path) -> bool:
    from .synthetic import MARKER

    return (folder / MARKER).is_file()


def _refer(dest: Path, folder: Path, caution: Callable[[str], None]) -> Path:
    """Make dest the root of the dataset in `folder` without copying it: dest/source.json names the folder, and
    the split (and the feature cache's key) belong to dest. Refused where that would mislead."""
    target = (referred_folder(folder) or folder).expanduser().resolve()
    if _is_synthetic(target):  # train tells a synthetic corpus by its marker file in the dataset root
        raise UsageError(f"{folder} is a synthetic corpus: it is used where it is, not through --dest.",
                         "Drop --dest, or generate a corpus there with `fetch-dataset --synthetic --dest DIR`.")
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"--dest {dest} is not a folder.", "Pass a new or empty folder.")
    current = referred_folder(dest)
    if current is not None and current != target:
        if current.is_dir():
            raise UsageError(f"--dest {dest} already refers to the dataset in {current}.",
                             f"Pass another --dest for {target}, or delete {dest} first (its split goes with it).")
        caution(f"{dest} referred to {current}, which is gone: it now refers to {target}; its split is kept "
                "(clips are listed by their paths inside the style folders).")
    elif current is None and dest.is_dir() and any(not p.name.startswith(".") for p in dest.iterdir()):
        raise UsageError(f"--dest {dest} is not empty, and with a folder --source it would hold that dataset's "
                         f"split and a {SOURCE_FILE} naming {target}.",
                         "Pass a new or empty folder, or drop --dest to keep the split in the folder itself.")
    if current != target:
        dest.mkdir(parents=True, exist_ok=True)
        atomic_write_json(dest / SOURCE_FILE, {"folder": str(target)})
    return dest


def _fetch_source(source: str, dest: Path, progress: Callable[[str, int, int | None], None] | None) -> Path:
    """The folder a source's data ends up in: dest for archives, the folder itself for an extracted folder."""
    if urllib.parse.urlparse(source).scheme in ("http", "https"):
        name = archive_name(source)
        pinned = next((archive.sha256 for archive in LETSDANCE_ARCHIVES.values() if archive.url == source), None)
        report = (lambda done, total: progress(name, done, total)) if progress else None
        return safe_extract(download(source, dest, report, sha256=pinned), dest)
    path = Path(source).expanduser()
    if path.is_dir():
        return path  # used in place, or referred to from --dest: no copy
    if path.is_file() and zipfile.is_zipfile(path):
        return safe_extract(path, dest)
    raise InputError(f"{source}: not an http(s) URL, a readable .zip archive or a folder.",
                     "Pass an archive's URL, a downloaded .zip, or the folder it was extracted into.")
