"""A split's clips, as training and evaluation read them (load_split): in memory, or, for clips too big to hold in
memory all at once (r3d's frames: ~2.3 MB a 10 s clip at 112 px, ~2.3 GB for Let's Dance), read from the feature
cache when needed, their training windows made by DataLoader workers.

The in-memory features of the other streams keep their single-process path in train.py (and its exact random
streams); a split read from the cache draws each clip's window from its own generator, seeded by (seed, epoch,
clip), so workers need no shared state and a resumed run draws what an uninterrupted one would. Memory holds the batches in
flight (batch_size windows, times the workers' prefetch), whatever the dataset's size.
"""

from __future__ import annotations

import gc
import os
import signal
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .data import Clip, DatasetIndex
from .extract import FeatureSet
from .features import Window
from .recipe import rgb_reads_frames

LOADER_WORKERS = 2  # decode processes per training process; each holds one batch ahead


def shuffled_in_time(features: Window, clip_key: str) -> Window:
    """The shuffled-frames control: the clip's samples in a fixed permutation of its own (every stream alike)."""
    steps = len(next(iter(features.values())))
    seed = int.from_bytes(clip_key.encode()[-8:].rjust(8, b"\0"), "little")
    order = np.random.default_rng(seed).permutation(steps)
    return {stream: array[order] for stream, array in features.items()}


class CachedClips(Sequence):
    """A split's per-clip features, read from the cache on each access (nothing kept): a drop-in for the list of
    dicts that Sequences holds for streams small enough for memory."""

    def __init__(self, features: FeatureSet, clips: list[Clip], shuffle_frames: bool = False) -> None:
        self.feature_set, self.clips, self.shuffle_frames = features, clips, shuffle_frames

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> Window:
        if not isinstance(index, int):
            raise TypeError("CachedClips are read one clip at a time")
        if not -len(self) <= index < len(self):
            raise IndexError(index)  # ends Sequence's iteration
        features = self.feature_set.load(self.clips[index])
        return shuffled_in_time(features, self.clips[index].key) if self.shuffle_frames else features


def reads_from_cache(features: FeatureSet) -> bool:
    """Whether a run's features are read clip by clip (a stream of pixels) rather than held in memory."""
    return rgb_reads_frames({stream: spec.form for stream, spec in features.specs.items()})


@dataclass
class Sequences:
    """One split's clips in memory: per-clip features (T_all samples at the cache stride) and labels."""

    features: Sequence[dict[str, np.ndarray]]  # a list, or CachedClips for streams read from the cache on demand
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def load_split(index: DatasetIndex, features: FeatureSet, keys: list[str], classes: list[str],
               shuffle_frames: bool = False) -> Sequences:
    """A split's clips in memory, or for a stream of pixels read from the cache clip by clip (worker_windows).
    shuffle_frames: permute each clip's samples in time (same permutation for every stream, fixed per clip), the
    control that shows how much a model uses motion."""
    clips = index.clips_for(keys)
    labels = np.array([classes.index(clip.label) for clip in clips])
    if reads_from_cache(features):
        return Sequences(CachedClips(features, clips, shuffle_frames), labels)
    loaded = [features.load(clip) for clip in clips]
    if shuffle_frames:
        loaded = [shuffled_in_time(features_of_clip, clip.key) for features_of_clip, clip in zip(loaded, clips)]
    return Sequences(loaded, labels)


class TrainingWindows(torch.utils.data.Dataset):
    """Item i: clip i's training window for `epoch` (choose: windows.training_window), from a generator of its own."""

    def __init__(self, clips: CachedClips, choose: Callable[[Window, torch.Generator], Window], seed: int,
                 epoch: int) -> None:
        self.clips, self.choose, self.seed, self.epoch = clips, choose, seed, epoch

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[int, Window]:
        generator = torch.Generator().manual_seed((self.seed * 100_003 + self.epoch) * 1_000_003 + index)
        window = self.choose(self.clips[index], generator)
        return index, {stream: np.ascontiguousarray(array) for stream, array in window.items()}  # not the clip


def _keep_list(items: list) -> list:
    return items  # the batch as a list of (index, window): windows.batch_windows pads it


def worker_windows(clips: CachedClips, choose: Callable[[Window, torch.Generator], Window], seed: int, epoch: int,
                     batches: list[list[int]], workers: int = LOADER_WORKERS) -> Iterator[list[tuple[int, Window]]]:
    """The epoch's batches of (clip index, window), in the order of `batches`, made by `workers` processes
    (fewer on a machine with fewer cores; 0: in this process)."""
    workers = max(0, min(workers, (os.cpu_count() or 1) - 1))
    if workers:
        # A PyAV object left in a reference cycle (seen: a VideoReformatter) is freed by the cycle collector at
        # some later moment, and freeing it joins its threads (swscale's slice threads). A forked worker inherits
        # such garbage but not the threads: collected there, it waits for them forever. Collect it before the fork.
        gc.collect()
    loader = torch.utils.data.DataLoader(TrainingWindows(clips, choose, seed, epoch), batch_sampler=batches,
                                         num_workers=workers, collate_fn=_keep_list,
                                         prefetch_factor=1 if workers else None,
                                         worker_init_fn=_leave_stop_signals_to_the_main_process if workers else None)
    yield from loader


def _leave_stop_signals_to_the_main_process(worker_id: int) -> None:
    """Ctrl-C and SIGTERM go to a whole process group (a terminal, `timeout`, batch schedulers): a worker that took
    them died first, and torch then raised "DataLoader worker ... is killed by signal: Terminated" with a traceback
    over the CLI's own message. The main process handles them and shuts the loader down, which ends the workers
    (they also end when they see the main process gone)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
