"""Training throughput (clips per second) in one process and under torchrun with several, on the same cores.

    python benchmarks/train_processes.py --data DATASET [--models lstm,tcn] [--streams pose] [--epochs 10]
                                         [--processes 1,2] [--device cpu]

Each row is a whole `dancestyle train` run (features already cached: run one `dancestyle train` on DATASET
first) for --epochs epochs with early stopping off, alone on the machine: one process given every core
(OMP_NUM_THREADS = cores), or N processes under `torchrun --standalone --nproc-per-node N` given cores / N threads
each (gloo on CPU, NCCL with --device cuda, one GPU per process). Throughput is training clips x epochs over the
seconds the epochs took (metrics.json: validation included, start-up not), so it counts what a longer run gains.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path


def run(data: Path, model: str, streams: str, epochs: int, processes: int, device: str, out: Path) -> float:
    """Clips per second of one training run."""
    threads = max(1, (os.cpu_count() or 1) // processes) if device == "cpu" else 1
    command = ["-m", "dancestyle", "train", "--model", model, "--data", str(data), "--streams", streams,
               "--epochs", str(epochs), "--patience", str(epochs), "--device", device, "--out", str(out),
               "--json"]
    launcher = [sys.executable] if processes == 1 else [
        shutil.which("torchrun") or str(Path(sys.executable).with_name("torchrun")), "--standalone",
        "--nproc-per-node", str(processes)]
    result = subprocess.run([*launcher, *command], capture_output=True, text=True, check=True,
                            env={**os.environ, "OMP_NUM_THREADS": str(threads)})
    summary = json.loads(result.stdout)
    seconds = sum(record["seconds"] for record in summary["history"])
    return summary["clips"]["train"] * len(summary["history"]) / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--models", default="lstm,tcn")
    parser.add_argument("--streams", default="pose")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--processes", default="1,2")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    counts = [int(n) for n in args.processes.split(",")]
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, device {args.device}; "
          f"--streams {args.streams}, {args.epochs} epochs; training clips per second\n")
    print("| model | " + " | ".join(f"{n} process{'es' if n > 1 else ''}" for n in counts) + " |")
    print("|---|" + "---|" * len(counts))
    with tempfile.TemporaryDirectory() as folder:
        for model in args.models.split(","):
            rates = [run(args.data, model, args.streams, args.epochs, n, args.device,
                         Path(folder) / f"{model}-{n}") for n in counts]
            ratios = [f"{rate:.0f} ({rate / rates[0]:.2f}x)" for rate in rates]
            print(f"| {model} | " + " | ".join(ratios) + " |", flush=True)


if __name__ == "__main__":
    main()
