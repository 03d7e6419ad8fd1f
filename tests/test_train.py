import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

from dancestyle.cli import app
from dancestyle.errors import InputError, UsageError
from dancestyle.evaluate import evaluate_run
from dancestyle.extract import sample_positions
from dancestyle.models import DanceClassifier, default_config
from dancestyle.optimizers import sequence_optimizer
from dancestyle.runstate import read_state, state_path
from dancestyle.train import TrainingInterrupted, TrainOptions, train
from dancestyle.checkpoints import model_card

from media import SMALL_CORPUS_STYLES as STYLES


def options(corpus, out, **changes):
    base = dict(model="attention", data=corpus, out=out, epochs=40, patience=40, streams=["pose"], seed=3)
    return TrainOptions(**{**base, **changes})


def test_sample_positions_stand_in_for_missing_frames():
    assert sample_positions([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]) == [0, 5, 10]  # every 1/6 s at 30 fps
    assert sample_positions([1, 2, 3, 4, 7, 8, 9, 10, 11]) == [0, 3, 8]  # frame 6 missing: 4 on screen
    assert sample_positions([3, 4, 5, 8]) == [0, 3]  # starts at the first frame there is


@pytest.mark.parametrize("frames, rate", [(301, 30), (251, 25), (241, 24), (502, 25), (602, 30), (151, 30)])
def test_frame_folders_are_sampled_at_the_instants_classify_samples_videos_at(frames, rate):
    from dancestyle.data import infer_frame_rate

    assert infer_frame_rate(frames) == rate
    positions = sample_positions(list(range(1, frames + 1)), rate)
    assert len(positions) == math.ceil(frames / rate * 6 - 6 / (8 * rate))  # every 1/6 s to the clip's end
    lstm_seconds = [positions[step] / rate for step in range(0, len(positions), 12)]  # stride 60: every 2 s
    assert lstm_seconds[:5] == pytest.approx([0, 2, 4, 6, 8][:len(lstm_seconds)], abs=1 / rate)
    assert frames < 300 or len(positions) >= 60  # a whole window at stride 5 (frame, r3d) in 10 s, whatever the rate


def test_a_stride_that_is_not_a_multiple_of_the_cache_stride_gets_a_cache_of_its_own():
    from dataclasses import replace

    from dancestyle.configs import default_config
    from dancestyle.extract import stream_specs
    from dancestyle.recipe import FeatureRecipe
    from dancestyle.video import sample_interval
    from dancestyle.windows import window_steps

    lstm, tcn = default_config("lstm"), replace(default_config("tcn"), stride=3)
    assert window_steps(replace(lstm, stride=60)) == (12, 5)  # every 12th sample of the shared 1/6 s cache
    assert window_steps(tcn) == (1, 100)  # every sample of a 1/10 s cache
    shared = stream_specs(FeatureRecipe.for_model(replace(lstm, stride=60)))["pose"]
    own = stream_specs(FeatureRecipe.for_model(tcn))["pose"]
    assert (shared.stride, own.stride) == (5, 3) and shared.name != own.name  # never mixed in one folder
    positions = sample_positions(list(range(1, 301)), 30, sample_interval(3))
    assert positions[:4] == [0, 3, 6, 9] and len(positions) == 100


def test_training_learns_a_tiny_synthetic_set(corpus, home):
    # the mirror, not the default flip: the attention's sample a second memorises how each clip looks, and the
    # view from behind gives each clip a second look to learn (40 epochs then take the loss down only ~4%)
    summary = train(options(corpus, home / "run", augment=["mirror"]))
    history = summary["history"]
    assert summary["synthetic"] is True and summary["epochs_run"] == 40
    assert history[-1]["train_loss"] < 0.9 * history[0]["train_loss"]
    # 4 styles, chance 0.25: the training clips are being learnt (the corpus's styles differ only in time, which the
    # attention's sample a second cannot see: held-out clips are not the point here; the per-person pose encoder
    # cannot memorise who stands in which slot, so 40 epochs take it to about 0.55 where the slot encoder's reached
    # 0.6 and more)
    assert max(record["train_accuracy"] for record in history[-5:]) >= 0.45
    config = json.loads((home / "run" / "config.json").read_text())
    assert config["model"]["name"] == "attention" and config["model"]["classes"] == list(STYLES)
    assert config["training"]["pose_source"] == "dataset" and config["training"]["synthetic"] is True
    metrics = json.loads((home / "run" / "metrics.json").read_text())
    assert len(metrics["history"]) == 40 and metrics["best_epoch"] == summary["best_epoch"]

    card = model_card(home / "run", "someone/dance")
    assert "# someone/dance" in card and "--weights someone/dance" in card and "synthetic corpus" in card
    assert "attention" in card and f"best validation accuracy {summary['best_val_accuracy']}" in card

    result = evaluate_run(str(home / "run"), "attention", None, "test")
    assert 0 <= result.metrics.accuracy <= 1 and len(result.predictions) == sum(
        row for row in np.asarray(result.metrics.confusion).sum(axis=1))
    assert result.dataset == str(corpus) and result.predictions[0].label in STYLES


