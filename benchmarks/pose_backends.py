"""The pose backends side by side on the same frames: seconds per frame with 1, 5 and 20 people, and (once the real
weights are cached) keypoint agreement with Keypoint R-CNN at 800 px.

    pip install '.[bench]'      # onnx, so the random stand-in networks run in onnxruntime
    python benchmarks/pose_backends.py [--clip PATH] [--people 1,5,20] [--frames 10] [--repeat 3] [--device cpu]
    python benchmarks/pose_backends.py --batching [--people 1,5,20]   # batched calls against one call each
    python benchmarks/pose_backends.py --detector-share [--people 1,2,5,20]   # what detecting every frame costs

Speed, random weights (nothing can be downloaded on the machines this project is built on): every backend is
made to see exactly N people per frame, so the per-person part of its cost (RTMPose's crops, R-CNN's keypoint
head) is what a scene with N dancers costs. rtmpose-t/-s run the way users run them: onnxruntime on ONNX files,
here the stand-in networks with the published architecture (dancestyle/pose/rtm_networks.py), exported once to
ONNX as `--random-weights` exports them (kept under DANCESTYLE_HOME/standins). rcnn runs
with the tuned settings `classify` uses and, for the trade, with torchvision's defaults (1000 RPN proposals).
Frames are the size `classify` reads (short side at most 512 px); a frame's time is the median of --repeat runs
over --frames frames, in batches of 5 (one `lstm` window).

Quality (only with the real weights in their caches, i.e. after one online run, and a real clip with people):
PCK@0.05 of each backend's keypoints against Keypoint R-CNN at 800 px with torchvision's defaults — the share of
keypoints within 5% of the person's box diagonal, people matched by nearest centre.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

BATCH = 5


def sample_frames(clip: Path, count: int, short_side: int = 512) -> list[np.ndarray]:
    from dancestyle.video import iter_sampled_frames, sample_interval

    frames = iter_sampled_frames(clip, sample_interval(10), max_short_side=short_side)
    return [frame.image for frame, _ in zip(frames, range(count))]


def rtmpose_stand_in(variant: str, people: int, device: str):
    """RTMPoseEstimator over the random stand-ins, run by onnxruntime as the real files are."""
    from dancestyle.pose.rtmpose import RTMPoseEstimator

    estimator = RTMPoseEstimator(variant, device, random_weights=True, random_people=people)
    if estimator.torch_stand_ins:
        raise SystemExit("The stand-ins would run as torch modules, not as the real weights run: pip install onnx.")
    return estimator


def rcnn(people: int | None, device: str, frame_size: int = 512, tuned: bool = True):
    """Keypoint R-CNN; people=None: trained weights (as found), else random weights keeping `people` boxes."""
    from dancestyle.pose.rcnn import KeypointRCNNEstimator

    estimator = KeypointRCNNEstimator(device, min_size=frame_size, random_weights=people is not None,
                                      random_people=people or 0)
    if not tuned:  # torchvision's defaults
        estimator.model.rpn._pre_nms_top_n["testing"] = estimator.model.rpn._post_nms_top_n["testing"] = 1000
    return estimator


def seconds_per_frame(estimator, frames: list[np.ndarray], repeat: int) -> float:
    estimator.estimate(frames[:BATCH])  # warm-up: allocations, kernel choice
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        for start in range(0, len(frames), BATCH):
            estimator.estimate(frames[start:start + BATCH])
        times.append((time.perf_counter() - started) / len(frames))
    return statistics.median(times)


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


def speed_table(frames: list[np.ndarray], people_counts: list[int], repeat: int, device: str) -> None:
    print("| backend | " + " | ".join(f"{n} people s/frame" for n in people_counts) + " |")
    print("|---|" + "---|" * len(people_counts))
    builders = {
        "rtmpose-t (onnxruntime)": lambda n: rtmpose_stand_in("t", n, device),
        "rtmpose-s (onnxruntime)": lambda n: rtmpose_stand_in("s", n, device),
        "rcnn 512 px, tuned (300/100 proposals)": lambda n: rcnn(n, device),
        "rcnn 512 px, torchvision defaults (1000/1000)": lambda n: rcnn(n, device, tuned=False),
    }
    for name, build in builders.items():
        cells = [f"{seconds_per_frame(build(n), frames, repeat):.3f}" for n in people_counts]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


def wall_and_cpu_per_frame(estimator, frames: list[np.ndarray], method: str = "estimate") -> tuple[float, float]:
    """One pass of estimator.`method` over the frames in batches of BATCH: wall and process CPU seconds per frame.
    CPU time barely moves when other programs take the cores, so it compares two ways of running on a busy machine."""
    run = getattr(estimator, method)
    wall, cpu = time.perf_counter(), time.process_time()
    for start in range(0, len(frames), BATCH):
        run(frames[start:start + BATCH])
    return (time.perf_counter() - wall) / len(frames), (time.process_time() - cpu) / len(frames)


def batching_table(frames: list[np.ndarray], people_counts: list[int], repeat: int, device: str) -> None:
    """rtmpose-t/-s as `estimate` runs them (the detector once per BATCH frames, the crops POSE_BATCH a call) against
    one call per frame and per person's crop (what a static batch-1 export gets), alternated in the same run."""
    print("| backend, people | batched: wall s/frame, CPU s/frame | one call each: wall, CPU | ratio wall, CPU |")
    print("|---|---|---|---|")
    for variant in ("t", "s"):
        for people in people_counts:
            batched, one_by_one = rtmpose_stand_in(variant, people, device), rtmpose_stand_in(variant, people, device)
            one_by_one.detector.batchable = one_by_one.pose.batchable = False
            runs = {batched: [], one_by_one: []}
            for estimator in runs:
                estimator.estimate(frames[:BATCH])  # warm-up
            for _ in range(repeat):  # alternated, so that a busy machine slows both alike
                for estimator, times in runs.items():
                    times.append(wall_and_cpu_per_frame(estimator, frames))
            (fast_wall, fast_cpu), (slow_wall, slow_cpu) = (
                (statistics.median(t[0] for t in times), statistics.median(t[1] for t in times))
                for times in runs.values())
            print(f"| rtmpose-{variant}, {people} | {fast_wall:.4f}, {fast_cpu:.4f} | {slow_wall:.4f}, "
                  f"{slow_cpu:.4f} | {fast_wall / slow_wall:.2f}, {fast_cpu / slow_cpu:.2f} |", flush=True)


