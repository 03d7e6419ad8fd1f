"""Does reading 1080p JPEG frames (training) or 1080p H.264 (classify) move a flow checkpoint's ACCURACY? (issue 30)

    python benchmarks/flow_accuracy_frames_vs_video.py RUN [--split val] [--clips 40] [--size 1440x1080]
        [--quality 90] [--crf 20] [--preset medium] [--seed 0]

RUN is a finished `dancestyle train` folder whose streams include flow, trained on a frame-folder dataset (the
synthetic corpus: 160x120 JPEG frames). flow_frames_vs_video.py measured that the two paths' flow features differ
by ~1.3x a sensor-noise floor at 1920x1080; this asks whether that difference changes predictions. It picks
--clips clips of --split, spread over the styles (deterministic with --seed), upscales each clip's frames to
--size (cv2 INTER_CUBIC; the corpus is 4:3, Let's Dance is 16:9 at 1920x1080), and writes them to a temporary
folder as (a) a JPEG frame folder at --quality and (b) an H.264 yuv420p video at --crf and the clip's frame rate
(the corpus: 30 fps), x264 --preset (its default, medium, as flow_frames_vs_video.py; veryfast writes a clip in
about a third of the time, and writing is most of a clip's time). Each clip's flow is
then computed through the product's own cache path (extract.Extractor, with the run's flow settings): the frame
folder through PIL (extract.folder_flow), the video through swscale (video.iter_sampled_frames), as training's
cache and `classify` compute it. Every other stream (pose) is the run's cached features of the clip, unchanged,
so only flow differs. The checkpoint scores each clip three ways: flow from the cache (the native frames, what
the run was trained and validated on), from the 1080p frames, and from the 1080p video.

Printed: machine, date, the command and settings; per clip, the seconds spent writing it, computing its flow from
the frames and from the video, and each way's number of samples; per way, the accuracy (correct / clips), how many
clips' predicted style agrees with the cache way, the mean absolute difference of the class probabilities from it,
and of the flow features (which lie in [-1, 1]); then the frames way against the video way: predicted styles that
agree, the mean and largest absolute difference of the probabilities, and of the flow features.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

WAYS = ("cache (native frames)", "1080p JPEG frames", "1080p H.264 video")


def pick_clips(keys: list[str], count: int, seed: int) -> list[str]:
    """`count` of the split's clip keys ("style/clip"), spread over the styles: each style's clips in a seeded
    order, taken round-robin over the styles (themselves in a seeded order, so a small count does not always
    favour the first styles alphabetically). Deterministic for a seed, whatever order `keys` come in."""
    rng = np.random.default_rng(seed)
    by_style: dict[str, list[str]] = defaultdict(list)
    for key in sorted(keys):
        by_style[key.split("/", 1)[0]].append(key)
    styles = [sorted(by_style)[i] for i in rng.permutation(len(by_style))]
    queues = {style: [by_style[style][i] for i in rng.permutation(len(by_style[style]))] for style in styles}
    picked: list[str] = []
    while len(picked) < count and any(queues.values()):
        for style in styles:
            if queues[style] and len(picked) < count:
                picked.append(queues[style].pop(0))
    return picked


def parse_size(text: str) -> tuple[int, int]:
    """"1440x1080" -> (1440, 1080)."""
    width, height = (int(part) for part in text.lower().split("x"))
    return width, height


def upscaled_frames(clip, size: tuple[int, int]):
    """(frame number, source file, its picture at `size`, RGB uint8), one per number from the clip's first to its
    last: a missing frame is stood in for by the one before it, so a video keeps the folder's timing (as
    extract.sample_positions stands in for it)."""
    import cv2
    from PIL import Image

    by_number = dict(zip(clip.frame_numbers, clip.frames))
    path = clip.frames[0]
    for number in range(clip.frame_numbers[0], clip.frame_numbers[-1] + 1):
        path = by_number.get(number, path)
        with Image.open(path) as image:
            pixels = np.asarray(image.convert("RGB"))
        yield number, path, cv2.resize(pixels, size, interpolation=cv2.INTER_CUBIC)


def write_clip(clip, folder: Path, size: tuple[int, int], quality: int, crf: int, preset: str):
    """(the clip as a frame folder of `size` JPEGs under the clip's own names, the clip as an H.264 video): both
    made from the same upscaled pictures in one pass (a 10 s clip's would be ~1.4 GB in memory), the video at the
    clip's own frame rate (the corpus: 30 fps)."""
    from PIL import Image

    from classify_speed import write_video
    from dancestyle.data import Clip

    folder.mkdir(parents=True)
    written: dict[int, Path] = {}
    present = set(clip.frame_numbers)

    def pictures():
        for number, source, image in upscaled_frames(clip, size):
            if number in present and number not in written:
                written[number] = folder / Path(source).name
                Image.fromarray(image).save(written[number], "JPEG", quality=quality)
            yield image

    video = write_video(folder / "clip.mp4", pictures(), clip.frame_rate, options={"crf": str(crf), "preset": preset})
    numbers = sorted(written)
    frames = Clip(clip.label, clip.youtube_id, clip.clip_id, frames=[written[n] for n in numbers],
                  frame_numbers=numbers, frame_rate=clip.frame_rate)
    return frames, Clip(clip.label, clip.youtube_id, clip.clip_id, video=video)


def flow_of(extractor, spec, clip) -> tuple[np.ndarray, float]:
    """(the clip's flow stream as training's cache makes it, seconds taken)."""
    import torch

    started = time.perf_counter()
    with torch.inference_mode():
        flow = extractor.features(clip, {"flow": spec})["flow"]
    return flow, time.perf_counter() - started


def same_length(features: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The streams cut to their shortest (a video path that yields one sample fewer or more than the folder's
    would otherwise fail the model's concatenation); how often it happens is printed."""
    steps = min(len(array) for array in features.values())
    return {stream: array[:steps] for stream, array in features.items()}


def load_run(run: Path, split: str):
    """(classifier, index, recipe as trained, feature set as trained, the split's keys)."""
    from dancestyle.checkpoints import load_classifier, read_checkpoint
    from dancestyle.data import index_dataset
    from dancestyle.evaluate import evaluation_pose_source
    from dancestyle.extract import extract_features
    from dancestyle.recipe import FeatureRecipe
    from dancestyle.splits import load_or_make_splits

    config, state_dict = read_checkpoint(run)
    classifier = load_classifier(config, state_dict, run)
    if "flow" not in classifier.config.streams:
        sys.exit(f"{run}: streams {classifier.config.streams} have no flow; nothing to compare.")
    index = index_dataset(Path(config["training"]["dataset"]), classifier.config.classes)
    if index.layout != "letsdance":
        sys.exit(f"{index.root}: a folder of videos; this compares frame folders with videos.")
    recipe = FeatureRecipe.from_checkpoint(config)
    recipe = replace(recipe, pose=evaluation_pose_source(recipe, index.layout, None, None))
    keys = load_or_make_splits(index.root, index)[split]
    features = extract_features(index, recipe, "cpu", clips=index.clips_for(keys))  # made if missing
    return classifier, index, recipe, features, keys


def flow_difference(a: list[dict[str, np.ndarray]], b: list[dict[str, np.ndarray]]) -> float:
    """The mean absolute difference of two ways' flow features, over all clips' samples alike."""
    total = count = 0
    for one, other in zip(a, b):
        steps = min(len(one["flow"]), len(other["flow"]))
        difference = np.abs(one["flow"][:steps].astype(np.float32) - other["flow"][:steps].astype(np.float32))
        total, count = total + difference.sum(), count + difference.size
    return float(total / max(count, 1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("run", type=Path, help="a finished `dancestyle train` folder with a flow stream")
    parser.add_argument("--split", default="val", choices=("train", "val", "test"))
    parser.add_argument("--clips", type=int, default=40)
    parser.add_argument("--size", default="1440x1080", help="WxH of the upscaled frames (the corpus is 4:3)")
    parser.add_argument("--quality", type=int, default=90, help="JPEG quality of the frames (Let's Dance: ~90)")
    parser.add_argument("--crf", type=int, default=20, help="H.264 quality of the video (lower is better)")
    parser.add_argument("--preset", default="medium", help="x264 preset of the video (x264's default: medium)")
    parser.add_argument("--seed", type=int, default=0, help="which clips")
    args = parser.parse_args()
    size = parse_size(args.size)

    from dancestyle.extract import Extractor
    from dancestyle.windows import clip_probabilities

    classifier, index, recipe, features, keys = load_run(args.run, args.split)
    chosen = index.clips_for(pick_clips(keys, args.clips, args.seed))
    print(f"{datetime.now():%Y-%m-%d %H:%M}, {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}\n"
          f"$ python {shlex.join(sys.argv)}\n"
          f"run {args.run} ({classifier.config.name}, streams {','.join(classifier.config.streams)}), "
          f"dataset {index.root}, {args.split} split: {len(chosen)} of {len(keys)} clips "
          f"({len({clip.label for clip in chosen})} styles); frames upscaled to {size[0]}x{size[1]} (INTER_CUBIC), "
          f"JPEG quality {args.quality}, H.264 yuv420p crf {args.crf} preset {args.preset}; flow settings "
          f"{recipe.flow.to_dict()}\n", flush=True)

    extractor, spec = Extractor(recipe), features.specs["flow"]
    ways: dict[str, list] = {way: [] for way in WAYS}
    seconds, cut = [], 0
    print("| clip | style | write s | frames flow s | video flow s | samples (cache/frames/video) |\n"
          "|---|---|---|---|---|---|", flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        for number, clip in enumerate(chosen):
            started = time.perf_counter()
            frames_clip, video_clip = write_clip(clip, Path(scratch) / str(number), size, args.quality, args.crf,
                                                 args.preset)
            written = time.perf_counter() - started
            cached = features.load(clip)
            from_frames, frames_seconds = flow_of(extractor, spec, frames_clip)
            from_video, video_seconds = flow_of(extractor, spec, video_clip)
            lengths = (len(cached["flow"]), len(from_frames), len(from_video))
            cut += len(set(lengths)) > 1
            for way, flow in zip(WAYS, (cached["flow"], from_frames, from_video)):
                ways[way].append(same_length({**cached, "flow": flow}))  # pose (and any other stream) as cached
            seconds.append((written, frames_seconds, video_seconds))
            print(f"| {clip.key} | {clip.label} | {written:.1f} | {frames_seconds:.1f} | {video_seconds:.1f} | "
                  f"{'/'.join(map(str, lengths))} |", flush=True)
            for path in frames_clip.frames + [video_clip.video]:  # keep the scratch folder small on a long run
                path.unlink()

    labels = np.array([classifier.config.classes.index(clip.label) for clip in chosen])
    probabilities = {way: clip_probabilities(classifier, clips, "cpu") for way, clips in ways.items()}
    write, frames_flow, video_flow = np.mean(seconds, axis=0)
    print(f"\nSeconds per clip (means): writing {write:.1f}, flow from the frames {frames_flow:.1f}, from the video "
          f"{video_flow:.1f}. {cut} clips had streams of different lengths, cut to the shortest.\n"
          f"\n| flow from | accuracy | agrees with cache | mean abs difference from cache: probabilities | "
          f"flow features |\n|---|---|---|---|---|")
    cache = probabilities[WAYS[0]]
    for way, result in probabilities.items():
        correct = int((result.argmax(1) == labels).sum())
        agree = int((result.argmax(1) == cache.argmax(1)).sum())
        print(f"| {way} | {correct}/{len(labels)} ({correct / max(len(labels), 1):.1%}) | {agree}/{len(labels)} | "
              f"{np.abs(result - cache).mean():.5f} | {flow_difference(ways[WAYS[0]], ways[way]):.4f} |")
    frames, video = probabilities[WAYS[1]], probabilities[WAYS[2]]
    agree = int((frames.argmax(1) == video.argmax(1)).sum())
    print(f"\n| compared | predicted style agrees | mean abs probability difference | largest | "
          f"mean abs flow difference |\n|---|---|---|---|---|\n"
          f"| {WAYS[1]} vs {WAYS[2]} | {agree}/{len(labels)} | {np.abs(frames - video).mean():.5f} "
          f"| {np.abs(frames - video).max():.5f} | {flow_difference(ways[WAYS[1]], ways[WAYS[2]]):.4f} |")


if __name__ == "__main__":
    main()
