"""Startup: how long `dancestyle --version`, `--help` and `classify CLIP --random-weights` take as whole processes,
and where a classify's time goes before its first frame is processed.

    python benchmarks/startup.py [--clip PATH] [--repeat 5] [--baseline DIR]

--baseline DIR: another checkout of the project (e.g. `git worktree add /tmp/before HEAD~1`), timed in the same run,
interleaved with this one, so that a busy machine slows both alike; ratios are this checkout's time over the
baseline's. Each checkout runs with this interpreter and `python -m dancestyle` from its own folder (its own package
comes first on sys.path).

The breakdown runs one classify with an import hook that stamps, in seconds since the process was started: the CLI
imported (typer, rich), torch and onnxruntime imported, the models loaded, the first frame decoded (in the decoding
thread), the first frames' features made, and the end of classify.
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

ROOT = Path(__file__).resolve().parent.parent
T0_ENV = "DANCESTYLE_STARTUP_T0"  # the parent's time.monotonic() just before it started the process (system-wide)


def commands(clip: Path) -> dict[str, list[str]]:
    return {"--version": ["--version"], "--help": ["--help"],
            "classify --random-weights": ["classify", str(clip), "--random-weights"]}


def whole_process(checkout: Path, arguments: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "dancestyle", *arguments], cwd=checkout, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def timing_table(checkouts: dict[str, Path], clip: Path, repeat: int) -> None:
    """Median whole-process seconds of each command in each checkout, runs interleaved (a,b,a,b,...)."""
    names = list(checkouts)
    print("| command | " + " | ".join(f"{name} (s, median of {repeat})" for name in names)
          + (" | ratio |" if len(names) == 2 else " |"))
    print("|---|" + "---|" * (len(names) + (len(names) == 2)))
    for label, arguments in commands(clip).items():
        times = {name: [] for name in names}
        for _ in range(repeat):
            for name in names:
                times[name].append(whole_process(checkouts[name], arguments))
        medians = [statistics.median(times[name]) for name in names]
        ratio = f" | {medians[0] / medians[1]:.2f} |" if len(names) == 2 else " |"
        print(f"| {label} | " + " | ".join(f"{m:.2f}" for m in medians) + ratio, flush=True)


def breakdown(checkout: Path, clip: Path) -> list[tuple[str, float]]:
    """One classify with stamps (see the module's notes), as (event, seconds since the process started)."""
    environment = dict(os.environ, **{T0_ENV: repr(time.monotonic())})
    result = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--probe", str(clip)], cwd=checkout,
                            env=environment, check=True, capture_output=True, text=True)
    ended = time.monotonic() - float(environment[T0_ENV])
    stamps = json.loads(result.stdout.strip().splitlines()[-1])
    return [*stamps, ("process ended", ended)]


def breakdown_table(checkouts: dict[str, Path], clip: Path, repeat: int) -> None:
    """Median seconds to each event over `repeat` classify runs per checkout, interleaved; rows in time order."""
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in checkouts}
    for _ in range(repeat):
        for name, path in checkouts.items():
            for event, seconds in breakdown(path, clip):
                samples[name].setdefault(event, []).append(seconds)
    runs = {name: {event: statistics.median(times) for event, times in events.items()}
            for name, events in samples.items()}
    events = sorted({event for run in runs.values() for event in run},
                    key=lambda event: min(run.get(event, float("inf")) for run in runs.values()))
    print(f"\n| event (classify, seconds since the process started, median of {repeat}) | " + " | ".join(runs) + " |")
    print("|---|" + "---|" * len(runs))
    for event in events:
        cells = [f"{run[event]:.2f}" if event in run else "-" for run in runs.values()]
        print(f"| {event} | " + " | ".join(cells) + " |")


# -- the probe: runs inside the classify process ------------------------------------------------------------------

STAMPED_IMPORTS = {"dancestyle.cli": "CLI imported (typer, rich)", "torch": "torch imported",
                   "onnxruntime": "onnxruntime imported", "av": "PyAV imported", "cv2": "OpenCV imported",
                   "torchvision": "torchvision imported", "dancestyle.pipeline": "dancestyle.pipeline imported"}


def probe(clip: str) -> None:
    """Run `dancestyle classify CLIP --random-weights` here with stamps; print them as JSON on the last line."""
    import importlib.abc
    import importlib.machinery
    import threading

    t0 = float(os.environ[T0_ENV])
    stamps: list[tuple[str, float]] = [("interpreter ready", time.monotonic() - t0)]
    lock = threading.Lock()

    def stamp(event: str) -> None:
        with lock:
            if event not in dict(stamps):
                stamps.append((event, time.monotonic() - t0))

    def wrap_first(owner, name: str, event: str) -> None:
        """Stamp the first return (or, for a generator, the first item) of owner.name."""
        function = getattr(owner, name)

        def wrapped(*args, **kwargs):
            result = function(*args, **kwargs)
            if hasattr(result, "__next__"):
                return _stamped_items(result, event, stamp)
            stamp(event)
            return result

        setattr(owner, name, wrapped)

    def patch(module_name: str, module) -> None:
        if module_name == "dancestyle.video":
            wrap_first(module, "_sampled_frames", "first frame decoded")
        elif module_name == "dancestyle.pipeline":
            wrap_first(module, "load_model", "models loaded")
            wrap_first(module.DanceStylePipeline, "_frame_features", "first frames' features made")
            wrap_first(module.DanceStylePipeline, "classify", "classify done")

    class Stamper(importlib.abc.MetaPathFinder):
        def find_spec(self, fullname, path, target=None):
            if fullname not in STAMPED_IMPORTS and fullname not in ("dancestyle.video",):
                return None
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is None or spec.loader is None:
                return spec
            execute = spec.loader.exec_module

            def exec_module(module):
                execute(module)
                patch(fullname, module)
                if fullname in STAMPED_IMPORTS:
                    stamp(STAMPED_IMPORTS[fullname])

            spec.loader.exec_module = exec_module
            return spec

    sys.meta_path.insert(0, Stamper())
    sys.argv = ["dancestyle", "classify", clip, "--random-weights"]
    sys.path.insert(0, os.getcwd())
    try:
        from dancestyle.cli import main

        main()
    except SystemExit:
        pass
    stamp("CLI done")
    print(json.dumps(sorted(stamps, key=lambda item: item[1])))


def _stamped_items(items, event, stamp):
    for item in items:
        stamp(event)
        yield item


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line), "?")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return f"{os.cpu_count()} CPU cores ({cpu}), load average {load}, Python {sys.version.split()[0]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path, help="a video (default: a generated 10 s 640x360 clip)")
    parser.add_argument("--repeat", type=int, default=5, help="whole-process runs per command (median)")
    parser.add_argument("--baseline", type=Path, help="another checkout to time in the same run")
    parser.add_argument("--probe", help=argparse.SUPPRESS)  # the breakdown's own process
    args = parser.parse_args()
    if args.probe:
        return probe(args.probe)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from classify_speed import make_clip

    checkouts = {"this checkout": ROOT}
    if args.baseline:
        checkouts["baseline"] = args.baseline.resolve()
    print(f"Machine: {machine()}\nDate: {datetime.date.today()}\n")
    with tempfile.TemporaryDirectory() as folder:
        clip = args.clip or make_clip(Path(folder) / "clip.mp4")
        timing_table(checkouts, clip, args.repeat)
        breakdown_table(checkouts, clip, args.repeat)


if __name__ == "__main__":
    main()
