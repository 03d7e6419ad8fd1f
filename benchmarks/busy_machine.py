"""How much slower `dancestyle classify` gets when other programs keep the CPU busy, with the thread budget and with
each library's own threads, in the same run.

    python benchmarks/busy_machine.py [--busy 0,1,2] [--repeat 3]

Each figure is the median wall time of a whole process, `python -m dancestyle classify CLIP --random-weights --json`
on a generated 10 s 640x360 H.264 clip (classify_speed.py's), while 0, 1 or 2 other processes spin on the CPU
(`python -c "while True: pass"`, started before and killed after). Two settings take turns run by run, so a drift
in the machine's speed touches both alike:
- budget: the default (dancestyle/cores.py: the cores this process may use, shared between decoding and the
  networks, waiting workers asleep);
- libraries' defaults: DANCESTYLE_THREADS=0 (PyAV, torch and onnxruntime each take a thread per core and spin),
  the behaviour before the budget.
OMP_* variables and DANCESTYLE_THREADS are removed from the children's environment so both start alike.
The goal (issue 29, 2 cores): with one busy process, classify takes at most 1.5x its idle time.
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from classify_speed import machine, make_clip

BUDGET, DEFAULTS = "budget", "libraries' defaults"
SETTINGS = {BUDGET: {}, DEFAULTS: {"DANCESTYLE_THREADS": "0"}}
SPIN = "while True: pass"


def child_environment(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment without any thread setting, plus `extra`."""
    keep = {name: value for name, value in os.environ.items()
            if not name.startswith("OMP_") and name != "DANCESTYLE_THREADS"}
    return {**keep, **extra}


def classify_seconds(clip: Path, extra: dict[str, str]) -> float:
    """Wall time of one whole `classify` process."""
    command = [sys.executable, "-m", "dancestyle", "classify", str(clip), "--random-weights", "--json"]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=child_environment(extra), stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def medians_while_busy(clip: Path, busy: int, repeat: int) -> dict[str, float]:
    """Each setting's median over `repeat` runs (taking turns) while `busy` spinning processes run."""
    spinners = [subprocess.Popen([sys.executable, "-c", SPIN]) for _ in range(busy)]
    try:
        times: dict[str, list[float]] = {name: [] for name in SETTINGS}
        for _ in range(repeat):
            for name, extra in SETTINGS.items():
                times[name].append(classify_seconds(clip, extra))
        return {name: statistics.median(values) for name, values in times.items()}
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def table_row(busy: int, seconds: dict[str, float], idle: dict[str, float]) -> str:
    """One markdown row: each setting's median, and how it compares with its own idle time (where measured)."""
    def versus_idle(name: str) -> str:
        return f"{seconds[name] / idle[name]:.2f}x" if idle else ""

    budget, defaults = seconds[BUDGET], seconds[DEFAULTS]
    return (f"| {busy} | {budget:.2f} | {versus_idle(BUDGET)} | {defaults:.2f} | {versus_idle(DEFAULTS)} | "
            f"{budget / defaults:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--busy", default="0,1,2", help="comma-separated counts of competing busy processes")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each setting per count (median)")
    args = parser.parse_args()
    counts = [int(count) for count in args.busy.split(",")]

    from dancestyle.cores import available_cores

    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "clip.mp4")
        started = datetime.datetime.now(datetime.timezone.utc)
        print(f"Machine: {machine()}; {available_cores()} cores available to this process\n"
              f"Date: {started:%Y-%m-%d %H:%M} UTC; load average before: {os.getloadavg()[0]:.2f}\n"
              f"Clip: generated 10 s 640x360 H.264, 30 fps; whole process, median of {args.repeat}\n")
        print("| busy processes | budget s | x its idle | libraries' defaults s | x its idle | budget / defaults |")
        print("|---|---|---|---|---|---|")
        idle: dict[str, float] = {}
        for busy in counts:
            seconds = medians_while_busy(clip, busy, args.repeat)
            idle = idle or (seconds if busy == 0 else {})
            print(table_row(busy, seconds, idle), flush=True)
        print(f"\nLoad average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
