"""Would a finished run score better with a test-time flip? Its checkpoint scored on the validation and test splits
with each `test_flip` (ModelConfig), without training again.

    python benchmarks/test_flip.py RUN [RUN ...]

A run trained with test_flip "none" chose its kept epoch without the flip, so this is a probe: a flip that wins on
validation here is then trained with (`--set test_flip=...`), where validation chooses the epoch with it.
Choose on the validation column; the test column is printed for honesty, not for choosing.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np


def split_accuracy(classifier, config: dict, side: str) -> float:
    """Accuracy % of `classifier` on one split of the dataset its checkpoint was trained on, features as trained."""
    from dancestyle.data import index_dataset
    from dancestyle.evaluate import evaluation_pose_source
    from dancestyle.extract import extract_features
    from dancestyle.recipe import FeatureRecipe
    from dancestyle.sequences import load_split
    from dancestyle.splits import load_or_make_splits
    from dancestyle.windows import clip_probabilities

    index = index_dataset(Path(config["training"]["dataset"]), classifier.config.classes)
    recipe = FeatureRecipe.from_checkpoint(config)
    recipe = replace(recipe, pose=evaluation_pose_source(recipe, index.layout, None, None))
    keys = load_or_make_splits(index.root, index)[side]
    features = extract_features(index, recipe, "cpu", clips=index.clips_for(keys))
    clips = load_split(index, features, keys, classifier.config.classes)
    probabilities = clip_probabilities(classifier, clips.features, "cpu")
    return round(100 * float((probabilities.argmax(1) == np.asarray(clips.labels)).mean()), 1)


def main() -> None:
    from dancestyle.checkpoints import load_classifier, read_checkpoint
    from dancestyle.configs import TEST_FLIPS

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    runs = parser.parse_args().runs
    print("| run | test flip | validation | test |\n|---|---|---|---|")
    for run in runs:
        config, state_dict = read_checkpoint(run)
        classifier = load_classifier(config, state_dict, run)
        for flip in TEST_FLIPS:
            classifier.config.test_flip = flip  # read at every forward pass in evaluation (models.py)
            print(f"| {run.name} | {flip} | {split_accuracy(classifier, config, 'val')} | "
                  f"{split_accuracy(classifier, config, 'test')} |", flush=True)


if __name__ == "__main__":
    main()
