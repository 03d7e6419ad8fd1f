"""A procedural dance corpus in the Let's Dance layout: for tests, demos and training runs without the real data.

The dancers come from choreography.py (styles that differ only in time), the skeleton files from posenoise.py (what
a real pose detector would report of them: jitter, missed joints and people, false people, no tracking); every
frame is written the way Let's Dance ships it:

    <root>/rgb/<class>/<ytid>_<seg:03d>_<frame:04d>.jpg             stick figures drawn on a noisy background
    <root>/densepose/txt/<class>/<ytid>_<seg:03d>_<frame:04d>.json   [["person0", ["nose", [x, y]], ...], ...]
    <root>/synthetic.json                                            parameters, "synthetic": true; written last

The frames show the clean dance; a pose backend run on them (classify's path) makes its own kind of error.
"""

from __future__ import annotations

import gc
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .choreography import FPS, STYLES, VERSION, Body, Performance, check_styles, dance_skeletons, perform
from .configs import CLASSES
from .errors import InputError, UsageError
from .posenoise import REALISTIC, PoseNoise, describe, detect, noise_preset, to_letsdance_json
from .weights import atomic_write_json

MARKER = "synthetic.json"
YOUTUBE_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
YOUTUBE_LAST = "AEIMQUYcgkosw048"  # an id encodes 64 bits: its 11th character carries only 4 of them
BONES = ((5, 7), (7, 9), (6, 8), (8, 10), (5, 6), (5, 11), (6, 12), (11, 12), (11, 13), (13, 15), (12, 14), (14, 16))


@dataclass(frozen=True)
class Clip:
    """One synthetic clip: a segment of a fake YouTube video."""

    style: str
    ytid: str
    segment: int
    entropy: tuple[int, ...]

    @property
    def name(self) -> str:
        return f"{self.ytid}_{self.segment:03d}"

    def rng(self) -> np.random.Generator:
        """The clip's own generator: dance_skeletons(clip.style, clip.rng(), ...) is what the corpus holds."""
        return np.random.default_rng(np.random.SeedSequence(self.entropy))


def _youtube_id(rng, lead: str = "") -> str:
    body = "".join(YOUTUBE_CHARS[i] for i in rng.integers(0, 64, 10 - len(lead)))
    return lead + body + YOUTUBE_LAST[rng.integers(0, 16)]


