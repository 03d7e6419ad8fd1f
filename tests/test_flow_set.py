"""`train --flow-set KEY=VALUE`: flow settings chosen at training, recorded in the checkpoint, made again by evaluate
and classify; the same parser as benchmarks/seeds_table.py's (recipe.flow_overrides)."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from typer.testing import CliRunner

from dancestyle.cli import app
from dancestyle.configs import default_config
from dancestyle.errors import UsageError
from dancestyle.flow import DEFAULT_FLOW
from dancestyle.recipe import FeatureRecipe, flow_overrides


def test_flow_settings_are_typed_and_bounded():
    assert flow_overrides(["pairs=1", "bound=2.5", "preset=fast"]) == {"pairs": 1, "bound": 2.5, "preset": "fast"}
    for bad, said in ((["pairs=0"], "pairs is 0"), (["size=9999"], "size is 9999"), (["nope=1"], "known KEY"),
                      (["preset=slow"], "preset 'slow'"), (["algorithm=tvl1"], "algorithm 'tvl1'"),
                      (["grid=x"], "grid takes int")):
        with pytest.raises(UsageError, match=said) as refused:
            flow_overrides(bad)
        assert refused.value.hint


def test_farneback_is_a_flow_algorithm_and_an_unknown_one_names_both():
    assert flow_overrides(["algorithm=farneback"]) == {"algorithm": "farneback"}
    with pytest.raises(UsageError) as refused:
        flow_overrides(["algorithm=tvl1"])
    assert "algorithm=dis" in refused.value.hint and "algorithm=farneback" in refused.value.hint


def test_a_farneback_checkpoint_reads_back_its_algorithm():
    """evaluate and classify compute the flow the checkpoint's recipe records: Farneback's, not DIS's."""
    model = default_config("frame", streams=["flow"], classes=["a", "b"])
    recipe = FeatureRecipe.for_model(model, flow=replace(DEFAULT_FLOW, algorithm="farneback", pairs=1))
    config = json.loads(json.dumps({"model": model.to_dict(), "features": recipe.to_json()}))
    assert FeatureRecipe.from_checkpoint(config).flow == recipe.flow
    assert recipe.source_id("flow") != FeatureRecipe.for_model(model).source_id("flow")


def test_train_records_its_flow_settings_for_evaluate_and_classify(corpus, home, tmp_path):
    run = tmp_path / "run"
    trained = CliRunner().invoke(app, ["train", "--model", "attention", "--data", str(corpus), "--streams", "flow",
                                       "--flow-set", "pairs=1", "--flow-set", "grid=4", "--epochs", "1",
                                       "--out", str(run), "--json"])
    assert trained.exit_code == 0, trained.output
    config = json.loads((run / "config.json").read_text())
    assert config["features"]["flow"]["pairs"] == 1 and config["features"]["flow"]["grid"] == 4
    assert FeatureRecipe.from_checkpoint(config).flow == replace(DEFAULT_FLOW, pairs=1, grid=4)


@pytest.mark.parametrize(("arguments", "said"), [
    (["--streams", "flow", "--flow-set", "nope=1"], "not KEY=VALUE"),
    (["--streams", "flow", "--flow-set", "pairs=0"], "pairs is 0"),
    (["--streams", "pose", "--flow-set", "pairs=1"], "does not use"),
    (["--resume", "--flow-set", "pairs=1"], "resumed run"),
])
def test_a_bad_flow_setting_is_a_usage_error_before_any_work(home, tmp_path, arguments, said):
    result = CliRunner().invoke(app, ["train", "--data", str(tmp_path), *arguments])
    assert result.exit_code == 2 and said in " ".join(result.output.split())
    assert "Traceback" not in result.output