@pytest.mark.parametrize("ema", [0.0, 0.9])  # with an average of the weights, it is part of the state
def test_interrupted_then_resumed_run_ends_with_the_same_weights(corpus, home, ema):
    settings = {"hidden": 16, "ema": ema}
    train(options(corpus, home / "whole", epochs=6, model="lstm", overrides=settings))

    def stop_after_three(record, most_epochs):
        assert most_epochs == 6
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted, match="after epoch 3"):
        train(options(corpus, home / "cut", epochs=6, model="lstm", overrides=settings), on_epoch=stop_after_three)
    state = read_state(home / "cut")
    assert state["epoch"] == 3 and not state["finished"]
    resumed = train(TrainOptions(model="lstm", out=home / "cut", resume=True))
    assert resumed["epochs_run"] == 6
    for name in ("model.safetensors", "resume/state.safetensors"):
        whole, cut = load_file(home / "whole" / name), load_file(home / "cut" / name)
        assert whole.keys() == cut.keys()
        for key in whole:
            assert (whole[key] == cut[key]).all(), key
    def scores(run):  # everything but the seconds each epoch took
        return [{k: v for k, v in record.items() if k != "seconds"}
                for record in json.loads((home / run / "metrics.json").read_text())["history"]]

    assert scores("whole") == scores("cut")
    # a given epoch budget extends a finished run; everything else stays the run's own
    extended = train(TrainOptions(model="lstm", out=home / "cut", resume=True, epochs=8))
    assert extended["epochs_run"] == 8 and read_state(home / "cut")["options"]["epochs"] == 8
    assert read_state(home / "cut")["options"]["patience"] == 40


