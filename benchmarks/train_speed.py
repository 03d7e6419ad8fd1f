"""Feature extraction frames per second and seconds per training epoch, on CPU (and CUDA when present).

    python benchmarks/train_speed.py [--devices cpu,cuda] [--clips 800]

- extraction: ResNet-18 (256 x 256) and the default pose backend (640 x 360 frames) in frames per second, batched
  as `dancestyle train` batches them; reading Let's Dance skeleton JSON files in frames per second. Random weights
  (nothing can be downloaded here): speed does not depend on the weights' values; a random pose backend reports 5
  people per frame, and runs its stand-in networks in onnxruntime as the real weights run (with `onnx` installed;
  without it, as torch modules, about twice as slow).
- training: seconds per epoch of each model, both streams, on a Let's-Dance-sized training set (`--clips`
  clips of 10 s, every 5th frame cached, as `train` holds them in memory); the paper's batch sizes.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def frames_per_second(run, frames: int, repeat: int = 3) -> float:
    run()  # warm-up
    started = time.perf_counter()
    for _ in range(repeat):
        run()
    return frames * repeat / (time.perf_counter() - started)


def extraction(device: str) -> dict[str, float]:
    from dancestyle.maker import build_rgb_backbone
    from dancestyle.recipe import RANDOM_RGB
    from dancestyle.pose import DEFAULT_POSE, create_pose_estimator

    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 256, (360, 640, 3), dtype=np.uint8) for _ in range(32)]
    backbone = build_rgb_backbone(RANDOM_RGB, device)
    estimator = create_pose_estimator(DEFAULT_POSE, device, random_weights=True)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)

    def rgb():
        with torch.inference_mode():
            backbone(frames)
        sync()

    def pose():
        estimator.estimate(frames[:8])
        sync()

    return {"rgb": frames_per_second(rgb, len(frames)), "pose estimator": frames_per_second(pose, 8, repeat=1)}


def json_poses() -> float:
    from dancestyle.pose import KEYPOINT_NAMES, read_letsdance_pose

    with tempfile.TemporaryDirectory() as folder:
        person = ["person0"] + [[name, [float(i), float(i)]] for i, name in enumerate(KEYPOINT_NAMES)]
        paths = []
        for i in range(200):
            path = Path(folder) / f"x_001_{i:04d}.json"
            path.write_text(json.dumps([person, person, person]))
            paths.append(path)
        return frames_per_second(lambda: [read_letsdance_pose(p) for p in paths], len(paths))


def epoch_seconds(model: str, device: str, clips: int) -> float:
    from dancestyle.models import DanceClassifier, default_config
    from dancestyle.optimizers import sequence_optimizer
    from dancestyle.train import Sequences, _epoch

    rng = np.random.default_rng(0)
    features = [{"rgb": rng.standard_normal((61, 512)).astype(np.float16),
                 "pose": rng.uniform(-1, 1, (61, 20, 2, 17)).astype(np.float32)} for _ in range(clips)]
    train_set = Sequences(features, rng.integers(0, 10, clips))
    config = default_config(model)
    classifier = DanceClassifier(config).to(device)
    optimizer = sequence_optimizer(classifier)  # what training uses
    _epoch(classifier, optimizer, train_set, 0, 1, device)  # warm-up
    started = time.perf_counter()
    _epoch(classifier, optimizer, train_set, 0, 2, device)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", default="cpu,cuda")
    parser.add_argument("--clips", type=int, default=800, help="training clips (Let's Dance 10 classes: ~800)")
    args = parser.parse_args()

    from classify_speed import machine

    from dancestyle.models import available_models

    devices = [d for d in args.devices.split(",") if d == "cpu" or torch.cuda.is_available()]
    print(f"Machine: {machine()}\n")
    print(f"Skeleton JSON reading: {json_poses():.0f} frames/s\n")
    print("| device | RGB frames/s | pose estimator frames/s | " +
          " | ".join(f"{m} s/epoch" for m in available_models()) + " |")
    print("|---|---|---|" + "---|" * len(available_models()))
    for device in devices:
        speeds = extraction(device)
        epochs = [epoch_seconds(m, device, args.clips) for m in available_models()]
        print(f"| {device} | {speeds['rgb']:.1f} | {speeds['pose estimator']:.2f} | " +
              " | ".join(f"{s:.2f}" for s in epochs) + " |")


if __name__ == "__main__":
    main()
