"""Does `dancestyle watch` keep up with a live source? A clip is played into `watch -` at real time and the
reports are timed.

    python benchmarks/watch_realtime.py [--seconds 60] [--models lstm] [--hop 2] [--pose rtmpose-s]

A generated 640x360 30 fps H.264 clip (moving figures, as classify_speed.py makes) is remuxed to Matroska and
written to the standard input of `python -m dancestyle watch - --random-weights --json` packet by packet, each
when its timestamp comes due, as a camera or a live stream would deliver it. For each model it reports the
windows, the samples `watch` dropped to keep up (0 means it kept up), and the latency of each report: when its
line arrived after the window's last sampled instant was played (median and worst).

Random weights: with them the RTMPose stand-ins run in onnxruntime as the real weights do (exported once to ONNX;
with `onnx` installed, else as torch modules, slower), so a run that keeps up here keeps up with real weights too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from classify_speed import make_clip  # noqa: E402  (a sibling script)


def play_live(clip: Path, sink, started: list[float]) -> None:
    """Remux `clip` to Matroska into `sink`, each packet when its timestamp comes due (started[0]: the wall
    clock of timestamp 0)."""
    import av

    with av.open(str(clip)) as source, av.open(sink, "w", format="matroska") as live:
        stream = source.streams.video[0]
        out = live.add_stream_from_template(stream)
        started.append(time.monotonic())
        for packet in source.demux(stream):
            if packet.dts is None:
                continue
            due = started[0] + float(packet.pts * packet.time_base)
            time.sleep(max(0.0, due - time.monotonic()))
            packet.stream = out
            live.mux(packet)
            sink.flush()
    sink.close()


def watch_live(clip: Path, model: str, hop: float, pose: str) -> dict:
    command = [sys.executable, "-m", "dancestyle", "watch", "-", "--random-weights", "--json", "--model", model,
               "--hop", str(hop), "--pose", pose]
    process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    time.sleep(8)  # let it import and build the networks before the "camera" starts
    started: list[float] = []
    player = threading.Thread(target=play_live, args=(clip, process.stdin, started))
    player.start()
    reports = []
    for line in process.stdout:
        reports.append((json.loads(line), time.monotonic()))
    player.join()
    summary = process.stderr.read().decode()
    process.wait()
    from dancestyle.configs import default_config
    from dancestyle.video import sample_interval

    # a window's end is one sampling interval after its last instant, which is shown (and decodable) at that instant
    interval = float(sample_interval(default_config(model).stride))
    latencies = [arrived - started[0] - (record["end"] - interval) for record, arrived in reports]
    seen = re.search(r"window\(s\) from (\d+) sampled", summary)
    dropped = re.search(r"(\d+) of \d+ sampled frames were dropped", summary)
    return {"model": model, "windows": len(reports), "samples": int(seen.group(1)) if seen else 0,
            "dropped": int(dropped.group(1)) if dropped else 0,
            "latency_median": statistics.median(latencies), "latency_max": max(latencies)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--models", default="lstm")
    parser.add_argument("--hop", type=float, default=2.0)
    parser.add_argument("--pose", default="rtmpose-s")
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; a {args.seconds} s 640x360 "
          f"30 fps clip played live into `watch -`, hop {args.hop:g} s, pose {args.pose}, random weights\n")
    print("| model | windows | samples dropped | report latency, median | worst |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        clip = make_clip(Path(folder) / "live.mp4", seconds=args.seconds)
        for model in args.models.split(","):
            row = watch_live(clip, model, args.hop, args.pose)
            print(f"| {model} | {row['windows']} | {row['dropped']} of {row['samples']} | "
                  f"{row['latency_median']:.2f} s | "
                  f"{row['latency_max']:.2f} s |", flush=True)


if __name__ == "__main__":
    main()
