"""What the flow stream costs per sampled step, on this machine, at its default settings.

    python benchmarks/flow_speed.py [--sizes 640x360,1920x1080] [--repeat 3] [--data DATASET]
                                    [--flow-size PX] [--pairs N] [--refinement N]

For each video size it decodes a generated 10 s, 30 fps clip (moving figures, benchmarks/classify_speed.py's)
the way `classify` and training do, twice: sampled frames only, and sampled frames with their flow stacks. The
difference per sampled step is what flow adds (the decoder's extra frame conversions included); it is reported at
the cache's 1/6 s steps (every frame of 30 fps video is in a pair) and at lstm's 2 s steps. It also reports DIS
alone per pair at the flow size, and Farneback's (flow.FARNEBACK_PARAMETERS, `--flow-set algorithm=farneback`) on
the same frames in the same run, with its ratio to DIS. --data: the first clip of a Let's Dance-style dataset of
frame folders (e.g. the synthetic corpus), as training reads it. Medians over --repeat runs. --flow-size and
--pairs price other flow settings than the defaults (the clip bound scales with the size; it costs nothing),
--refinement DIS's variational refinement iterations.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from dancestyle.flow import FlowSettings

sys.path.insert(0, str(Path(__file__).parent))


def median_seconds(work, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        work()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def video_costs(clip: Path, interval: Fraction, repeat: int, settings: FlowSettings) -> tuple[int, float, float]:
    """(sampled steps, seconds without flow, seconds with flow) to decode `clip` as classify does."""
    from dancestyle.geometry import DEFAULT_DETECTOR_SIZE
    from dancestyle.video import iter_sampled_frames

    def decode(flow):
        return sum(1 for _ in iter_sampled_frames(clip, interval, DEFAULT_DETECTOR_SIZE, flow=flow))

    steps = decode(None)
    return steps, median_seconds(lambda: decode(None), repeat), median_seconds(lambda: decode(settings), repeat)


def per_pair(repeat: int, settings: FlowSettings) -> float:
    """Seconds per flow pair by `settings` (its algorithm) on a 16:9 random texture shifted 3 px."""
    from dancestyle.flow import FlowField

    rng = np.random.default_rng(0)
    width = round(settings.size * 16 / 9)
    first = rng.integers(0, 255, (settings.size, width), dtype=np.uint8)
    second = np.roll(first, 3, axis=1)
    field = FlowField(settings)
    return median_seconds(lambda: [field(first, second, 1 / 30) for _ in range(50)], repeat) / 50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="640x360,1920x1080")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data", type=Path, help="a dataset of frame folders: its first clip, as training reads it")
    parser.add_argument("--flow-size", type=int, help="short side flow is computed at (default: the default's)")
    parser.add_argument("--pairs", type=int, help="pairs per stack (default: the default's)")
    parser.add_argument("--refinement", type=int, help="DIS variational refinement iterations (default: the "
                        "default's)")
    args = parser.parse_args()
    from classify_speed import make_clip

    from dancestyle.geometry import CACHE_STRIDE
    from dancestyle.flow import DEFAULT_FLOW
    from dancestyle.video import sample_interval

    size = args.flow_size or DEFAULT_FLOW.size
    settings = replace(DEFAULT_FLOW.at_size(size), pairs=args.pairs or DEFAULT_FLOW.pairs,
                       refinement=DEFAULT_FLOW.refinement if args.refinement is None else args.refinement)
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; flow settings "
          f"{settings.to_dict()}\n")
    dis = per_pair(args.repeat, settings)
    farneback = per_pair(args.repeat, replace(settings, algorithm="farneback"))
    for name, seconds in (("DIS", dis), ("Farneback", farneback)):
        print(f"{name} alone: {1000 * seconds:.2f} ms per pair at short side {size} px, "
              f"{1000 * seconds * settings.pairs:.1f} ms for a stack of {settings.pairs}")
    print(f"Farneback / DIS: {farneback / dis:.1f}x\n")
    print("| video | steps every | steps | decode only, ms/step | with flow, ms/step | flow adds, ms/step |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes.split(","):
            width, height = (int(side) for side in size.split("x"))
            clip = make_clip(Path(scratch) / f"{size}.mp4", size=(width, height))
            for label, interval in (("1/6 s (cache)", sample_interval(CACHE_STRIDE)), ("2 s (lstm)", sample_interval(60))):
                steps, plain, with_flow = video_costs(clip, interval, args.repeat, settings)
                print(f"| {size} 30 fps | {label} | {steps} | {1000 * plain / steps:.1f} | "
                      f"{1000 * with_flow / steps:.1f} | {1000 * (with_flow - plain) / steps:.1f} |", flush=True)
    if args.data:
        from dancestyle.data import index_dataset
        from dancestyle.extract import folder_flow

        clip = index_dataset(args.data, None).clips[0]
        seconds = median_seconds(lambda: folder_flow(clip, settings, sample_interval(CACHE_STRIDE)), args.repeat)
        steps = len(folder_flow(clip, settings, sample_interval(CACHE_STRIDE)))
        print(f"\nFrame folder {clip.key} ({len(clip.frames)} JPEGs): {1000 * seconds / steps:.1f} ms per 1/6 s step "
              f"(reading the JPEGs included)")


if __name__ == "__main__":
    main()
