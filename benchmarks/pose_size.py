"""Keypoint R-CNN's input size: seconds per frame against keypoint quality, to choose `--detector-size`.

    python benchmarks/pose_size.py [--clip PATH] [--sizes 384,512,640,800] [--frames 5] [--people 3]

Speed: seconds per frame at each short side. The detector's cost is its backbone (which grows with the image) plus
the keypoint head, which runs once per kept person; `--people` fixes how many boxes the head sees so that random
and trained weights cost the same.
Quality (only with the real COCO_V1 weights in torch's cache, i.e. after one online run, and a real clip with
people): agreement of each size's keypoints with those found at 800 px (torchvision's default), as the share of
keypoints within 5% of the person's box diagonal (PCK@0.05) for people matched by box overlap.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def sample_frames(clip: Path, count: int) -> list[np.ndarray]:
    from dancestyle.video import iter_sampled_frames, sample_interval

    return [frame.image for frame, _ in zip(iter_sampled_frames(clip, sample_interval(60)), range(count))]


def build(size: int, random_weights: bool, people: int | None):
    from dancestyle.pose.rcnn import KeypointRCNNEstimator

    estimator = KeypointRCNNEstimator("cpu", min_size=size, random_weights=random_weights,
                                      score_threshold=0.0 if people else 0.7)
    if people:  # keep exactly `people` boxes per frame, whatever the weights
        estimator.model.roi_heads.detections_per_img = people
    return estimator


def pck(reference: np.ndarray, other: np.ndarray, threshold: float = 0.05) -> float | None:
    """Share of keypoints within threshold * box diagonal, people matched greedily by nearest centre."""
    if len(reference) == 0 or len(other) == 0:
        return None
    hits = total = 0
    for person in reference:
        diagonal = np.linalg.norm(person.max(0) - person.min(0)) or 1.0
        nearest = other[np.argmin([np.linalg.norm(p.mean(0) - person.mean(0)) for p in other])]
        hits += int((np.linalg.norm(nearest - person, axis=1) < threshold * diagonal).sum())
        total += len(person)
    return hits / total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path)
    parser.add_argument("--sizes", default="384,512,640,800")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--people", type=int, default=3, help="boxes per frame for the speed test")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]

    from dancestyle.errors import WeightsError

    with tempfile.TemporaryDirectory() as folder:
        if args.clip is None:
            from classify_speed import make_clip

            args.clip = make_clip(Path(folder) / "clip.mp4", size=(1280, 720))
        frames = sample_frames(args.clip, args.frames)
        print(f"{len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, torch threads "
              f"{torch.get_num_threads()}, {args.people} people per frame\n")
        print("| short side | s / frame |\n|---|---|")
        for size in sizes:
            estimator = build(size, random_weights=True, people=args.people)
            estimator.estimate(frames[:1])  # warm-up
            started = time.perf_counter()
            for frame in frames:
                estimator.estimate([frame])
            print(f"| {size} | {(time.perf_counter() - started) / len(frames):.2f} |")

        try:
            trained = {size: build(size, random_weights=False, people=None) for size in sizes}
        except WeightsError as e:
            print(f"\nQuality not measured: {e.message}")
            return
        reference = trained[max(sizes)]
        print(f"\n| short side | PCK@0.05 vs {max(sizes)} px | people found |\n|---|---|---|")
        for size in sizes:
            scores, found = [], 0
            for frame in frames:
                ours, theirs = trained[size].estimate([frame])[0], reference.estimate([frame])[0]
                found += len(ours)
                if (score := pck(theirs, ours)) is not None:
                    scores.append(score)
            mean = f"{np.mean(scores):.3f}" if scores else "n/a (nobody found)"
            print(f"| {size} | {mean} | {found} |")


if __name__ == "__main__":
    main()
