"""Do frame folders and videos of the same 1920x1080 pictures give the same flow features? (issue 30)

    python benchmarks/flow_frames_vs_video.py [--seconds 4] [--quality 90] [--crf 20] [--seed 0]

Let's Dance ships JPEG frames, mostly 1920x1080; a user's video of the same dance is H.264. Training reads the
frames through PIL (JPEG draft-mode decoding at 1/2-1/8 scale, PIL's bilinear resize, RGB -> grey: extract.py's
folder_flow), classify reads videos through swscale's luma (video.py's _flow_grey). This renders a few seconds of
1920x1080, 30 fps moving textured content (a panning textured background, textured shapes on their own paths,
a little sensor noise), writes it as JPEG frames (--quality) and as videos (H.264 yuv420p at --crf, and lossless
H.264 of the same yuv420p pictures), and computes the flow features (flow.py, default settings) through the
product's own paths: extract.clip_samples on a frame-folder clip and on a video clip, as training's cache does.
A reference feeds the rendered pictures themselves to the same MotionStacks (no codec, cv2's grey at the flow
size), so each path's own share of the difference shows, and the same reference with another draw of the
sensor noise (sigma 2 grey levels) says how much flow moves for a change nobody would call a difference.

Printed per pair of paths: the mean absolute difference of the features (which lie in [-1, 1]), that relative to
the features' scale (the mean absolute value of the first path's), the cosine similarity of each sample's stack
(median and lowest), and the mean grey level of the first frame at the flow size as each path sees it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from datetime import date
from fractions import Fraction
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

SIZE = (1920, 1080)
FPS = 30


def texture(rng, shape: tuple[int, int], sigmas: tuple[float, ...]) -> np.ndarray:
    """Grey texture in 0..1 with structure at each blur scale (px), so some of it survives a shrink to 96 px."""
    import cv2

    layers = [cv2.GaussianBlur(rng.random(shape, np.float32), (0, 0), sigma) for sigma in sigmas]
    mixed = sum((layer - layer.mean()) / (layer.std() + 1e-6) for layer in layers)
    return np.clip(0.5 + 0.18 * mixed / len(layers) ** 0.5, 0, 1).astype(np.float32)


class Scene:
    """A panning textured background and a few textured ellipses, each on a path of its own (sub-pixel)."""

    def __init__(self, seed: int, shapes: int = 5, noise_seed: int | None = None) -> None:
        rng = np.random.default_rng(seed)
        width, height = SIZE
        self.pad = 120
        grey = texture(rng, (height + 2 * self.pad, width + 2 * self.pad), (2.0, 8.0, 24.0))
        self.background = (grey[..., None] * rng.uniform(120, 230, 3)).astype(np.float32)
        self.shapes = []
        for _ in range(shapes):
            rx, ry = rng.uniform(60, 160), rng.uniform(120, 300)  # upright, like people
            box = (int(2 * ry) + 4, int(2 * rx) + 4)
            yy, xx = np.mgrid[:box[0], :box[1]]
            mask = ((xx - box[1] / 2) / rx) ** 2 + ((yy - box[0] / 2) / ry) ** 2 <= 1
            colour = rng.uniform(40, 255, 3)
            fill = texture(rng, box, (1.5, 6.0))[..., None] * colour
            ax, ay = rng.uniform(80, 400), rng.uniform(20, 120)  # amplitude x, y, px: the shape stays in frame
            cx = rng.uniform(box[1] / 2 + ax + 2, width - box[1] / 2 - ax - 2)
            cy = rng.uniform(box[0] / 2 + ay + 2, height - box[0] / 2 - ay - 2)
            path = (cx, cy, ax, ay, rng.uniform(0.3, 1.5), rng.uniform(0, 2 * np.pi))  # cycles a second, phase
            self.shapes.append((fill.astype(np.float32), mask.astype(np.float32), path))
        self.noise = np.random.default_rng(seed + 1 if noise_seed is None else noise_seed)

    def frame(self, number: int) -> np.ndarray:
        """(1080, 1920, 3) uint8 RGB at frame `number`."""
        import cv2

        t = number / FPS
        width, height = SIZE
        pan = (40 * np.sin(0.4 * t), 15 * np.sin(0.3 * t))  # a slow camera, 0-2 px a frame
        shift = np.float32([[1, 0, -self.pad + pan[0]], [0, 1, -self.pad + pan[1]]])
        image = cv2.warpAffine(self.background, shift, (width, height), flags=cv2.INTER_LINEAR)
        for fill, mask, (cx, cy, ax, ay, rate, phase) in self.shapes:
            x = cx + ax * np.sin(2 * np.pi * rate * t + phase) - fill.shape[1] / 2
            y = cy + ay * np.sin(4 * np.pi * rate * t + phase) - fill.shape[0] / 2
            left, top = int(np.floor(x)), int(np.floor(y))
            sub = np.float32([[1, 0, x - left], [0, 1, y - top]])
            size = (fill.shape[1], fill.shape[0])
            moved = cv2.warpAffine(fill, sub, size, flags=cv2.INTER_LINEAR)
            alpha = cv2.warpAffine(mask, sub, size, flags=cv2.INTER_LINEAR)[..., None]
            region = image[top:top + size[1], left:left + size[0]]
            region[:] = region * (1 - alpha) + moved * alpha
        image += self.noise.normal(0, 2.0, image.shape[:2]).astype(np.float32)[..., None]  # sensor noise
        return np.clip(image, 0, 255).astype(np.uint8)


def write_inputs(scene: Scene, frames: int, folder: Path, quality: int, crf: int
                 ) -> tuple[list[Path], dict[str, Path], list[np.ndarray]]:
    """(the frames as JPEGs in Let's Dance's naming, {name: video of them}, the rendered pictures)."""
    from PIL import Image

    from classify_speed import write_video

    paths, pictures = [], []
    for number in range(frames):
        image = scene.frame(number)
        pictures.append(image)
        path = folder / f"synthetic_001_{number + 1:04d}.jpg"
        Image.fromarray(image).save(path, "JPEG", quality=quality)
        paths.append(path)
    videos = {f"H.264 crf {crf}": write_video(folder / "crf.mp4", pictures, FPS, options={"crf": str(crf)}),
              "H.264 lossless": write_video(folder / "lossless.mp4", pictures, FPS, options={"qp": "0"})}
    return paths, videos, pictures


def reference_stacks(pictures: list[np.ndarray], settings, interval: Fraction) -> np.ndarray:
    """The rendered pictures' own flow: no codec, cv2's RGB -> grey and area shrink (flow.to_grey)."""
    from dancestyle.flow import MotionStacks, to_grey

    stacks = MotionStacks(settings, interval, slack=Fraction(1, 8 * FPS))
    done = []
    for number, picture in enumerate(pictures):
        done += stacks.push(Fraction(number, FPS), lambda p=picture: to_grey(p, settings.size))
    done += stacks.finish(Fraction(len(pictures), FPS))
    return np.stack([stack for _, stack in sorted(done, key=lambda item: item[0])])


def product_stacks(clip, settings) -> tuple[np.ndarray, float]:
    """(the clip's flow stacks as training's cache makes them, seconds taken)."""
    from dancestyle.extract import clip_samples
    from dancestyle.geometry import CACHE_STRIDE, DEFAULT_DETECTOR_SIZE

    started = time.perf_counter()
    samples = clip_samples(clip, DEFAULT_DETECTOR_SIZE, settings, images=False, stride=CACHE_STRIDE)
    return np.stack([sample.flow for sample in samples]), time.perf_counter() - started


def first_grey(paths: list[Path], video: Path, picture: np.ndarray, size: int) -> dict[str, float]:
    """The mean grey level of the first frame at the flow size, as each path makes it."""
    import av

    from dancestyle.extract import load_frame
    from dancestyle.flow import to_grey
    from dancestyle.video import _flow_grey, _reformatter

    with av.open(str(video)) as container:
        decoded = next(container.decode(video=0))
        luma = _flow_grey(decoded, size, _reformatter())
    return {"reference": float(to_grey(picture, size).mean()),
            "JPEG frames": float(to_grey(load_frame(paths[0], size), size).mean()), "video luma": float(luma.mean())}


def compare(name: str, a: np.ndarray, b: np.ndarray) -> str:
    n = min(len(a), len(b))
    a, b = a[:n].reshape(n, -1).astype(np.float64), b[:n].reshape(n, -1).astype(np.float64)
    difference = np.abs(a - b).mean()
    cosines = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1) + 1e-12)
    return (f"| {name} | {n} | {difference:.4f} | {difference / (np.abs(a).mean() + 1e-12):.1%} | "
            f"{np.median(cosines):.3f} | {cosines.min():.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the frames (Let's Dance: ~90)")
    parser.add_argument("--crf", type=int, default=20, help="H.264 quality of the video (lower is better)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from dancestyle.data import Clip
    from dancestyle.flow import DEFAULT_FLOW
    from dancestyle.geometry import CACHE_STRIDE
    from dancestyle.video import sample_interval

    frames = args.seconds * FPS
    print(f"{date.today()}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
          f"{frames} frames of {SIZE[0]}x{SIZE[1]} at {FPS} fps, JPEG quality {args.quality}; flow settings "
          f"{DEFAULT_FLOW.to_dict()}\n", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        paths, videos, pictures = write_inputs(Scene(args.seed), frames, Path(scratch), args.quality, args.crf)
        reference = reference_stacks(pictures, DEFAULT_FLOW, sample_interval(CACHE_STRIDE))
        redrawn = Scene(args.seed, noise_seed=args.seed + 1000)  # the same scene, another draw of sensor noise
        floor = reference_stacks([redrawn.frame(n) for n in range(frames)], DEFAULT_FLOW, sample_interval(CACHE_STRIDE))
        folder = Clip("synthetic", "synthetic", "001", frames=paths, frame_numbers=list(range(1, frames + 1)))
        made = {"JPEG frames": product_stacks(folder, DEFAULT_FLOW)}
        for name, video in videos.items():
            made[name] = product_stacks(Clip("synthetic", "synthetic", "001", video=video), DEFAULT_FLOW)
        greys = first_grey(paths, videos["H.264 lossless"], pictures[0], DEFAULT_FLOW.size)
    print("| path | samples | seconds | mean abs of the features |\n|---|---|---|---|")
    print(f"| reference (rendered pictures) | {len(reference)} | - | {np.abs(reference).mean():.4f} |")
    for name, (stacks, seconds) in made.items():
        print(f"| {name} | {len(stacks)} | {seconds:.1f} | {np.abs(stacks).mean():.4f} |")
    print("\n| compared (a vs b) | samples | mean abs difference | relative to a's scale | cosine, median | "
          "cosine, lowest |\n|---|---|---|---|---|---|")
    crf = next(iter(videos))
    pairs = [("JPEG frames", crf), ("JPEG frames", "H.264 lossless"), ("H.264 lossless", crf)]
    for a, b in pairs:
        print(compare(f"{a} vs {b}", made[a][0], made[b][0]))
    for name in made:
        print(compare(f"reference vs {name}", reference, made[name][0]))
    print(compare("reference vs itself with other sensor noise (the floor)", reference, floor))
    print("\nFirst frame's mean grey at the flow size: "
          + ", ".join(f"{name} {value:.1f}" for name, value in greys.items()))


if __name__ == "__main__":
    main()
