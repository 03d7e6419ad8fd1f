"""A checkpoint is someone else's files (a Hub repo): a config.json of the wrong shape, settings that would allocate
terabytes, or weights holding NaN are one WeightsError naming the file and the field, never a traceback
(issue 28, item 7)."""

import json
import math

import pytest
import torch
from typer.testing import CliRunner

from dancestyle.checkpoints import CONFIG_FILE, checkpoint_config, save_checkpoint
from dancestyle.cli import app
from dancestyle.configs import default_config, parse_settings
from dancestyle.errors import UsageError, WeightsError
from dancestyle.evaluate import evaluate_run
from dancestyle.models import DanceClassifier
from dancestyle.pipeline import load_model

from media import make_video


def checkpoint(directory, edit=None, state_edit=None):
    """A pose-only lstm checkpoint with random weights, its config.json then edited by `edit` (config.json's other
    fields, weights_sha256 included, stay as saved) or its weights by `state_edit` (saved anew)."""
    torch.manual_seed(0)
    classifier = DanceClassifier(default_config("lstm", streams=["pose"], hidden=8))
    state = classifier.state_dict()
    if state_edit:
        state_edit(state)
    save_checkpoint(directory, state, checkpoint_config(classifier.config.to_dict()))
    if edit:
        config = json.loads((directory / CONFIG_FILE).read_text())
        edit(config)
        (directory / CONFIG_FILE).write_text(json.dumps(config))
    return directory


def setting(key, value):
    return lambda config: config["model"].__setitem__(key, value)


def section(key, value):
    return lambda config: config.__setitem__(key, value)


def without(key):
    return lambda config: config.pop(key)


BAD_CONFIGS = {  # the cases first, then their neighbours
    "features []": (section("features", []), "features"),
    "no features": (without("features"), "features"),
    "stride 0": (setting("stride", 0), "stride"),
    "stride 'sixty'": (setting("stride", "sixty"), "stride"),
    "training 'x'": (section("training", "x"), "training"),
    "hidden 1e9": (setting("hidden", 1e9), "hidden"),
    "hidden 8.5": (setting("hidden", 8.5), "hidden"),
    "time_norm 1": (setting("time_norm", 1), "time_norm"),
    "dropout NaN": (setting("dropout", math.nan), "dropout"),
    "ema 1": (setting("ema", 1.0), "ema"),
    "pose backend 'openpose'": (lambda config: config["features"]["pose"].__setitem__("backend", "openpose"),
                                "features.pose.backend"),
    "pose source 'openpose-512'": (lambda config: config.setdefault("training", {}).__setitem__(
        "pose_source", "openpose-512"), "training.pose_source"),  # an average that never moves from the first weights
    "no classes": (setting("classes", []), "classes"),
    "a class twice": (setting("classes", ["waltz", "waltz"]), "classes"),
    "classes 'waltz'": (setting("classes", "waltz"), "classes"),
    "streams [1]": (setting("streams", [1]), "streams"),
    "name ['lstm']": (setting("name", ["lstm"]), "name"),
    "unknown optimizer": (setting("optimizer", "adam"), "optimizer"),
    "frame_size 'big'": (lambda config: config["features"].__setitem__("frame_size", "big"), "frame_size"),
    "frame_size 1e6": (lambda config: config["features"].__setitem__("frame_size", 10 ** 6), "frame_size"),
    "flow 'x'": (lambda config: config["features"].__setitem__("flow", "x"), "flow"),
    "pose 'x'": (lambda config: config["features"].__setitem__("pose", "x"), "pose"),
    "pose_source 7": (section("training", {"pose_source": 7}), "pose_source"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_a_config_json_of_the_wrong_shape_is_one_weights_error_naming_file_and_field(tmp_path, fake_pose,
                                                                                     isolated_home, case):
    edit, field = BAD_CONFIGS[case]
    directory = checkpoint(tmp_path / "run", edit)
    with pytest.raises(WeightsError) as caught:
        load_model(weights=str(directory), device="cpu")
    assert str(directory / CONFIG_FILE) in caught.value.message and field in caught.value.message
    assert "--weights" in caught.value.hint


def test_a_memory_bomb_is_refused_before_anything_is_allocated(tmp_path, fake_pose, isolated_home, monkeypatch):
    directory = checkpoint(tmp_path / "run", setting("hidden", 1e9))
    monkeypatch.setattr("dancestyle.models.DanceClassifier.__init__", lambda *args: pytest.fail("model built"))
    with pytest.raises(WeightsError, match="hidden"):
        load_model(weights=str(directory), device="cpu")


@pytest.mark.parametrize("value", [math.nan, math.inf])
def test_weights_that_are_not_finite_are_refused_at_load(tmp_path, fake_pose, isolated_home, value):
    def poison(state):
        name = next(key for key, tensor in state.items() if tensor.is_floating_point())
        state[name].view(-1)[0] = value

    directory = checkpoint(tmp_path / "run", state_edit=poison)
    with pytest.raises(WeightsError, match="not finite") as caught:
        load_model(weights=str(directory), device="cpu")
    assert "model.safetensors" in caught.value.message


def test_evaluate_refuses_a_checkpoint_without_features(tmp_path, isolated_home):
    directory = checkpoint(tmp_path / "run", without("features"))
    with pytest.raises(WeightsError, match="features"):
        evaluate_run(str(directory), "lstm", str(tmp_path))


@pytest.mark.parametrize("case", ["stride 0", "training 'x'", "NaN weights"])
def test_classify_says_what_is_wrong_with_a_checkpoint_without_a_traceback(tmp_path, fake_pose, isolated_home, case):
    video = make_video(tmp_path / "clip.mp4", frames=60)
    if case == "NaN weights":
        directory = checkpoint(tmp_path / "run", state_edit=lambda state: [t.fill_(math.nan) for t in state.values()
                                                                           if t.is_floating_point()])
    else:
        directory = checkpoint(tmp_path / "run", BAD_CONFIGS[case][0])
    result = CliRunner().invoke(app, ["classify", str(video), "--weights", str(directory), "--json"],
                                env={"COLUMNS": "250"})
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.stderr
    for line in result.stdout.splitlines():  # strict JSON: no NaN score
        json.loads(line, parse_constant=lambda constant: pytest.fail(f"{constant} in {line}"))
    assert ("not finite" if case == "NaN weights" else BAD_CONFIGS[case][1]) in result.stderr


def test_set_takes_the_same_bounds(tmp_path):
    with pytest.raises(UsageError, match="hidden"):
        default_config("lstm", **parse_settings(["hidden=1000000000"], default_config("lstm")))
    with pytest.raises(UsageError, match="stride"):
        default_config("tcn", **parse_settings(["stride=0"], default_config("tcn")))
    assert default_config("lstm", hidden=64.0).hidden == 64 and isinstance(default_config("lstm", hidden=64.0).hidden,
                                                                           int)


def test_a_sound_checkpoint_with_integral_floats_still_loads(tmp_path, fake_pose, isolated_home):
    directory = checkpoint(tmp_path / "run", setting("hidden", 8.0))
    assert load_model(weights=str(directory), device="cpu").classifier.config.hidden == 8
