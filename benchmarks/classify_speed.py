"""How long `dancestyle classify` takes per 10 s clip, for each model and pose backend, against a VideoMAE-base peer.

    pip install '.[bench]'          # transformers, for the VideoMAE peer
    python benchmarks/classify_speed.py [--clip PATH] [--devices cpu,cuda] [--poses rtmpose-s,rcnn] [--repeat N]
                                        [--folder 20]

For each model, pose backend and device it reports:
- whole process: wall time of `python -m dancestyle classify CLIP --random-weights --json --pose P` (import,
  model build, decode, pose, RGB, sequence model, output) — what a user waits for;
- the in-process split of one classification into decode (time spent waiting for decoded frames, which are
  decoded ahead in a thread) / pose / RGB / sequence model (models already loaded).
The peer is a whole-process VideoMAE-base video classification of the same clip (transformers, 16 frames at
224 x 224, random weights: speed does not depend on the weights' values), measured in the same run.
--folder N: the default model and backend over a folder of N copies of the clip, as seconds per clip after the
first ((time for N - time for 1) / (N - 1)).

All networks use random weights (nothing can be downloaded here). Random pose backends report 5 people in every
frame (a realistic scene). With --random-weights the RTMPose stand-ins are exported once to ONNX and run in
onnxruntime as the real weights are (with `onnx` installed, as the bench extra does; without it they run as torch
modules, about twice as slow, and classify says so).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_video(path: Path, images, fps: int = 30, codec: str = "libx264", pix_fmt: str = "yuv420p",
                options: dict | None = None) -> Path:
    """Encode RGB images (H, W, 3) uint8, any iterable, into `path` (the container follows the suffix)."""
    import av

    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=fps)
    stream.pix_fmt, stream.options = pix_fmt, options or {}
    for number, image in enumerate(images):
        if number == 0:
            stream.height, stream.width = image.shape[:2]
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return path


def make_clip(path: Path, seconds: int = 10, fps: int = 30, size: tuple[int, int] = (640, 360)) -> Path:
    """A 10 s 640x360 H.264 clip with moving figures on a textured background."""
    width, height = size
    rng = np.random.default_rng(0)
    background = rng.integers(40, 120, (height, width, 3), dtype=np.uint8)

    def frames():
        for i in range(seconds * fps):
            image = background.copy()
            for dancer in range(3):
                x = int(width * (0.2 + 0.3 * dancer) + 40 * np.sin(i / 10 + dancer))
                y = int(height * 0.25 + 10 * np.cos(i / 7))
                image[y:y + 150, x:x + 40] = (200, 180 - 50 * dancer, 150)
                image[y - 30:y, x + 8:x + 32] = (230, 200, 180)
            yield image

    return write_video(path, frames(), fps)


def wall_seconds(command: list[str], repeat: int) -> float:
    """Median wall time of a whole process."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def videomae_classify(clip: str) -> None:
    """The peer: VideoMAE-base on 16 frames sampled uniformly over the clip (run as its own process)."""
    import av
    import torch
    from transformers import VideoMAEConfig, VideoMAEForVideoClassification

    torch.manual_seed(0)
    model = VideoMAEForVideoClassification(VideoMAEConfig(num_labels=10)).eval()
    with av.open(clip) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    picks = np.linspace(0, len(frames) - 1, 16).round().astype(int)
    video = torch.from_numpy(np.stack([frames[i] for i in picks])).permute(0, 3, 1, 2).float() / 255
    video = torch.nn.functional.interpolate(video, size=(224, 224), mode="bilinear", antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    with torch.inference_mode():
        logits = model(pixel_values=((video - mean) / std).unsqueeze(0)).logits
    print(json.dumps({"label": int(logits.argmax())}))


def split_times(model: str, device: str, clip: Path, pose: str) -> dict[str, float]:
    """One in-process classification (after a warm-up), split by stage, in a process of its own: the thread budget
    (dancestyle/cores.py) counts the cores other programs kept busy since the process started, and in this one
    that would be the whole-process runs timed before."""
    command = [sys.executable, __file__, "--split", json.dumps([model, device, str(clip), pose])]
    return json.loads(subprocess.run(command, check=True, capture_output=True, text=True).stdout)


def split_in_process(model: str, device: str, clip: str, pose: str) -> None:
    """split_times's own process: prints the split as JSON."""
    from dancestyle.pipeline import load_model

    pipeline = load_model(model, device=device, random_weights=True, pose=pose)
    pipeline.classify(clip)  # warm-up: first calls pay for allocations and kernel selection
    prediction = pipeline.classify(clip)
    print(json.dumps({**prediction.timings, "total": prediction.seconds, "frames": prediction.frames}))


def classify_command(inputs: list[Path], model: str, pose: str | None, device: str) -> list[str]:
    command = [sys.executable, "-m", "dancestyle", "classify", *map(str, inputs), "--random-weights", "--json",
               "--model", model, "--device", device]
    return command + (["--pose", pose] if pose else [])


def machine() -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if "model name" in line)
    except (OSError, StopIteration):
        pass
    gpu = f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{os.cpu_count()} CPU cores ({cpu}), torch {torch.__version__} with {torch.get_num_threads()} threads{gpu}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clip", type=Path, help="a video to time (default: a generated 10 s 640x360 clip)")
    parser.add_argument("--devices", default="cpu,cuda", help="comma-separated; cuda is skipped when absent")
    parser.add_argument("--poses", help="comma-separated pose backends (default: all)")
    parser.add_argument("--models", help="comma-separated models (default: all)")
    parser.add_argument("--repeat", type=int, default=3, help="whole-process runs per measurement (median)")
    parser.add_argument("--folder", type=int, default=20, help="clips in the folder run (0: skip it)")
    parser.add_argument("--videomae", metavar="CLIP", help=argparse.SUPPRESS)  # the peer's own process
    parser.add_argument("--split", help=argparse.SUPPRESS)  # split_times's own process: [model, device, clip, pose]
    args = parser.parse_args()
    if args.videomae:
        return videomae_classify(args.videomae)
    if args.split:
        return split_in_process(*json.loads(args.split))

    import torch

    from dancestyle.configs import available_models
    from dancestyle.pose import available_pose_backends

    devices = [d for d in args.devices.split(",") if d == "cpu" or torch.cuda.is_available()]
    models = args.models.split(",") if args.models else available_models()
    poses = args.poses.split(",") if args.poses else available_pose_backends()
    with tempfile.TemporaryDirectory() as folder:
        clip = args.clip or make_clip(Path(folder) / "clip.mp4")
        print(f"Machine: {machine()}\nClip: {clip.name if args.clip else 'generated 10 s 640x360 H.264, 30 fps'}\n")
        peer = wall_seconds([sys.executable, __file__, "--videomae", str(clip)], args.repeat)
        print("| model | pose | device | frames | whole process s | decode s | pose s | RGB s | sequence s | "
              "vs VideoMAE |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for device in devices:
            for model in models:
                for pose in poses:
                    whole = wall_seconds(classify_command([clip], model, pose, device), args.repeat)
                    split = split_times(model, device, clip, pose)
                    print(f"| {model} | {pose} | {device} | {split['frames']} | {whole:.1f} | {split['decode']:.2f} "
                          f"| {split['pose']:.2f} | {split['rgb']:.2f} | {split['model']:.3f} | {whole / peer:.2f}x |",
                          flush=True)
        print(f"| VideoMAE-base (peer) | | cpu | 16 | {peer:.1f} | | | | | 1.00x |")
        if args.folder > 1:
            copies = Path(folder) / "copies"
            copies.mkdir()
            for number in range(args.folder):
                (copies / f"clip{number:03}{clip.suffix}").symlink_to(clip.resolve())
            one = wall_seconds(classify_command([clip], "lstm", None, "cpu"), args.repeat)
            many = wall_seconds(classify_command([copies], "lstm", None, "cpu"), 1)
            print(f"\nFolder of {args.folder} clips, lstm, default pose backend, cpu: {many:.1f} s in all, "
                  f"{(many - one) / (args.folder - 1):.2f} s per clip after the first (one clip: {one:.1f} s)")


if __name__ == "__main__":
    main()
