"""How much slower `dancestyle classify` gets when other programs keep the CPU busy, with the thread budget and with
each library's own threads, in the same run.

    python benchmarks/busy_machine.py [--busy 0,1,2] [--repeat 3] [--size 640x360]

Each figure is a median over runs of `python -m dancestyle classify CLIP --random-weights --json` on a generated
10 s H.264 clip (classify_speed.py's; 640x360 unless --size) while 0, 1 or 2 other processes spin on the CPU
(`python -c "while True: pass"`, started before and killed after): the whole process's wall time (what a user
waits for: startup is most of it) and the classification's own time as the process reports it (JSON "seconds":
decode, pose, RGB and sequence model, where the threads matter). The settings take turns run by run, so a drift in
the machine's speed touches each alike:
- budget: the default (dancestyle/cores.py: the cores this process may use, shared between decoding and the
  networks, waiting workers asleep or spinning briefly, the networks on fewer threads while other programs keep
  cores busy);
- every core: DANCESTYLE_THREADS=<the cores available> (the same budget, with the networks on every core
  whatever the load: the default before 2026-12-08);
- libraries' defaults: DANCESTYLE_THREADS=0 (PyAV, torch and onnxruntime each take a thread per core and spin),
  the behaviour before the budget.
OMP_*, GOMP_* and DANCESTYLE_THREADS are removed from the children's environment so both start alike.
The goal (issue 29, 2 cores): with one busy process, classify takes at most 1.5x its idle time.
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

from classify_speed import machine, make_clip

BUDGET, EVERY_CORE, DEFAULTS = "budget", "every core", "libraries' defaults"


def settings() -> dict[str, dict[str, str]]:
    """Each setting's environment for the classify processes."""
    from dancestyle.cores import available_cores

    return {BUDGET: {}, EVERY_CORE: {"DANCESTYLE_THREADS": str(available_cores())},
            DEFAULTS: {"DANCESTYLE_THREADS": "0"}}
SPIN = "while True: pass"


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any thread setting, plus `extra`."""
    keep = {name: value for name, value in os.environ.items()
            if not name.startswith(("OMP_", "GOMP_")) and name != "DANCESTYLE_THREADS"}
    return {**keep, **extra}


def classify_seconds(clip: Path, extra: dict[str, str]) -> tuple[float, float]:
    """One whole `classify` process: its wall time, and the classification's own time (its JSON "seconds")."""
    command = [sys.executable, "-m", "dancestyle", "classify", str(clip), "--random-weights", "--json"]
    started = time.perf_counter()
    result = subprocess.run(command, check=True, env=child_environment(extra), capture_output=True, text=True)
    whole = time.perf_counter() - started
    return whole, json.loads(result.stdout.splitlines()[0])["seconds"]


def medians_while_busy(clip: Path, busy: int, repeat: int) -> dict[str, tuple[float, float]]:
    """Each setting's median (whole process, classification) over `repeat` runs, the settings taking turns,
    while `busy` spinning processes run."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
    try:
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in settings()}
        for _ in range(repeat):
            for name, extra in settings().items():
                runs[name].append(classify_seconds(clip, extra))
        return {name: (statistics.median(run[0] for run in values), statistics.median(run[1] for run in values))
                for name, values in runs.items()}
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def table_rows(busy: int, seconds: dict[str, tuple[float, float]], idle: dict[str, tuple[float, float]]):
    """A markdown row per setting: its medians, each against the same setting's idle figure."""
    for name, (whole, classification) in seconds.items():
        idle_whole, idle_classification = idle[name]
        yield (f"| {busy} | {name} | {whole:.2f} | {whole / idle_whole:.2f}x | {classification:.2f} | "
               f"{classification / idle_classification:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", default="0,1,2", help="comma-separated counts of competing busy processes")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each setting per count (median)")
    parser.add_argument("--size", default="640x360", help="the generated clip's WIDTHxHEIGHT")
    args = parser.parse_args()
    counts = sorted({0, *(int(count) for count in args.busy.split(","))})  # idle first: the others compare to it
    width, height = (int(side) for side in args.size.split("x"))

    from dancestyle.cores import available_cores

    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "clip.mp4", size=(width, height))
        started = datetime.datetime.now(datetime.timezone.utc)
        print(f"Machine: {machine()}; {available_cores()} cores available to this process\n"
              f"Date: {started:%Y-%m-%d %H:%M} UTC; load average before: {os.getloadavg()[0]:.2f}\n"
              f"Clip: generated 10 s {width}x{height} H.264, 30 fps; medians of {args.repeat} runs\n")
        print("| busy processes | threads | whole process s | x idle | classification s | x idle |")
        print("|---|---|---|---|---|---|")
        idle: dict[str, tuple[float, float]] = {}
        for busy in counts:
            seconds = medians_while_busy(clip, busy, args.repeat)
            idle = idle or seconds
            print("\n".join(table_rows(busy, seconds, idle)), flush=True)
        print(f"\nLoad average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