def detector_share_table(frames: list[np.ndarray], people_counts: list[int], repeat: int, device: str) -> None:
    """rtmpose-t/-s: the person detector's part of a frame's pose time (letterbox, network, boxes: `detect_all`)
    against the whole `estimate`, alternated in the same run: the most that detecting every k-th sample and
    carrying the boxes between detections could save."""
    print("| backend, people | estimate: wall s/frame, CPU s/frame | detector alone: wall, CPU | detector's share "
          "(CPU) |\n|---|---|---|---|")
    for variant in ("t", "s"):
        for people in people_counts:
            estimator = rtmpose_stand_in(variant, people, device)
            estimator.estimate(frames[:BATCH])  # warm-up
            runs: dict[str, list[tuple[float, float]]] = {"estimate": [], "detect_all": []}
            for _ in range(repeat):
                for method, times in runs.items():
                    times.append(wall_and_cpu_per_frame(estimator, frames, method))
            (whole_wall, whole_cpu), (detector_wall, detector_cpu) = (
                (statistics.median(t[0] for t in times), statistics.median(t[1] for t in times))
                for times in runs.values())
            print(f"| rtmpose-{variant}, {people} | {whole_wall:.4f}, {whole_cpu:.4f} | {detector_wall:.4f}, "
                  f"{detector_cpu:.4f} | {detector_cpu / whole_cpu:.0%} |", flush=True)


def quality_table(frames: list[np.ndarray], device: str) -> None:
    from dancestyle.errors import WeightsError
    from dancestyle.pose import create_pose_estimator

    try:
        reference = rcnn(None, device, frame_size=800, tuned=False)
        backends = {name: create_pose_estimator(name, device) for name in ("rtmpose-t", "rtmpose-s")}
        backends["rcnn (512 px, tuned)"] = rcnn(None, device)
    except WeightsError as e:
        print(f"\nQuality not measured: {e.message}")
        return
    print("\n| backend | PCK@0.05 vs rcnn 800 px defaults | people found | reference people |\n|---|---|---|---|")
    truth = [reference.estimate([frame])[0] for frame in frames]
    for name, estimator in backends.items():
        found = [estimator.estimate([frame])[0] for frame in frames]
        scores = [s for ours, theirs in zip(found, truth) if (s := pck(theirs, ours)) is not None]
        mean = f"{np.mean(scores):.3f}" if scores else "n/a (nobody found)"
        print(f"| {name} | {mean} | {sum(map(len, found))} | {sum(map(len, truth))} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path, help="a video (default: a generated 10 s 640x360 clip)")
    parser.add_argument("--people", default="1,5,20")
    parser.add_argument("--frames", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batching", action="store_true",
                        help="only rtmpose batched against one call per frame and crop (same run)")
    parser.add_argument("--detector-share", action="store_true",
                        help="only rtmpose's person detector against its whole pose estimate (same run)")
    args = parser.parse_args()
    from classify_speed import machine, make_clip

    with tempfile.TemporaryDirectory() as folder:
        clip = args.clip or make_clip(Path(folder) / "clip.mp4")
        frames = sample_frames(clip, args.frames)
        print(f"Machine: {machine()}\n{len(frames)} frames of {frames[0].shape[1]}x{frames[0].shape[0]}, "
              f"device {args.device}\n")
        people = [int(n) for n in args.people.split(",")]
        if args.batching:
            return batching_table(frames, people, args.repeat, args.device)
        if args.detector_share:
            return detector_share_table(frames, people, args.repeat, args.device)
        speed_table(frames, people, args.repeat, args.device)
        quality_table(frames, args.device)


if __name__ == "__main__":
    main()
