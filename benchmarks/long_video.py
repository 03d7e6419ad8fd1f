"""The long-1080p case: `classify --timeline` on a 2-minute 1920x1080 30 fps H.264 video against decoding it alone.

    python benchmarks/long_video.py [--seconds 120] [--repeat 1] [--models lstm,tcn] [--video PATH] [--baseline DIR]
                                    [--device cuda]

In one run, for each model (random weights, default pose backend, the networks on the CPU unless --device):
- decode-only: a whole process that decodes the video as classify does for that model (dancestyle.video's
  iter_sampled_frames at the model's stride and frame size, RGB conversion of the sampled frames included) and
  nothing else: the floor;
- whole process: `dancestyle classify VIDEO --random-weights --timeline --json --model M`, run through a thin
  wrapper (`--classify`: the CLI's own main, in a process of its own) that also prints the classification's split:
  decode wait / pose / RGB / sequence model, so one run gives both.
It prints the issue-29 goals' ratios: lstm / its decode-only floor (goal <= 2x), tcn / the video's duration (goal
<= 0.3x real time), and a full decode of every frame (no conversion) for reference.

The video is generated (moving figures on a textured background, libx264 veryfast: B-frames, a keyframe every
250 frames) and cached under the temp dir by size and length, so later runs skip the encoding. Figures are medians
over --repeat runs. --baseline DIR: another checkout (e.g. `git worktree add /tmp/before HEAD~1`) timed in the
same run, each of its processes right after this checkout's, so that a busy machine slows both alike.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from classify_speed import machine, write_video

WIDTH, HEIGHT, FPS = 1920, 1080, 30


def long_video(seconds: int, size: tuple[int, int] = (WIDTH, HEIGHT), fps: int = FPS) -> Path:
    """A cached `seconds`-long H.264 video with five figures moving across a textured background."""
    width, height = size
    path = Path(tempfile.gettempdir()) / f"dancestyle-long-{seconds}s-{width}x{height}-{fps}fps.mp4"
    if path.is_file():
        return path
    rng = np.random.default_rng(0)
    background = np.repeat(np.repeat(rng.integers(40, 120, (height // 8, width // 8, 3), dtype=np.uint8), 8, 0), 8, 1)
    figure_w, figure_h = width // 24, height // 3

    def frames():
        for i in range(seconds * fps):
            image = background.copy()
            for dancer in range(5):
                x = int(width * (0.08 + 0.18 * dancer) + width * 0.05 * np.sin(i / 15 + dancer))
                y = int(height * 0.35 + height * 0.05 * np.cos(i / 11 + dancer))
                image[y:y + figure_h, x:x + figure_w] = (200, 180 - 30 * dancer, 150)
                image[y - figure_h // 5:y, x + figure_w // 5:x + 4 * figure_w // 5] = (230, 200, 180)
            yield image

    partial = path.with_suffix(".partial.mp4")
    write_video(partial, frames(), fps, options={"preset": "veryfast"})
    partial.rename(path)  # a run stopped while encoding leaves no half video under the final name
    return path


def decode_only(video: str, model: str) -> None:
    """The floor, run as its own process: decode `video` as classify decodes it for `model`, nothing else."""
    from dancestyle.configs import default_config
    from dancestyle.geometry import DEFAULT_DETECTOR_SIZE
    from dancestyle.video import iter_sampled_frames, sample_interval

    interval = sample_interval(default_config(model).stride)
    samples = sum(1 for _ in iter_sampled_frames(Path(video), interval, DEFAULT_DETECTOR_SIZE))
    print(json.dumps({"samples": samples}))


def decode_every_frame(video: Path) -> float:
    """Seconds to decode every frame (threaded, no conversion): what any player pays."""
    import av

    started = time.perf_counter()
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for _ in container.decode(stream):
            pass
    return time.perf_counter() - started


def whole_process(command: list[str], repeat: int, checkout: Path | None = None) -> tuple[float, str]:
    """Median wall time of a whole process (importing dancestyle from `checkout`, default the installed one), and its
    last run's standard output."""
    environment = {**os.environ, "PYTHONPATH": str(checkout)} if checkout else None
    times, output = [], ""
    for _ in range(repeat):
        started = time.perf_counter()
        output = subprocess.run(command, check=True, capture_output=True, text=True, env=environment).stdout
        times.append(time.perf_counter() - started)
    return statistics.median(times), output


