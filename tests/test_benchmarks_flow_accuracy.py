"""benchmarks/flow_accuracy_frames_vs_video.py's clip picking: spread over the styles, deterministic per seed."""

from __future__ import annotations

import importlib.util
from collections import Counter
from pathlib import Path

# benchmarks/ is not a package: the script imported by path (as tests/test_controls.py does)
SPEC = importlib.util.spec_from_file_location(
    "benchmarks_flow_accuracy", Path(__file__).parent.parent / "benchmarks" / "flow_accuracy_frames_vs_video.py")
script = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(script)
pick_clips, parse_size = script.pick_clips, script.parse_size

KEYS = [f"{style}/{style}_{n:03d}" for style in ("ballet", "break", "tango", "waltz") for n in range(5)]
KEYS += ["swing/swing_000"]  # a style with one clip


def test_pick_clips_spreads_over_styles_and_is_deterministic():
    picked = pick_clips(KEYS, 9, seed=0)
    assert len(picked) == len(set(picked)) == 9 and set(picked) <= set(KEYS)
    counts = Counter(key.split("/")[0] for key in picked)
    assert len(counts) == 5 and max(counts.values()) - min(counts.values()) <= 1  # round-robin over the styles
    assert pick_clips(list(reversed(KEYS)), 9, seed=0) == picked  # the split's order does not matter
    assert any(pick_clips(KEYS, 9, seed=seed) != picked for seed in range(1, 5))


def test_pick_clips_fewer_than_styles_and_more_than_the_split():
    few = pick_clips(KEYS, 3, seed=0)
    assert len({key.split("/")[0] for key in few}) == 3
    assert sorted(pick_clips(KEYS, 100, seed=0)) == sorted(KEYS)  # all there are, each once
    assert pick_clips(KEYS, 0, seed=0) == []


def test_parse_size():
    assert parse_size("1440x1080") == (1440, 1080) and parse_size("1920X1080") == (1920, 1080)
