"""`--recipe paper` trains as the authors' code does (run.py, run.sh): no gradient clipping, the same window every
epoch and in validation, no flips, 500 epochs at most, stride 5 for every model, run.sh's patience per model;
`--recipe ours` keeps its own."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dancestyle.augment import augment_window
from dancestyle.configs import EPOCHS, recipe
from dancestyle.train import TrainOptions, model_config, train
from dancestyle.windows import clip_windows, fixed_window, per_clip, training_window


def options(corpus, out, **changes) -> TrainOptions:
    base = dict(model="attention", data=corpus, out=out, epochs=2, patience=40, streams=["pose"], seed=3)
    return TrainOptions(**{**base, **changes})


def clip(samples: int = 61) -> dict[str, np.ndarray]:
    """A clip's cached pose features, each sample different and not left-right symmetric (a flip would show)."""
    poses = np.random.default_rng(0).uniform(-1, 1, (samples, 20, 2, 17)).astype(np.float32)
    return {"pose": poses}


@pytest.mark.parametrize(("every", "per_window", "first"), [(1, 60, 0), (12, 5, 11)])
def test_the_authors_window_is_the_same_every_time_and_never_flipped(every, per_window, first):
    features = clip()
    # run.py's range(s, 300 + s, s), frames numbered from 1: our cache's samples every - 1, 2 every - 1, ...
    expected = features["pose"][first::every][:per_window]
    for seed in range(10):
        window = training_window(features, torch.Generator().manual_seed(seed), every, per_window,
                                 random_window=False, flip=False)
        np.testing.assert_array_equal(window["pose"], expected)


def test_our_windows_move_and_flip():
    features = clip()
    windows = [training_window(features, torch.Generator().manual_seed(seed), 12, 5)["pose"] for seed in range(10)]
    assert any(not np.array_equal(window, windows[0]) for window in windows)
    assert not all(any(np.array_equal(window, features["pose"][offset::12][:5]) for offset in range(12))
                   for window in windows)  # some are flipped: no unflipped slice of the clip


def test_without_the_recipes_flip_a_flip_named_in_augment_still_flips():
    features = clip(4)
    unflipped = [augment_window(features, [], torch.Generator().manual_seed(seed), flip=False) for seed in range(8)]
    assert all(window["pose"] is features["pose"] for window in unflipped)
    named = [augment_window(features, ["mirror"], torch.Generator().manual_seed(seed), flip=False)
             for seed in range(8)]
    assert any(window["pose"] is not features["pose"] for window in named)


def test_the_paper_recipe_reads_every_5th_frame_in_every_model_and_the_texts_strides_are_a_setting():
    for model in ("lstm", "attention", "tcn"):
        assert model_config(TrainOptions(model=model, recipe="paper")).stride == 5
    assert model_config(TrainOptions(model="lstm", recipe="paper", overrides={"stride": 60})).stride == 60
    assert [model_config(TrainOptions(model=model)).stride for model in ("lstm", "attention")] == [60, 30]


@pytest.mark.parametrize("chosen", ["paper", "ours"])
def test_training_windows_gradients_and_epochs_follow_the_recipe(corpus, home, tmp_path, monkeypatch, chosen):
    import dancestyle.train as training

    windows, clipped, most = [], [], []

    def spy_window(features, generator, every, per_window, **kwargs):
        window = training_window(features, generator, every, per_window, **kwargs)
        windows.append((features["pose"][::every][:per_window], window["pose"]))
        return window

    real_clip, real_probabilities, validated = torch.nn.utils.clip_grad_norm_, training.clip_probabilities, []

    def spy_probabilities(model, clips, device, fixed=False):
        validated.append(fixed)
        return real_probabilities(model, clips, device, fixed)

    monkeypatch.setattr(training, "training_window", spy_window)
    monkeypatch.setattr(training, "clip_probabilities", spy_probabilities)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_",
                        lambda *args, **kwargs: clipped.append(1) or real_clip(*args, **kwargs))
    # the text's stride (60), so that the clips (4 s) leave offsets to draw from
    train(options(corpus, tmp_path / "run", epochs=None, patience=1, recipe=chosen, overrides={"stride": 60}),
          on_epoch=lambda record, most_epochs: most.append(most_epochs))
    per_epoch = len(windows) // len(most)
    first, second = windows[:per_epoch], windows[per_epoch:2 * per_epoch]
    same = all(np.array_equal(a[1], b[1]) for a, b in zip(first, second))
    unflipped = all(np.array_equal(fixed, window) for fixed, window in windows)
    assert (same, unflipped, bool(clipped), most[0]) == ((True, True, False, 500) if chosen == "paper" else
                                                         (False, False, True, EPOCHS))
    # every epoch's validation scores each clip on the training's fixed window (paper) or on all its windows (ours)
    assert validated == [chosen == "paper"] * len(most)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["stride"] == 60 and config["training"]["recipe"] == chosen