def classify_with_split(arguments: list[str]) -> None:
    """`dancestyle classify ARGUMENTS` in this process, the classification's split printed last to stdout."""
    from dancestyle import cli, pipeline

    splits = []
    classify = pipeline.DanceStylePipeline.classify

    def recorded(self, *args, **kwargs):
        prediction = classify(self, *args, **kwargs)
        splits.append({**prediction.timings, "total": prediction.seconds})
        return prediction

    pipeline.DanceStylePipeline.classify = recorded
    sys.argv = ["dancestyle", "classify", *arguments]
    try:
        cli.main()
    except SystemExit as end:
        if end.code:
            raise
    print(json.dumps({"split": splits[-1]}))


def model_row(video: Path, model: str, repeat: int, checkout: Path | None, duration: int | None, name: str,
              device: str = "cpu") -> str:
    """One table row: `model`'s decode-only floor and whole classify process (from `checkout`, the networks on
    `device`), and its split."""
    floor, output = whole_process([sys.executable, __file__, "--decode-only", str(video), model], repeat, checkout)
    samples = json.loads(output)["samples"]
    classify = [sys.executable, __file__, "--classify", str(video), "--random-weights", "--timeline", "--json",
                "--model", model, "--device", device]
    whole, output = whole_process(classify, repeat, checkout)
    split = json.loads(output.splitlines()[-1])["split"]
    real_time = f"{whole / duration:.3f}x" if duration else ""
    label = f"{model} ({name})" if name else model
    return (f"| {label} | {samples} | {floor:.1f} | {whole:.1f} | {whole / floor:.2f}x | {real_time} | "
            f"{split['decode']:.1f} | {split['pose']:.1f} | {split['rgb']:.1f} | {split['model']:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=120, help="length of the generated video")
    parser.add_argument("--repeat", type=int, default=1, help="whole-process runs per measurement (median)")
    parser.add_argument("--models", default="lstm,tcn", help="comma-separated models")
    parser.add_argument("--video", type=Path, help="time this video instead of the generated one")
    parser.add_argument("--baseline", type=Path, help="another checkout of the project, timed in the same run")
    parser.add_argument("--device", default="cpu", help="classify's --device (cuda: the GPU path; decoding and "
                        "the floor stay on the CPU)")
    parser.add_argument("--decode-only", nargs=2, metavar=("VIDEO", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--classify", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.decode_only:
        return decode_only(*args.decode_only)
    if args.classify:
        return classify_with_split(args.classify)

    video = args.video or long_video(args.seconds)
    duration = args.seconds if args.video is None else None
    load = os.getloadavg()
    print(f"Machine: {machine()}\nDate: {datetime.datetime.now():%Y-%m-%d %H:%M}, load average at start "
          f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}\nVideo: {video.name}\n")
    print(f"Decoding every frame (no conversion): {decode_every_frame(video):.1f} s\n")
    print("| model | samples | decode-only s | whole process s | / decode-only | / duration | decode wait s | "
          "pose s | RGB s | sequence s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    checkouts = {"this": None, "baseline": args.baseline.resolve()} if args.baseline else {"this": None}
    for model in args.models.split(","):
        for name, checkout in checkouts.items():
            print(model_row(video, model, args.repeat, checkout, duration, name if args.baseline else "",
                            args.device), flush=True)
    print("\nGoals (issue 29, 2 cores): lstm <= 2x its decode-only floor; tcn <= 0.3x real time.")


if __name__ == "__main__":
    main()