def corpus_clips(classes: Iterable[str] = CLASSES, clips_per_class: int = 8, seed: int = 0) -> list[Clip]:
    """The clips of a corpus, class by class: videos of 1-4 segments each. A clip depends only on the seed, its
    class and its place, so asking for more clips per class keeps the first ones."""
    clips, classes = [], list(classes)
    check_styles(classes)
    for style in classes:
        style_index, video, mine = CLASSES.index(style), 0, []
        while len(mine) < clips_per_class:
            rng = np.random.default_rng([seed, style_index, video])
            lead = "-_"[(video // 3 + style_index) % 2] if video % 3 == 0 else ""  # ids like -2W1PfHleRM, _FidGI7J718
            ytid, segment = _youtube_id(rng, lead), int(rng.integers(0, 40))
            for _ in range(min(int(rng.integers(1, 5)), clips_per_class - len(mine))):
                mine.append(Clip(style, ytid, segment, (seed, style_index, video, segment)))
                segment += int(rng.integers(1, 6))
            video += 1
        clips += mine
    return clips


def _write(path: Path, data: bytes) -> None:
    """Atomic (temp file + rename) but not fsynced: 4 ms a file would dominate; the marker is synced instead."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temp.write_bytes(data)
    os.replace(temp, path)


def _background(rng, size: tuple[int, int], pad: int):
    from PIL import Image

    width, height = size[0] + 2 * pad, size[1] + 2 * pad
    image = np.empty((height, width, 3))
    horizon = int(rng.uniform(0.2, 0.6) * size[1]) + pad
    image[:horizon], image[horizon:] = rng.integers(20, 236, 3), rng.integers(20, 236, 3)  # wall, floor
    blotches = Image.fromarray(rng.integers(0, 256, (4, 5, 3)).astype(np.uint8)).resize((width, height),
                                                                                     Image.Resampling.BILINEAR)
    image += rng.uniform(0.1, 0.4) * (np.asarray(blotches, float) - 128) + rng.normal(0, rng.uniform(0, 10),
                                                                                       image.shape)
    return Image.fromarray(np.clip(image, 0, 255).astype(np.uint8))


def clip_skeletons(clip: Clip, frames: int = 300, size: tuple[int, int] = (160, 120),
                   noise: PoseNoise = REALISTIC) -> list[np.ndarray]:
    """The skeletons the corpus's JSON files hold for `clip`, one (people, 17, 2) array per frame (unrounded), as
    `noise` (posenoise.py) has the detector see the dance: all 17 joints of each person, lost ones guessed."""
    rng = clip.rng()
    performance = perform(clip.style, rng, frames, size, FPS)
    return detect(*performance[:3], size, rng, noise)


def _write_clip(clip: Clip, root: Path, frames: int, size: tuple[int, int], noise: PoseNoise) -> None:
    from PIL import ImageDraw

    rng = clip.rng()
    performance = perform(clip.style, rng, frames, size, FPS)  # first, so dance_skeletons(clip.rng()) matches
    detected = detect(*performance[:3], size, rng, noise)  # second, so clip_skeletons(clip) matches
    points, people = performance.points, performance.points.shape[1]
    pad = int(np.ceil(np.abs(performance.pan).max())) + 1
    background = _background(rng, size, pad)
    costumes = [tuple(int(c) for c in rng.integers(0, 256, 3)) for _ in range(people)]
    skin = tuple(int(c) for c in rng.integers([150, 100, 70], [255, 200, 170]))
    pixels = points.tolist()
    rgb_dir, pose_dir = root / "rgb" / clip.style, root / "densepose" / "txt" / clip.style
    rgb_dir.mkdir(parents=True, exist_ok=True)
    pose_dir.mkdir(parents=True, exist_ok=True)
    for frame in range(frames):
        dx, dy = np.round(performance.pan[frame]).astype(int)
        image = background.crop((pad - dx, pad - dy, pad - dx + size[0], pad - dy + size[1]))
        draw = ImageDraw.Draw(image)
        for person in np.argsort(-performance.depth[frame]):  # far to near
            joints, scale = pixels[frame][person], performance.scale[frame, person]
            width = max(1, round(0.04 * scale))
            for a, b in BONES:
                draw.line([tuple(joints[a]), tuple(joints[b])], fill=skin if b <= 10 else costumes[person], width=width)
            (x, y), r = joints[0], max(1.0, 0.06 * scale)
            draw.ellipse([x - r, y - r, x + r, y + r], fill=skin)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        name = f"{clip.name}_{frame + 1:04d}"
        _write(rgb_dir / f"{name}.jpg", buffer.getvalue())
        _write(pose_dir / f"{name}.json", json.dumps(to_letsdance_json(detected[frame])).encode())  # last: complete


def _write_clips(clips: list[Clip], root: Path, frames: int, size: tuple[int, int], noise: PoseNoise,
                 workers: int | None) -> Iterator[Clip]:
    """Write each clip, in parallel processes when there are several cores; yield each clip once it is written.
    Every clip has its own generator, so the corpus is the same whatever the order or number of workers."""
    workers = min(workers or os.cpu_count() or 1, len(clips))
    if workers <= 1:
        for clip in clips:
            _write_clip(clip, root, frames, size, noise)
            yield clip
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed

    gc.collect()  # see sequences.worker_windows: garbage PyAV objects must not be freed in a forked worker
    with ProcessPoolExecutor(workers) as pool:
        futures = {pool.submit(_write_clip, clip, root, frames, size, noise): clip for clip in clips}
        try:
            for future in as_completed(futures):
                future.result()
                yield futures[future]
        finally:  # on an error or Ctrl-C, start no more clips (each file lands by rename: none is half-written)
            for future in futures:
                future.cancel()


def generate_corpus(root: str | Path, clips_per_class: int = 8, seed: int = 0, frames_per_clip: int = 300,
                    size: tuple[int, int] = (160, 120), classes: Iterable[str] = CLASSES,
                    progress: Callable[[int, int], None] | None = None, workers: int | None = None,
                    pose_noise: str = "realistic") -> dict:
    """Write a synthetic corpus in the Let's Dance layout under `root`; returns its summary.

    Deterministic for a seed. Re-running with the same arguments skips complete clips (and returns at once once
    the corpus is complete); a folder holding another corpus, or real data, is refused. `progress(done, total)`
    is called after every clip. Clips are written by `workers` processes (default: one per CPU core).
    `pose_noise` names the skeleton files' detector noise (posenoise.PRESETS: "realistic", or "clean").
    """
    root, classes, size = Path(root), list(classes), (int(size[0]), int(size[1]))
    check_styles(classes)
    noise = noise_preset(pose_noise)
    if clips_per_class < 1 or frames_per_clip < 1 or min(size) < 16 or seed < 0:
        raise UsageError("clips_per_class and frames_per_clip must be at least 1, the frame at least 16x16 pixels "
                         "and the seed not negative.")
    params = {"synthetic": True, "generator": "dancestyle.synthetic", "version": VERSION, "seed": seed,
              "clips_per_class": clips_per_class, "frames_per_clip": frames_per_clip, "fps": FPS,
              "size": list(size), "classes": classes,
              "pose_noise": pose_noise, "pose_noise_parameters": describe(noise)}
    marker = root / MARKER
    clips = corpus_clips(classes, clips_per_class, seed)
    if marker.is_file():
        try:
            previous = json.loads(marker.read_text())
        except ValueError:
            previous = {}
        differ = [key for key in params if previous.get(key) != params[key]]
        if differ:  # e.g. a corpus of another size, or one an older generator (version) wrote
            made = ", ".join(f"{key} {previous.get(key)} (asked: {params[key]})" for key in differ)
            raise InputError(f"{root} holds a synthetic corpus made with other settings: {made}.",
                             "Delete that folder or choose another one (--dest DIR); the same settings complete it.")
        if previous.get("complete"):
            return {**previous, "root": str(root), "skipped": len(clips)}
    elif any((root / folder).exists() for folder in ("rgb", "densepose")):
        raise InputError(f"{root} already holds rgb/ or densepose/ folders that are not a synthetic corpus.",
                         "Choose an empty folder.")
    atomic_write_json(marker, {**params, "complete": False})
    todo = [clip for clip in clips
            if not (root / "densepose" / "txt" / clip.style / f"{clip.name}_{frames_per_clip:04d}.json").is_file()]
    skipped = len(clips) - len(todo)
    for done, _ in enumerate(_write_clips(todo, root, frames_per_clip, size, noise, workers), skipped + 1):
        if progress is not None:
            progress(done, len(clips))
    summary = {**params, "complete": True, "clips": len(clips), "videos": len({c.ytid for c in clips}),
               "frames": len(clips) * frames_per_clip}
    if hasattr(os, "sync"):  # frames are not fsynced one by one: make them durable before the marker says complete
        os.sync()
    atomic_write_json(marker, summary)  # written last
    return {**summary, "root": str(root), "skipped": skipped}


__all__ = ["FPS", "MARKER", "STYLES", "Body", "Clip", "Performance", "clip_skeletons", "corpus_clips",
           "dance_skeletons", "generate_corpus"]
