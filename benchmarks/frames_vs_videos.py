"""Does `classify` on video files see what training saw in frame folders? Accuracy of one checkpoint on a
dataset's test clips, scored two ways: `evaluate` on the frame folders, and `classify` on the same clips written
as video files (lossless FFV1, and H.264 at --crf as a user's videos would be).

    python benchmarks/frames_vs_videos.py --weights RUN [--data DATASET] [--crf 18] [--limit N]

Meant for checkpoints whose streams come from pixels (flow, rgb): a pose stream would compare a pose backend
with the dataset's skeleton files instead. The videos are written to a temporary folder and deleted.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", required=True, help="a checkpoint directory")
    parser.add_argument("--data", help="the dataset (default: the one the checkpoint was trained on)")
    parser.add_argument("--crf", type=int, default=18, help="H.264 quality (lower is better; 18 looks lossless)")
    parser.add_argument("--limit", type=int, help="only the first N test clips")
    args = parser.parse_args()

    from PIL import Image

    from classify_speed import write_video
    from dancestyle.checkpoints import read_checkpoint
    from dancestyle.data import index_dataset
    from dancestyle.splits import load_or_make_splits
    from dancestyle.evaluate import evaluate_run
    from dancestyle.pipeline import load_model

    config, _ = read_checkpoint(Path(args.weights))
    data = args.data or config["training"]["dataset"]
    model = config["model"]["name"]
    evaluated = evaluate_run(args.weights, model, data, "test")
    index = index_dataset(data, config["model"]["classes"])
    clips = index.clips_for(load_or_make_splits(index.root, index)["test"])[: args.limit]
    truth = {clip.key: clip.label for clip in clips}
    from_frames = {p.path.split(" ")[0]: p.label for p in evaluated.predictions if p.path.split(" ")[0] in truth}
    pipeline = load_model(model, weights=args.weights, device="cpu")
    codecs = {"FFV1 (lossless)": ("ffv1", "bgr0", {}, ".mkv"),
              f"H.264 crf {args.crf}": ("libx264", "yuv420p", {"crf": str(args.crf)}, ".mp4")}
    print(f"{model} {config['model']['streams']} from {args.weights}, {len(clips)} test clips of {data}\n")
    print("| input | accuracy | same label as evaluate |\n|---|---|---|")
    frames_right = sum(from_frames[key] == label for key, label in truth.items())
    print(f"| frame folders (`evaluate`) | {100 * frames_right / len(clips):.1f}% | — |")
    with tempfile.TemporaryDirectory() as scratch:
        for name, (codec, pix_fmt, options, suffix) in codecs.items():
            right = same = 0
            for number, clip in enumerate(clips):
                images = (np.array(Image.open(frame).convert("RGB")) for frame in clip.frames)
                video = write_video(Path(scratch) / f"{number}{suffix}", images, clip.frame_rate, codec, pix_fmt,
                                    options)
                label = pipeline.classify(video).label
                right += label == clip.label
                same += label == from_frames[clip.key]
                video.unlink()
            print(f"| video files, {name} (`classify`) | {100 * right / len(clips):.1f}% | "
                  f"{100 * same / len(clips):.1f}% |", flush=True)


if __name__ == "__main__":
    main()