def test_with_ema_the_average_of_the_weights_is_validated_and_kept(corpus, home, tmp_path, monkeypatch):
    import dancestyle.train as training

    validated = []

    def improving(model, val, device, fixed=False):  # every epoch better: the last one is kept
        validated.append({name: tensor.clone() for name, tensor in model.state_dict().items()})
        return 1.0, len(validated) / 10

    monkeypatch.setattr(training, "_validate", improving)
    summary = train(options(corpus, tmp_path / "run", epochs=2, model="lstm", overrides={"hidden": 16, "ema": 0.9}))
    assert summary["best_epoch"] == 2
    kept, state = load_file(tmp_path / "run" / "model.safetensors"), load_file(state_path(tmp_path / "run"))
    assert kept.keys() == validated[-1].keys()
    for name, tensor in kept.items():
        assert torch.equal(tensor, validated[-1][name]) and torch.equal(tensor, state[f"average.module.{name}"])
    trained = {name[len("model."):]: tensor for name, tensor in state.items() if name.startswith("model.")}
    moved = [name for name, tensor in kept.items()
             if tensor.is_floating_point() and not torch.equal(tensor, trained[name])]
    assert moved  # the kept weights are the average, not the last step's
    steps = -(-summary["clips"]["train"] // default_config("lstm").batch_size)  # batches per epoch
    assert int(state["average.n_averaged"]) == 2 * steps  # every step went into the average


def test_one_run_folder_has_one_writer_and_a_run_is_replaced_only_when_asked(corpus, home, tmp_path):
    """Issue 28: two trains with the same --out both "succeeded", the first run's checkpoint silently replaced."""
    from filelock import FileLock

    from dancestyle.runstate import LOCK_FILE

    out = tmp_path / "run"
    first = train(options(corpus, out, epochs=1))
    weights = (out / "model.safetensors").read_bytes()
    with FileLock(out / LOCK_FILE):  # another train writing there (the lock is per open file, even in one process)
        with pytest.raises(UsageError, match="Another `dancestyle train` is writing"):
            train(options(corpus, out, epochs=1, overwrite=True))
    with pytest.raises(UsageError, match="already holds a trained run") as refused:
        train(options(corpus, out, epochs=1, seed=4))
    assert "--overwrite" in refused.value.hint and (out / "model.safetensors").read_bytes() == weights
    second = train(options(corpus, out, epochs=2, seed=4, overwrite=True))
    assert second["epochs_run"] == 2 and read_state(out)["options"]["seed"] == 4 and first["epochs_run"] == 1

    def stop_after_one(record, most_epochs):
        raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(options(corpus, tmp_path / "cut", epochs=3), on_epoch=stop_after_one)
    with pytest.raises(UsageError, match="stopped after epoch 1") as refused:
        train(options(corpus, tmp_path / "cut", epochs=3))
    assert "--resume" in refused.value.hint
    assert train(TrainOptions(model="attention", out=tmp_path / "cut", resume=True))["epochs_run"] == 3


def test_a_tcn_on_placed_skeletons_trains_on_frame_coordinates_and_evaluates(corpus, home, tmp_path):
    summary = train(options(corpus, tmp_path / "run", model="tcn", epochs=2,
                            overrides={"pose_encoder": "placed", "channels": 8, "levels": 2}))
    assert summary["epochs_run"] == 2
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["model"]["pose_encoder"] == "placed" and "frame" in json.dumps(config["features"])
    assert evaluate_run(str(tmp_path / "run"), "tcn", None, "test").metrics.accuracy >= 0


def test_a_relative_data_folder_is_recorded_absolute_and_a_resume_takes_the_dataset_given_again(corpus, home,
                                                                                               tmp_path, monkeypatch):
    """Issue 28: `--data syn` was recorded as "syn": evaluate from another folder and --resume failed, and --data
    given to --resume was ignored."""
    import shutil

    monkeypatch.chdir(corpus.parent)
    with pytest.raises(TrainingInterrupted):
        train(options(Path(corpus.name), tmp_path / "run", epochs=2),
              on_epoch=lambda record, most: (_ for _ in ()).throw(KeyboardInterrupt))
    recorded = read_state(tmp_path / "run")["options"]["data"]
    assert Path(recorded) == corpus.absolute()
    assert json.loads((tmp_path / "run" / "config.json").read_text())["training"]["dataset"] == recorded
    monkeypatch.chdir(tmp_path)
    moved = tmp_path / "moved"
    shutil.copytree(corpus, moved)
    with pytest.raises(InputError, match="No dataset"):
        train(TrainOptions(model="attention", out=tmp_path / "run", resume=True, data=tmp_path / "nowhere"))
    resumed = train(TrainOptions(model="attention", out=tmp_path / "run", resume=True, data=Path("moved")))
    assert resumed["epochs_run"] == 2 and read_state(tmp_path / "run")["options"]["data"] == str(moved)
    assert evaluate_run(str(tmp_path / "run"), "attention", None, "test").metrics.accuracy >= 0


def test_a_resumed_run_keeps_the_network_its_checkpoint_records_when_a_default_changed(tmp_path):
    """A multi-stream tcn run started before 2026-12-05 fused early, and its config.json (written before `fusion`,
    `stream_dropout` and `input_dropout` existed) does not say so: resuming it must not build the late-fused one."""
    from dancestyle.models import default_config
    from dancestyle.train import _recorded_settings, model_config

    old = default_config("tcn", streams=["pose", "flow"], channels=8, fusion="early").to_dict()
    for added in ("fusion", "stream_dropout", "input_dropout"):
        del old[added]
    (tmp_path / "config.json").write_text(json.dumps({"model": old}))
    settings = _recorded_settings(tmp_path, {})
    resumed = model_config(TrainOptions(model="tcn", streams=["pose", "flow"], overrides=settings))
    assert (resumed.fusion, resumed.stream_dropout, resumed.input_dropout, resumed.channels) == ("early", 0, 0, 8)
    assert model_config(TrainOptions(model="tcn", streams=["pose", "flow"])).fusion == "late"  # a new run
    assert _recorded_settings(tmp_path / "none", {"channels": 4}) == {"channels": 4}  # no checkpoint yet


def test_resume_builds_the_network_of_the_checkpoint_not_of_the_saved_options(corpus, home):
    """A resume state from before its options recorded a setting: the run's config.json still says what it trained."""
    from safetensors.torch import load_file, save_file

    train(options(corpus, home / "run", epochs=1, model="lstm", overrides={"hidden": 16}))
    state = read_state(home / "run")
    state["options"]["overrides"] = {}
    save_file(load_file(state_path(home / "run")), state_path(home / "run"), metadata={"state": json.dumps(state)})
    resumed = train(TrainOptions(model="lstm", out=home / "run", resume=True, epochs=2))  # not hidden 128: no error
    assert resumed["epochs_run"] == 2
    assert json.loads((home / "run" / "config.json").read_text())["model"]["hidden"] == 16


def test_resume_without_saved_state_says_what_to_do(home, tmp_path):
    with pytest.raises(UsageError, match="no saved training state"):
        train(TrainOptions(model="lstm", data=tmp_path, out=tmp_path / "nothing", resume=True))


def test_cli_train_evaluate_and_classify_with_the_run(corpus, home):
    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--model", "lstm", "--data", str(corpus), "--streams", "pose",
                                  "--epochs", "3", "--json"])
    assert trained.exit_code == 0, trained.output
    summary = json.loads(trained.stdout)
    assert summary["out"].startswith(str(home / "runs" / "lstm-")) and "epoch   3/3" in trained.stderr

    evaluated = runner.invoke(app, ["evaluate", "--model", "lstm", "--json"])
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.stdout)
    assert set(report) == {"accuracy", "macro_f1", "per_class", "confusion", "classes", "split", "clips", "windows"}
    assert report["windows"] == "all"  # --recipe ours: every window, as classify
    assert report["split"] == "test" and report["classes"] == list(STYLES)
    assert sum(map(sum, report["confusion"])) == report["clips"] > 0

    shown = runner.invoke(app, ["evaluate", "--model", "lstm", "--split", "val"], env={"COLUMNS": "200"})
    assert shown.exit_code == 0 and "macro" in shown.stdout and "ballet" in shown.stdout

    bad = runner.invoke(app, ["train", "--data", str(corpus), "--streams", "depth"])
    assert bad.exit_code == 2