def test_a_paper_checkpoint_records_stride_5_for_evaluate_and_classify_and_evaluate_scores_its_fixed_window(
        corpus, home, tmp_path, monkeypatch):
    import dancestyle.windows as windows
    from dancestyle.checkpoints import read_checkpoint
    from dancestyle.configs import config_from_dict
    from dancestyle.evaluate import evaluate_run

    train(options(corpus, tmp_path / "run", model="lstm", epochs=1, recipe="paper"))
    config, _ = read_checkpoint(tmp_path / "run")
    assert config_from_dict(config["model"]).stride == 5 and recipe("paper").epochs == 500
    scored, real_per_clip = [], windows.per_clip
    monkeypatch.setattr(windows, "per_clip", lambda *args, fixed=False: scored.append(fixed) or real_per_clip(
        *args, fixed=fixed))
    assert evaluate_run(str(tmp_path / "run"), "lstm", str(corpus), "val").windows == "fixed"
    assert evaluate_run(str(tmp_path / "run"), "lstm", str(corpus), "val", windows="all").windows == "all"
    assert scored == [True, False]
    from typer.testing import CliRunner

    from dancestyle.cli import app

    command = ["evaluate", "--model", "lstm", "--weights", str(tmp_path / "run")]
    evaluated = CliRunner().invoke(app, [*command, "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["windows"] == "fixed"
    shown = CliRunner().invoke(app, [*command, "--windows", "all"])
    assert shown.exit_code == 0 and "as classify (--windows all)" in shown.stdout, shown.output


def test_fixed_scoring_reads_each_clip_once_on_the_training_window_and_all_scoring_every_window():
    from dancestyle.models import DanceClassifier, default_config

    model = DanceClassifier(default_config("lstm", streams=["pose"], stride=60))  # 12 cache samples a step, 5 steps
    features, seen = clip(130), []

    def forward(inputs, lengths):
        seen.append(inputs["pose"].numpy())
        return torch.zeros(len(lengths), 10)

    per_clip(model, [features], "cpu", forward, fixed=True)
    per_clip(model, [features], "cpu", forward)
    fixed, tiled = seen
    window = training_window(features, torch.Generator(), 12, 5, random_window=False, flip=False)
    np.testing.assert_array_equal(fixed, window["pose"][None])
    np.testing.assert_array_equal(fixed[0], features["pose"][11::12][:5])  # run.py's frames 60, 120, ... 300
    np.testing.assert_array_equal(tiled, np.stack([w["pose"] for w in clip_windows(features, 12, 5)]))
    assert len(tiled) == 3 and fixed_window(features, 12, 5)["pose"].shape[0] == 5


@pytest.mark.parametrize(("training", "windows", "expected"), [
    ({"recipe": "paper"}, None, "fixed"), ({"recipe": "ours"}, None, "all"), ({}, None, "all"),
    ({"recipe": "retired"}, None, "all"), ({"recipe": "paper"}, "all", "all"), ({"recipe": "ours"}, "fixed", "fixed")])
def test_evaluate_scores_as_the_checkpoints_recipe_validated_unless_told(training, windows, expected):
    from dancestyle.evaluate import scoring_windows

    assert scoring_windows(training, windows) == expected


def test_an_unknown_way_of_scoring_is_a_usage_error():
    from dancestyle.errors import UsageError
    from dancestyle.evaluate import scoring_windows

    with pytest.raises(UsageError, match="all or fixed"):
        scoring_windows({}, "some")


def test_the_paper_recipes_patience_is_run_shs_per_model_and_ours_one_for_all():
    paper, ours = recipe("paper"), recipe("ours")
    # run.sh: --patience=20 (lstm), 30 (attention), none for the tcn (run.py's 10); stop after 2 x patience
    assert [paper.patience_for(model) for model in ("lstm", "attention", "tcn", "frame", "r3d")] == [40, 60, 20, 20, 20]
    assert {ours.patience_for(model) for model in ("lstm", "attention", "tcn", "frame", "r3d")} == {ours.patience}


@pytest.mark.parametrize(("model", "patience", "stop", "plateau"), [("tcn", None, 20, 10), ("attention", 6, 6, 3)])
def test_training_stops_and_lowers_the_lr_with_the_models_patience_or_the_one_given(corpus, home, tmp_path, model,
                                                                                    patience, stop, plateau):
    from dancestyle.runstate import read_state

    train(options(corpus, tmp_path / "run", model=model, epochs=1, recipe="paper", patience=patience))
    state = read_state(tmp_path / "run")
    assert (state["options"]["patience"], state["scheduler"]["patience"]) == (stop, plateau)


def test_a_step_without_clipping_moves_by_the_whole_gradient():
    from dancestyle.optimizers import MAX_GRAD_NORM, optimizer, step

    weights = torch.nn.Parameter(torch.zeros(10))
    step(optimizer([weights], lr=0.1, weight_decay=0.0), (weights * 1e3).sum(), clip=False)  # gradient norm 3162
    # a first Nesterov step moves by lr * (1 + momentum) * the gradient, far past the clipped norm's
    assert float(weights.detach().norm()) == pytest.approx(0.1 * 1.9 * 1e3 * 10 ** 0.5, rel=1e-4)
    assert float(weights.detach().norm()) > 100 * MAX_GRAD_NORM
