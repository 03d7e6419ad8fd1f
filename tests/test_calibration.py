"""Late fusion's per-stream temperatures, fit on the validation split after training (calibration.py)."""

import numpy as np
import pytest
import torch

from dancestyle.calibration import (TEMPERATURES, apply_calibration, calibrate, fit_temperature,
                                    negative_log_likelihood, stream_window_scores)
from dancestyle.errors import WeightsError
from dancestyle.models import DanceClassifier, default_config
from dancestyle.windows import clip_probabilities

from test_models import inputs

CLASSES = 10


def one_hot_scores(classes: list[int], scale: float, windows: int = 3) -> list[np.ndarray]:
    """Each clip's window scores: `scale` on the named class, 0 elsewhere."""
    return [np.tile(np.eye(CLASSES)[c] * scale, (windows, 1)) for c in classes]


def test_a_confidently_wrong_stream_is_softened_and_a_timid_right_one_sharpened():
    labels = np.arange(40) % CLASSES
    wrong_sometimes = one_hot_scores([(c + 1) % CLASSES if i % 4 == 0 else c for i, c in enumerate(labels)], 12.0)
    assert fit_temperature(wrong_sometimes, labels) > 1.5
    timid = one_hot_scores(list(labels), 1.0)
    assert fit_temperature(timid, labels) == TEMPERATURES[0]  # always right: as sharp as the grid allows
    # right on 3 clips in 4, each time 0.75 sure (the other 9 classes share 0.25): already calibrated
    calibrated = one_hot_scores([(c + 1) % CLASSES if i % 4 == 0 else c for i, c in enumerate(labels)], np.log(27))
    assert fit_temperature(calibrated, labels) == 1.0


def late_model() -> DanceClassifier:
    torch.manual_seed(0)
    return DanceClassifier(default_config("tcn", streams=["pose", "flow"], fusion="late")).eval()


def clips(count: int, steps: int = 40) -> list[dict[str, np.ndarray]]:
    return [{stream: tensor[0].numpy() for stream, tensor in inputs(1, steps, ("pose", "flow")).items()}
            for _ in range(count)]


def test_temperatures_divide_each_streams_scores_before_the_mean():
    model = late_model()
    model.sequence.temperatures = {"flow": 0.5, "pose": 2.0}  # by name, whatever the order
    batch = inputs(3, 12, ("pose", "flow"))
    with torch.inference_mode():
        pose_scores, flow_scores = model.sequence.stream_scores(model.frame_features(batch), None)
        expected = (torch.softmax(pose_scores / 2, -1) + torch.softmax(flow_scores / 0.5, -1)) / 2
        torch.testing.assert_close(torch.softmax(model(batch), -1), expected)


def test_calibration_fits_each_stream_on_the_clips_and_the_model_then_scores_as_the_fit_did():
    model, validation = late_model(), clips(12)
    labels = np.arange(12) % CLASSES
    uncalibrated = clip_probabilities(model, validation, "cpu")
    calibration = calibrate(model, validation, labels, "cpu")
    assert calibration["method"] == "temperature" and calibration["clips"] == 12
    assert model.sequence.temperatures == calibration["temperatures"]
    assert all(t in [round(grid, 4) for grid in TEMPERATURES] for t in calibration["temperatures"].values())
    # the scores it fit on are each stream's own, before any temperature
    pose_windows = stream_window_scores(model, validation, "cpu")[0]
    assert calibration["temperatures"]["pose"] == fit_temperature(pose_windows, labels)
    # evaluate and classify, through the model, see the fused probabilities the fit reported
    calibrated = clip_probabilities(model, validation, "cpu")
    for probabilities, when in ((uncalibrated, "before"), (calibrated, "after")):
        assert calibration[f"val_loss_{when}"] == pytest.approx(negative_log_likelihood(probabilities, labels),
                                                               abs=1e-4)
        accuracy = (probabilities.argmax(1) == labels).mean()
        assert calibration[f"val_accuracy_{when}"] == pytest.approx(accuracy, abs=1e-4)  # rounded to 4 places
    assert calibration["val_loss_after"] < calibration["val_loss_before"]  # random scores: a temperature helps


def test_a_recorded_calibration_is_applied_on_load_and_one_that_does_not_fit_is_refused(tmp_path):
    model = late_model()
    apply_calibration(model, {"calibration": {"temperatures": {"pose": 0.5, "flow": 2.0}}}, tmp_path)
    assert model.sequence.temperatures == {"pose": 0.5, "flow": 2.0}
    apply_calibration(model, {}, tmp_path)  # none recorded: unchanged
    assert model.sequence.temperatures == {"pose": 0.5, "flow": 2.0}
    with pytest.raises(WeightsError, match="does not fit"):
        apply_calibration(model, {"calibration": {"temperatures": {"rgb": 1.0, "flow": 2.0}}}, tmp_path)
    early = DanceClassifier(default_config("tcn", streams=["pose", "flow"], fusion="early"))
    with pytest.raises(WeightsError, match="does not fit"):
        apply_calibration(early, {"calibration": {"temperatures": {"pose": 1.0, "flow": 2.0}}}, tmp_path)


def test_the_training_table_shows_the_stream_temperatures():
    import io

    from rich.console import Console

    from dancestyle.render import training_table

    summary = {"out": "runs/x", "model": "tcn", "clips": {"train": 8, "val": 4}, "epochs_run": 2, "best_epoch": 2,
               "best_val_accuracy": 0.5}
    calibration = {"temperatures": {"pose": 0.25, "flow": 1.4142}, "val_loss_before": 0.05, "val_loss_after": 0.04,
                   "val_accuracy_before": 0.98, "val_accuracy_after": 1.0}
    shown = []
    for extra in ({}, {"calibration": calibration}):
        console = Console(file=io.StringIO(), width=200)
        console.print(training_table({**summary, **extra}))
        shown.append(console.file.getvalue())
    assert "temperatures" not in shown[0]
    assert "pose 0.25, flow 1.4142 (val loss 0.050 → 0.040, accuracy 0.980 → 1.000)" in shown[1]