def test_sigterm_stops_training_as_ctrl_c_does_and_the_run_resumes(corpus, home, monkeypatch):
    """torchrun sends SIGTERM to the other processes when one dies; schedulers and kill send it too."""
    import os
    import signal

    import dancestyle.render as render

    real_line, before = render.epoch_line, signal.getsignal(signal.SIGTERM)

    def terminated_after_the_second(record, epochs):
        real_line(record, epochs)
        if record["epoch"] == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(render, "epoch_line", terminated_after_the_second)
    out = str(home / "cut")
    args = ["train", "--model", "lstm", "--data", str(corpus), "--streams", "pose", "--epochs", "4", "--out", out]
    cut = CliRunner().invoke(app, args)
    assert cut.exit_code == 143 and "interrupted after epoch 2" in cut.stderr
    assert f"dancestyle train --resume --out {out}" in " ".join(cut.stderr.split()) and "Traceback" not in cut.stderr
    assert signal.getsignal(signal.SIGTERM) is before  # the command leaves the process as it found it
    monkeypatch.setattr(render, "epoch_line", real_line)
    resumed = CliRunner().invoke(app, ["train", "--resume", "--out", out])
    assert resumed.exit_code == 0 and "epoch   3/4" in resumed.stderr and "epoch   2/4" not in resumed.stderr


