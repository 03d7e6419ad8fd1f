"""Train/serve parity, end to end: for one generated video, the features `train`'s extraction caches for it (as a
<style>/<video> dataset) equal, to float16 rounding, the features `classify` feeds the classifier at the same
sampled instants, for every model's layouts of every stream. Either path changing alone fails here."""

import numpy as np
import pytest

from media import index_frame, make_video

from dancestyle.flow import FlowSettings

FLOW = FlowSettings(size=32, pairs=3, bound=2.5)  # small, and not the default: the settings must travel too


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("parity") / "videos"
    (root / "ballet").mkdir(parents=True)
    (root / "waltz").mkdir()
    # index frames (new content every frame for rgb and pose; the first is dark, where the fake pose backend finds
    # nobody) with a checkered block moving right, for flow
    checkers = np.kron([[1, 0] * 2, [0, 1] * 2] * 2, np.ones((4, 4)))[..., None] * 160
    images = [index_frame(i, 64, 96) for i in range(75)]
    for i, image in enumerate(images):
        image[40:56, 2 * i % 48:2 * i % 48 + 16] = checkers
    make_video(root / "ballet" / "clip.mp4", frames=75, size=(64, 96), images=images)
    make_video(root / "waltz" / "other.mp4", frames=30, size=(64, 96))
    return root


def trained_features(options, index):
    """What train makes for the run: its recipe and cached features (train.py), and its config.json."""
    from dancestyle.train import _checkpoint_config, _extract, model_config

    recipe, features = _extract(options, index)
    return features, _checkpoint_config(model_config(options, list(index.classes)), options, index, recipe)


@pytest.mark.parametrize("stream", ["rgb", "pose", "flow"])
@pytest.mark.parametrize("model", ["lstm", "tcn", "frame", "r3d"])
def test_classify_computes_the_features_training_cached(dataset, model, stream, home, fake_pose, tmp_path,
                                                        monkeypatch):
    from dancestyle.checkpoints import save_checkpoint
    from dancestyle.configs import TrainOptions
    from dancestyle.data import index_for_training, letsdance_classes
    from dancestyle.geometry import cache_stride
    from dancestyle.models import DanceClassifier
    from dancestyle.pipeline import DanceStylePipeline, load_model
    from dancestyle.train import model_config

    options = TrainOptions(model=model, data=dataset, streams=[stream], random_weights=True,
                           pose_source="estimator", pose="rtmpose-t", detector_size=48, flow=FLOW)
    index = index_for_training(dataset, letsdance_classes(options.classes))  # as train indexes it
    features, config = trained_features(options, index)
    clip = next(clip for clip in index.clips if clip.label == "ballet")
    cached = features.load(clip)[stream]
    classifier = DanceClassifier(model_config(options, list(index.classes)), FLOW)
    save_checkpoint(tmp_path / "run", classifier.state_dict(), config)

    fed = []  # what classify gives the classifier, window by window
    real = DanceStylePipeline._probabilities
    monkeypatch.setattr(DanceStylePipeline, "_probabilities", lambda self, inputs, timings: fed.append(
        inputs[stream].cpu().numpy()) or real(self, inputs, timings))
    pipeline = load_model(model, weights=str(tmp_path / "run"), device="cpu")
    pipeline.classify(clip.video)

    assert len(fed) == 1  # a 2.5 s video: one window, every sample of it
    step = classifier.config.stride // cache_stride(classifier.config.stride)
    same_instants = cached[::step]
    assert fed[0].shape == same_instants.shape and len(fed[0]) > 1
    if cached.dtype == np.float16:  # the cache keeps rgb features and flow stacks in float16
        np.testing.assert_array_equal(fed[0].astype(np.float16), same_instants)
    else:  # poses (float32) and r3d's frames (uint8) are cached as made
        assert fed[0].dtype == cached.dtype
        np.testing.assert_array_equal(fed[0], same_instants)
    assert np.abs(cached.astype(np.float32)).sum() > 0  # something was made
