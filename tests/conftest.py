import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/media.py and friends


class FakePoseEstimator:
    """Stands in for Keypoint R-CNN where a test is about the pipeline, not the detector: two people in a
    bright frame, nobody in a dark one (so the 'no person found' path is reachable)."""

    built: list = []  # (backend, frame size, random_weights) of every estimator built, oldest first

    def __init__(self, backend="rtmpose-t", device="cpu", frame_size=512, random_weights=False):
        self.backend, self.frame_size = backend, frame_size
        self.calls = 0
        FakePoseEstimator.built.append((backend, frame_size, random_weights))

    def estimate(self, images):
        self.calls += 1
        # skeletons that depend on the frame's content, so different frames give different poses
        return [np.random.default_rng(int(image.mean() * 1000)).uniform(0, 50, (2, 17, 2)).astype(np.float32)
                if image.mean() > 10 else np.zeros((0, 17, 2), np.float32) for image in images]


@pytest.fixture
def fake_pose(monkeypatch):
    """Every pose backend the pipeline or feature extraction builds is a FakePoseEstimator."""
    FakePoseEstimator.built = []
    monkeypatch.setattr("dancestyle.maker.create_pose_estimator", FakePoseEstimator)
    return FakePoseEstimator


@pytest.fixture
def isolated_home(tmp_path, monkeypatch):
    """DANCESTYLE_HOME and the Hugging Face cache in tmp, Hub offline: no test touches ~ or the network."""
    import huggingface_hub.constants as hub

    home = tmp_path / "home"
    monkeypatch.setenv("DANCESTYLE_HOME", str(home))
    monkeypatch.setattr(hub, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(hub, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    return home


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A small synthetic corpus (4 styles x 8 clips of 4 s at 64 x 48) shared by the training tests. Its skeleton
    files are exact (pose_noise "clean"): the tests check that training learns a few clips in a few epochs, which
    a real detector's noise would take many more to get through."""
    from dancestyle.synthetic import generate_corpus
    from media import SMALL_CORPUS_STYLES

    root = tmp_path_factory.mktemp("corpus") / "synthetic"
    generate_corpus(root, clips_per_class=8, seed=1, frames_per_clip=120, size=(64, 48), classes=SMALL_CORPUS_STYLES,
                    pose_noise="clean")
    return root


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("DANCESTYLE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"