@pytest.mark.slow
def test_fetch_dataset_synthetic_prints_the_summary(home):
    result = CliRunner().invoke(app, ["fetch-dataset", "--synthetic", "--clips-per-class", "3", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["clips"] == 30 and summary["root"] == str(home / "datasets" / "synthetic")
    assert sum(summary["splits"].values()) == 30


def test_fetch_dataset_checks_classes_before_any_work(home):
    result = CliRunner().invoke(app, ["fetch-dataset", "--synthetic", "--classes", "12"])
    assert result.exit_code == 2 and "10 or 16" in result.stderr
    assert not (home / "datasets").exists()  # no corpus was generated first


def test_a_loss_that_is_no_longer_a_number_stops_training_and_says_what_to_do(corpus, home, monkeypatch):
    import dancestyle.train as training

    real_epoch = training._epoch

    def nan_from_epoch_two(model, optimizer, train_set, seed, epoch, *args, **kwargs):
        loss, accuracy = real_epoch(model, optimizer, train_set, seed, epoch, *args, **kwargs)
        return (float("nan") if epoch >= 2 else loss), accuracy

    monkeypatch.setattr(training, "_epoch", nan_from_epoch_two)
    with pytest.raises(training.TrainingDiverged, match="epoch 2 is nan .the checkpoint keeps epoch 1") as caught:
        train(options(corpus, home / "nan", epochs=4, model="lstm", overrides={"hidden": 16}))
    assert "lower learning rate" in caught.value.hint
    assert read_state(home / "nan")["epoch"] == 1


def test_fetch_dataset_interrupted_says_how_to_continue(home, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("dancestyle.synthetic.generate_corpus", interrupted)
    result = CliRunner().invoke(app, ["fetch-dataset", "--synthetic", "--clips-per-class", "3"])
    assert result.exit_code == 130 and "same command again" in result.stderr and "Traceback" not in result.stderr


def test_mirror_swaps_sides_and_negates_x():
    from dancestyle.pose import KEYPOINT_NAMES
    from dancestyle.augment import mirror

    poses = np.zeros((1, 20, 2, 17), np.float32)
    left, right = KEYPOINT_NAMES.index("left_wrist"), KEYPOINT_NAMES.index("right_wrist")
    poses[0, 0, :, left] = (-0.5, 0.25)
    poses[0, 0, :, right] = (0.75, -1.0)
    mirrored = mirror(poses)
    assert tuple(mirrored[0, 0, :, right]) == (0.5, 0.25) and tuple(mirrored[0, 0, :, left]) == (-0.75, -1.0)
    np.testing.assert_array_equal(mirror(mirrored), poses)


def test_shuffled_frames_keep_the_content_and_lose_the_order(corpus, home):
    from dancestyle.data import index_dataset
    from dancestyle.splits import load_or_make_splits
    from dancestyle.configs import default_config
    from dancestyle.extract import extract_features, training_recipe
    from dancestyle.train import load_split

    index = index_dataset(corpus)
    keys = load_or_make_splits(corpus, index)["train"][:3]
    features = extract_features(index, training_recipe(index, default_config("lstm", streams=["pose"]), "", "dataset"))
    plain = load_split(index, features, keys, list(STYLES))
    shuffled = load_split(index, features, keys, list(STYLES), shuffle_frames=True)
    again = load_split(index, features, keys, list(STYLES), shuffle_frames=True)
    for a, b, c in zip(plain.features, shuffled.features, again.features):
        assert not np.array_equal(a["pose"], b["pose"])
        np.testing.assert_array_equal(np.sort(a["pose"], axis=0), np.sort(b["pose"], axis=0))
        np.testing.assert_array_equal(b["pose"], c["pose"])  # the same permutation every time


@pytest.mark.slow
def test_demo_runs_offline_end_to_end_and_says_it_is_synthetic(home):
    result = CliRunner().invoke(app, ["demo", "--clips-per-class", "5", "--epochs", "3"], env={"COLUMNS": "160"})
    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "SYNTHETIC" in text and "What real use needs" in text
    assert "accuracy" in text and "Dance style" in text  # evaluation, then the classify table
    said = " ".join(text.split())
    assert "from the clips' skeleton files" in said and "as `dancestyle classify` shows them" not in said
    assert (home / "demo" / "lstm" / "model.safetensors").is_file()
    assert not (home / "runs").exists()  # the demo's run never becomes `classify`'s default weights


def test_fetch_dataset_uses_an_extracted_folder_in_place(corpus, home):
    result = CliRunner().invoke(app, ["fetch-dataset", "--source", str(corpus)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert str(corpus) in result.stdout and "train" in result.stdout
    assert "terms" not in result.stderr  # the synthetic corpus is not Let's Dance: no terms note
    assert not (home / "datasets").exists()  # nothing copied


def test_clip_windows_end_the_last_window_at_the_clip_end():
    from dancestyle.windows import clip_windows

    features = {"pose": np.arange(13)[:, None]}  # 13 cached samples
    windows = clip_windows(features, every=2, per_window=5)  # 7 steps: 0, 2, ..., 12
    assert [w["pose"][:, 0].tolist() for w in windows] == [[0, 2, 4, 6, 8], [4, 6, 8, 10, 12]]
    short = clip_windows({"pose": np.arange(3)[:, None]}, every=1, per_window=5)
    assert [w["pose"][:, 0].tolist() for w in short] == [[0, 1, 2]]


def test_own_video_folders_train_on_every_style_folder(tmp_path):
    from dancestyle.data import index_for_training
    from media import make_video

    for style in ("salsa", "waltz", "zouk"):
        (tmp_path / style).mkdir()
        make_video(tmp_path / style / "a.mp4", frames=3)
    index = index_for_training(tmp_path)
    assert index.layout == "videos" and index.classes == ["salsa", "waltz", "zouk"]
    only_new = tmp_path / "new"
    (only_new / "kizomba").mkdir(parents=True)
    make_video(only_new / "kizomba" / "b.mp4", frames=3)
    assert index_for_training(only_new).classes == ["kizomba"]


def test_the_tuned_weight_decay_spares_the_pose_encoder():
    model = DanceClassifier(default_config("lstm", streams=["rgb", "pose"]))
    decay = {id(parameter): group["weight_decay"] for group in sequence_optimizer(model).param_groups
             for parameter in group["params"]}
    assert len(decay) == len(list(model.parameters()))
    assert {decay[id(parameter)] for parameter in model.sequence.parameters()} == {model.config.weight_decay}
    assert {decay[id(parameter)] for parameter in model.pose_encoder.parameters()} == {0.0}


@pytest.mark.parametrize("epochs", [0, 1])
def test_pretrain_epochs_is_how_long_the_encoder_learns_frame_by_frame(epochs):
    import numpy as np
    import torch

    from dancestyle.configs import config_from_dict
    from dancestyle.errors import UsageError
    from dancestyle.optimizers import pretrain_encoders
    from dancestyle.sequences import Sequences

    model = DanceClassifier(default_config("tcn", streams=["pose"], pretrain_epochs=epochs))
    before = [parameter.detach().clone() for parameter in model.pose_encoder.parameters()]
    poses = np.random.default_rng(0).normal(size=(4, 6, 20, 2, 17)).astype(np.float32)
    pretrain_encoders(model, Sequences([{"pose": clip} for clip in poses], np.arange(4)), 0, "cpu", 0.01)
    moved = any(not torch.equal(old, new) for old, new in zip(before, model.pose_encoder.parameters()))
    assert moved == (epochs > 0)
    recorded = model.config.to_dict()
    del recorded["pretrain_epochs"]  # a checkpoint from before the setting: the paper's 10
    assert config_from_dict(recorded).pretrain_epochs == 10
    with pytest.raises(UsageError, match="pretrain_epochs"):
        default_config("tcn", pretrain_epochs=-1)


def test_the_optimizer_is_the_one_the_config_names_and_old_configs_keep_sgd():
    import torch

    from dancestyle.configs import config_from_dict
    from dancestyle.errors import UsageError

    config = default_config("tcn", streams=["pose"], optimizer="adamw", weight_decay=0.01)
    optimizer = sequence_optimizer(DanceClassifier(config))
    assert isinstance(optimizer, torch.optim.AdamW)
    assert sorted(group["weight_decay"] for group in optimizer.param_groups) == [0.0, 0.01]  # encoder spared
    recorded = config.to_dict()
    del recorded["optimizer"]
    assert isinstance(sequence_optimizer(DanceClassifier(config_from_dict(recorded))), torch.optim.SGD)
    with pytest.raises(UsageError, match="optimizer"):
        default_config("tcn", optimizer="lbfgs")


@pytest.mark.parametrize("repo", ["no-owner", "bad//id", "a/b/c"])
def test_a_bad_push_to_hub_id_fails_before_training(repo, home, tmp_path):
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), "--push-to-hub", repo])
    # exit 2 (usage), not 1: the empty --data folder was never looked at
    assert result.exit_code == 2 and "--push-to-hub" in result.stderr and "Traceback" not in result.stderr


def test_train_takes_the_16_class_release_when_asked(corpus, home, tmp_path):
    import shutil

    release = tmp_path / "letsdance16"
    shutil.copytree(corpus, release)
    for parent in (release / "rgb", release / "densepose" / "txt"):  # waltz plays a class only the 16 have
        (parent / "waltz").rename(parent / "jive")
    ten = train(options(release, tmp_path / "ten", epochs=1, classes=10))
    sixteen = train(options(release, tmp_path / "sixteen", epochs=1, classes=16))
    assert json.loads((tmp_path / "ten" / "config.json").read_text())["model"]["classes"] == ["ballet", "break",
                                                                                                "flamenco"]
    assert "jive" in json.loads((tmp_path / "sixteen" / "config.json").read_text())["model"]["classes"]
    assert sixteen["clips"]["train"] > ten["clips"]["train"]
    with pytest.raises(UsageError, match="10 or 16"):
        train(options(release, tmp_path / "twelve", epochs=1, classes=12))


@pytest.mark.slow
def test_poses_from_a_backend_are_recorded_and_each_clip_is_decoded_once(corpus, home, tmp_path, fake_pose,
                                                                          monkeypatch):
    import dancestyle.extract as extract

    decoded = []
    real_clip_samples = extract.clip_samples
    monkeypatch.setattr(extract, "clip_samples", lambda clip, size, *args, **kwargs: decoded.append((clip.key, size))
                        or real_clip_samples(clip, size, *args, **kwargs))
    train(options(corpus, tmp_path / "run", epochs=1, streams=["rgb", "pose"], pose_source="estimator",
                  pose="rcnn", detector_size=384, random_weights=True))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["features"]["pose"]["backend"] == "rcnn" and config["features"]["pose"]["source"] == "estimator"
    assert config["training"]["pose_source"] == "rcnn-random-384"
    assert fake_pose.built == [("rcnn", 384, True)]
    keys = [key for key, _ in decoded]
    assert len(keys) == len(set(keys)) == 8 * len(STYLES)  # once per clip, for both streams
    assert {size for _, size in decoded} == {384}  # the size classify decodes at for this checkpoint

    # evaluate uses the recorded backend, or another one with a caution
    cautions = []
    evaluate_run(str(tmp_path / "run"), "attention", None, "test", on_caution=cautions.append)
    assert fake_pose.built[-1] == ("rcnn", 384, True) and cautions == []
    evaluate_run(str(tmp_path / "run"), "attention", None, "test", pose="rtmpose-t", on_caution=cautions.append)
    assert fake_pose.built[-1] == ("rtmpose-t", 384, True) and "trained on poses from `rcnn`" in cautions[0]


def test_ctrl_c_during_the_first_epoch_does_not_offer_resume(corpus, home, monkeypatch):
    import dancestyle.train as training

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(training, "_epoch", interrupted)
    with pytest.raises(TrainingInterrupted, match="first epoch") as caught:
        train(options(corpus, home / "cut", epochs=3, model="lstm", overrides={"hidden": 16}))
    assert "train --resume" not in caught.value.hint and "without --resume" in caught.value.hint


def test_evaluate_measures_the_end_to_end_path_and_own_videos_with_a_skeleton_file_model(corpus, home, tmp_path,
                                                                                          fake_pose):
    from dancestyle.pose import DEFAULT_POSE
    from media import make_video

    train(options(corpus, tmp_path / "run", epochs=1))  # poses from the dataset's skeleton files
    cautions = []
    result = evaluate_run(str(tmp_path / "run"), "attention", None, "test", pose_source="estimator",
                          on_caution=cautions.append)
    assert fake_pose.built == [(DEFAULT_POSE, 512, False)] and "skeleton files" in cautions[0]
    assert result.metrics.accuracy >= 0

    videos = tmp_path / "videos"  # a <style>/<video> dataset: no skeleton files, so the backend (no IndexError)
    for style in STYLES:
        (videos / style).mkdir(parents=True)
        for number in range(3):
            make_video(videos / style / f"src{number}_001.mp4", frames=30, size=(32, 24))
    result = evaluate_run(str(tmp_path / "run"), "attention", str(videos), "train", on_caution=cautions.append)
    assert len(result.predictions) > 0 and fake_pose.built[-1] == (DEFAULT_POSE, 512, False)
    with pytest.raises(UsageError, match="no skeleton files"):
        evaluate_run(str(tmp_path / "run"), "attention", str(videos), "train", pose_source="dataset")


def test_the_paper_recipe_freezes_the_encoder_keeps_the_lowest_loss_and_cuts_the_lr_on_plateaus(corpus, home,
                                                                                                  tmp_path):
    short = train(options(corpus, tmp_path / "short", epochs=1, recipe="paper", patience=4))
    longer = train(options(corpus, tmp_path / "longer", epochs=12, recipe="paper", patience=4))
    first, last = (load_file(tmp_path / run / "model.safetensors") for run in ("short", "longer"))
    encoder = [key for key in first if key.startswith("pose_encoder.")]
    assert encoder and all((first[key] == last[key]).all() for key in encoder)  # frozen after pre-training
    assert any(not (first[key] == last[key]).all() for key in first if key not in encoder)
    history = longer["history"]
    losses = [record["val_loss"] for record in history]
    assert losses[longer["best_epoch"] - 1] == min(losses)  # (history rounds losses: a later epoch may tie)
    config = json.loads((tmp_path / "longer" / "config.json").read_text())
    assert config["training"]["recipe"] == "paper" and short["epochs_run"] == 1


def test_the_paper_recipe_trains_the_authors_tcn_without_input_dropout_fusing_early(corpus, home, tmp_path):
    for chosen, expected in (("paper", (0.0, 0.0, "early", "slots", False, "last")),
                             ("ours", (0.0, 0.25, "late", "people", True, "mean"))):
        train(options(corpus, tmp_path / chosen, model="tcn", epochs=1, recipe=chosen))
        model = json.loads((tmp_path / chosen / "config.json").read_text())["model"]
        assert tuple(model[key] for key in ("input_dropout", "stream_dropout", "fusion", "pose_encoder", "norm",
                                            "readout")) == expected


def test_a_plateau_divides_the_lr_by_ten_then_stops_the_run(corpus, home, tmp_path, monkeypatch):
    import dancestyle.train as training

    monkeypatch.setattr(training, "_validate", lambda model, val, device, fixed: (1.0, 0.5))  # never improves
    summary = train(options(corpus, tmp_path / "run", epochs=20, recipe="paper", patience=4))
    lrs = [record["lr"] for record in summary["history"]]
    assert len(lrs) == 5  # the first epoch, then 4 without a lower loss
    assert lrs[:4] == [lrs[0]] * 4 and lrs[4] == pytest.approx(lrs[0] * 0.1)  # after patience // 2 + 1 bad epochs


def test_an_unknown_recipe_is_a_usage_error(corpus, home, tmp_path):
    with pytest.raises(UsageError, match="paper"):
        train(options(corpus, tmp_path / "run", recipe="fast"))


def test_a_resumed_paper_run_keeps_its_lr_schedule(corpus, home, tmp_path, monkeypatch):
    import dancestyle.train as training

    monkeypatch.setattr(training, "_validate", lambda model, val, device, fixed: (1.0, 0.5))  # never improves
    whole = train(options(corpus, tmp_path / "whole", epochs=20, recipe="paper", patience=6))

    def stop_after_six(record, most_epochs):
        if record["epoch"] == 6:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(options(corpus, tmp_path / "cut", epochs=20, recipe="paper", patience=6), on_epoch=stop_after_six)
    resumed = train(TrainOptions(model="attention", out=tmp_path / "cut", resume=True))
    assert [r["lr"] for r in resumed["history"]] == [r["lr"] for r in whole["history"]]
    assert whole["history"][-1]["lr"] < whole["history"][0]["lr"]  # the schedule did cut the lr before the stop


def test_a_cosine_schedule_falls_from_lr_towards_zero_over_the_most_epochs_and_survives_a_resume(corpus, home,
                                                                                                   tmp_path):
    cosine = {"lr_schedule": "cosine"}
    whole = train(options(corpus, tmp_path / "whole", epochs=6, patience=6, overrides=cosine))
    lrs = [record["lr"] for record in whole["history"]]
    first = lrs[0]
    assert lrs == pytest.approx([first * (1 + math.cos(math.pi * epoch / 6)) / 2 for epoch in range(6)])

    def stop_after_three(record, most_epochs):
        if record["epoch"] == 3:
            raise KeyboardInterrupt

    with pytest.raises(TrainingInterrupted):
        train(options(corpus, tmp_path / "cut", epochs=6, patience=6, overrides=cosine), on_epoch=stop_after_three)
    resumed = train(TrainOptions(model="attention", out=tmp_path / "cut", resume=True))
    assert [record["lr"] for record in resumed["history"]] == pytest.approx(lrs)
    assert json.loads((tmp_path / "cut" / "config.json").read_text())["model"]["lr_schedule"] == "cosine"


def test_evaluate_extracts_features_for_the_split_it_scores_only(corpus, home, tmp_path, fake_pose, monkeypatch):
    import dancestyle.extract as extract
    from dancestyle.data import index_dataset
    from dancestyle.splits import load_or_make_splits

    train(options(corpus, tmp_path / "run", epochs=1))
    extracted = []
    real_features = extract.Extractor.features
    monkeypatch.setattr(extract.Extractor, "features",
                        lambda self, clip, specs: extracted.append(clip.key) or real_features(self, clip, specs))
    evaluate_run(str(tmp_path / "run"), "attention", None, "val", pose_source="estimator")
    val = load_or_make_splits(corpus, index_dataset(corpus, STYLES))["val"]
    assert sorted(extracted) == sorted(val) and len(extracted) < 8 * len(STYLES)


def test_a_huge_gradient_moves_the_weights_no_further_than_the_clipped_norm():
    import torch

    from dancestyle.optimizers import MAX_GRAD_NORM, optimizer, step

    weights = torch.nn.Parameter(torch.zeros(10))
    sgd = optimizer([weights], lr=0.1, weight_decay=0.0)
    step(sgd, (weights * 1e6).sum())  # gradient norm 3e6
    # a first Nesterov step moves by lr * (1 + momentum) * the (clipped) gradient
    assert float(weights.detach().norm()) == pytest.approx(0.1 * 1.9 * MAX_GRAD_NORM, rel=1e-4)
    small = torch.nn.Parameter(torch.zeros(10))
    sgd = optimizer([small], lr=0.1, weight_decay=0.0)
    step(sgd, (small * 0.01).sum())  # norm 0.03: under the bound, untouched
    assert float(small.detach().norm()) == pytest.approx(0.1 * 1.9 * 0.01 * 10 ** 0.5, rel=1e-4)
