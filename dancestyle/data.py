"""Datasets: index a dataset folder (splits.py splits it, fetch.py puts it in place).

Two layouts are recognised (see shared/letsdance.md for the first):
- Let's Dance: rgb/<class>/<youtube id>_<segment>_<NNNN>.jpg and densepose/txt/<class>/<same>.json, at any depth.
- Users' own data: <root>/<style>/<clip>.<video ext>; each file is a clip, grouped by the source it was cut from
  (see `video_source`): the source stands where Let's Dance has the YouTube id.
A dataset folder may also be a `fetch-dataset --dest` folder that refers to one kept elsewhere (SOURCE_FILE): it
holds the split (SPLITS_FILE).
"""

from __future__ import annotations

import json
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from .configs import CLASSES
from .errors import InputError, UsageError
from .video import VIDEO_EXTENSIONS
from .weights import home

CLASSES_16 = (*CLASSES, "cha", "jive", "pasodoble", "rumba", "samba", "tap")
FRAME_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
SPLITS_FILE = "splits.json"  # in the dataset folder: splits.py
SOURCE_FILE = "source.json"  # in a --dest folder that refers to a dataset folder kept elsewhere
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
