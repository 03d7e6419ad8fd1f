"""Weights from the Hub, exercised for real against a stand-in Hub on 127.0.0.1 (tests/hub_server.py).

huggingface_hub reads its settings once, at import (huggingface_hub.constants). In-process tests patch the
names its download code reads at call time: constants.HUGGINGFACE_CO_URL_TEMPLATE (the resolve URL is built
from it; < 1.0 also keeps a copy in file_download), constants.ENDPOINT (HfApi), constants.HF_HUB_CACHE (the
default cache_dir), constants.HF_HUB_OFFLINE (2.x checks it before every request; < 1.0 when it creates its
session, hence reset_sessions), plus telemetry and implicit token off so nothing reads or writes ~/.cache.
The CLI tests run a subprocess with the environment variables instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys

import pytest
import torch

from dancestyle.errors import ChecksumError, WeightsError
from dancestyle.models import CLASSES, DanceClassifier, default_config
from dancestyle.pipeline import checkpoint_config, load_model
from dancestyle.weights import (
    CONFIG_FILE,
    RESNET18,
    WEIGHTS_FILE,
    HubFile,
    fetch_checkpoint,
    hub_download,
    parse_weights_ref,
    read_checkpoint,
    save_checkpoint,
)

from hub_server import StandInHub
from media import make_video

REPO = "org/name"


# -- fixtures and helpers --------------------------------------------------------------------------------------------


def _reset_sessions() -> None:
    """huggingface_hub < 1 decides offline-or-not when it creates its (cached) requests session: drop it."""
    from huggingface_hub import utils

    if hasattr(utils, "reset_sessions"):
        utils.reset_sessions()


def _point_huggingface_hub_at(monkeypatch, url: str, cache: str) -> None:
    from huggingface_hub import constants, file_download

    template = url + "/{repo_id}/resolve/{revision}/{filename}"
    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    if hasattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE"):  # < 1.0 builds URLs from its own imported copy
        monkeypatch.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", cache)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)  # no agent-registry fetch into ~/.cache
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", True)  # never send a user's token
    _reset_sessions()


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running stand-in Hub that huggingface_hub (in this process) talks to, with its cache in tmp."""
    server = StandInHub().start()
    _point_huggingface_hub_at(monkeypatch, server.url, str(tmp_path / "hf-cache"))
    monkeypatch.setenv("DANCESTYLE_HOME", str(tmp_path / "home"))
    yield server
    server.stop()
    monkeypatch.undo()
    _reset_sessions()


def go_offline(monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _reset_sessions()


def make_checkpoint(directory, streams=("rgb",), seed=0) -> tuple[dict, dict[str, bytes]]:
    """A real random LSTM checkpoint in `directory`: (its state dict, its files as served by a Hub repo)."""
    torch.manual_seed(seed)
    classifier = DanceClassifier(default_config("lstm", streams=list(streams)))
    state = {name: tensor.clone() for name, tensor in classifier.state_dict().items()}
    save_checkpoint(directory, state, checkpoint_config(classifier.config.to_dict()))
    return state, {name: (directory / name).read_bytes() for name in (CONFIG_FILE, WEIGHTS_FILE)}


def assert_same_tensors(actual: dict, expected: dict) -> None:
    assert sorted(actual) == sorted(expected)
    for name, tensor in expected.items():
        assert torch.equal(actual[name], tensor), name


@pytest.fixture(scope="module")
def resnet18_bytes() -> bytes:
    """A random torchvision ResNet-18 in safetensors: exactly the shapes of the pinned ImageNet weights."""
    from safetensors.torch import save
    from torchvision.models import resnet18

    torch.manual_seed(0)
    return save({name: tensor.contiguous() for name, tensor in resnet18(weights=None).state_dict().items()})


@pytest.fixture
def served_resnet18(hub, resnet18_bytes, monkeypatch) -> HubFile:
    """Serve the random ResNet-18 at the pinned revision only (not at main), and pin its sha256 in the code."""
    hub.publish(RESNET18.repo, {RESNET18.filename: resnet18_bytes}, branch=None, commit=RESNET18.revision)
    pinned = HubFile(RESNET18.repo, RESNET18.filename, RESNET18.revision, hashlib.sha256(resnet18_bytes).hexdigest())
    monkeypatch.setattr("dancestyle.weights.RESNET18", pinned)
    return pinned


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("clips") / "clip.mp4", frames=30, fps=30, size=(64, 48))


# -- the stand-in itself ---------------------------------------------------------------------------------------------


def test_stand_in_answers_like_the_hub(hub):
    """Guards the stand-in: headers hf_hub_download relies on, and snapshot_download's API calls."""
    import httpx2
    from huggingface_hub import snapshot_download

    commit = hub.publish(REPO, {"a.txt": b"hello", "sub/b.bin": b"\0" * 10})
    head = httpx2.head(f"{hub.url}/{REPO}/resolve/main/a.txt")
    assert head.status_code == 200 and head.headers["X-Repo-Commit"] == commit
    assert head.headers["ETag"] == f'"{hashlib.sha256(b"hello").hexdigest()}"'
    assert head.headers["Content-Length"] == "5"
    missing = httpx2.head(f"{hub.url}/{REPO}/resolve/main/nope")
    assert (missing.status_code, missing.headers["X-Error-Code"]) == (404, "EntryNotFound")
    assert httpx2.head(f"{hub.url}/org/nope/resolve/main/a.txt").headers["X-Error-Code"] == "RepoNotFound"
    assert httpx2.get(f"{hub.url}/api/models/{REPO}/revision/main").json()["sha"] == commit

    snapshot = snapshot_download(REPO)  # 1.x/2.x also list /api/models/{repo}/tree/{commit}
    assert os.path.basename(snapshot) == commit
    assert open(os.path.join(snapshot, "a.txt"), "rb").read() == b"hello"
    assert open(os.path.join(snapshot, "sub", "b.bin"), "rb").read() == b"\0" * 10


# -- 1. download -----------------------------------------------------------------------------------------------------


def test_fetch_checkpoint_downloads_a_checkpoint_that_reads_back_equal(hub, tmp_path):
    state, files = make_checkpoint(tmp_path / "made")
    commit = hub.publish(REPO, files)

    directory = fetch_checkpoint(REPO)

    assert directory.name == commit and directory.resolve().is_relative_to((tmp_path / "hf-cache").resolve())
    config, loaded = read_checkpoint(directory)
    assert_same_tensors(loaded, state)
    assert config["model"]["streams"] == ["rgb"]
    assert config["weights_sha256"] == hashlib.sha256(files[WEIGHTS_FILE]).hexdigest()
    assert hub.count("GET", f"/{REPO}/resolve/") == 2  # config.json and model.safetensors, once each


# -- 2. revision pin -------------------------------------------------------------------------------------------------


def test_a_revision_pin_gets_that_revision_and_no_revision_gets_main(hub, tmp_path):
    old_state, old_files = make_checkpoint(tmp_path / "old", seed=1)
    new_state, new_files = make_checkpoint(tmp_path / "new", seed=2)
    old = hub.publish(REPO, old_files)
    hub.tag(REPO, "v1", old)
    new = hub.publish(REPO, new_files)  # main moves on
    assert old != new

    for ref, commit, state in [(f"{REPO}@{old}", old, old_state), (f"{REPO}@v1", old, old_state),
                               (REPO, new, new_state)]:
        directory, repo, revision = parse_weights_ref(ref)
        assert directory is None and repo == REPO
        fetched = fetch_checkpoint(repo, revision)
        assert fetched.name == commit, ref
        assert_same_tensors(read_checkpoint(fetched)[1], state)


def test_an_unknown_revision_is_a_weights_error(hub, tmp_path):
    hub.publish(REPO, make_checkpoint(tmp_path / "made")[1])
    with pytest.raises(WeightsError, match="has no revision 'v9'"):
        fetch_checkpoint(REPO, "v9")


# -- 3. checksums ----------------------------------------------------------------------------------------------------


def test_a_wrong_sha256_is_downloaded_once_more_then_raises_checksum_error(hub):
    hub.publish(REPO, {WEIGHTS_FILE: b"not what was pinned"})

    with pytest.raises(ChecksumError) as raised:
        hub_download(REPO, WEIGHTS_FILE, sha256="0" * 64)

    assert f"{REPO}@main/{WEIGHTS_FILE}" in raised.value.message and "000000000000" in raised.value.message
    assert "cache" in raised.value.hint
    assert hub.count("GET", f"/{REPO}/resolve/main/{WEIGHTS_FILE}") == 2  # the download and exactly one retry


def test_a_corrupted_cached_file_is_downloaded_again(hub):
    data = b"the real weights"
    sha256 = hashlib.sha256(data).hexdigest()
    hub.publish(REPO, {WEIGHTS_FILE: data})
    path = hub_download(REPO, WEIGHTS_FILE, sha256=sha256)
    path.write_bytes(b"bit rot")  # through the snapshot link into the cached blob

    again = hub_download(REPO, WEIGHTS_FILE, sha256=sha256)

    assert again.read_bytes() == data
    assert hub.count("GET", f"/{REPO}/resolve/main/{WEIGHTS_FILE}") == 2


def test_a_corrupted_cached_file_offline_is_a_checksum_error(hub, monkeypatch):
    """Offline, the one re-download cannot happen: still a ChecksumError (a WeightsError the CLI reports)."""
    data = b"the real weights"
    sha256 = hashlib.sha256(data).hexdigest()
    hub.publish(REPO, {WEIGHTS_FILE: data})
    hub_download(REPO, WEIGHTS_FILE, sha256=sha256).write_bytes(b"bit rot")
    go_offline(monkeypatch)
    seen = hub.count()

    with pytest.raises(ChecksumError):
        hub_download(REPO, WEIGHTS_FILE, sha256=sha256)
    assert hub.count() == seen


def test_weights_that_differ_from_the_sha256_in_config_json_are_refused(tmp_path):
    directory = tmp_path / "made"
    make_checkpoint(directory)
    weights = directory / WEIGHTS_FILE
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF  # still a loadable safetensors file: only the recorded hash can tell
    weights.write_bytes(bytes(data))

    with pytest.raises(ChecksumError, match="sha256 recorded in its config.json"):
        read_checkpoint(directory)


def test_a_hub_checkpoint_whose_weights_are_not_the_recorded_ones_is_refused(hub, tmp_path):
    _, files = make_checkpoint(tmp_path / "a", seed=1)
    _, other = make_checkpoint(tmp_path / "b", seed=2)
    hub.publish(REPO, {CONFIG_FILE: files[CONFIG_FILE], WEIGHTS_FILE: other[WEIGHTS_FILE]})

    with pytest.raises(ChecksumError):
        read_checkpoint(fetch_checkpoint(REPO))
    with pytest.raises(ChecksumError):
        load_model("lstm", weights=REPO, device="cpu")


# -- 4. offline reuse ------------------------------------------------------------------------------------------------


def test_offline_a_downloaded_checkpoint_is_reused_without_any_request(hub, tmp_path, monkeypatch):
    state, files = make_checkpoint(tmp_path / "made")
    commit = hub.publish(REPO, files)
    online = fetch_checkpoint(REPO)
    pinned = fetch_checkpoint(REPO, commit)
    seen = hub.count()
    hub.stop()
    go_offline(monkeypatch)

    assert fetch_checkpoint(REPO) == online
    assert fetch_checkpoint(REPO, commit) == pinned == online
    assert_same_tensors(read_checkpoint(online)[1], state)
    assert hub.count() == seen


def test_an_unreachable_hub_falls_back_to_the_cache(hub, tmp_path):
    """Not HF_HUB_OFFLINE, just no answer (connection refused): the cached snapshot is used."""
    state, files = make_checkpoint(tmp_path / "made")
    hub.publish(REPO, files)
    online = fetch_checkpoint(REPO)
    hub.stop()

    assert fetch_checkpoint(REPO) == online
    assert_same_tensors(read_checkpoint(online)[1], state)


def test_offline_a_file_never_downloaded_says_it_is_not_cached_and_what_to_do(hub, tmp_path, monkeypatch):
    hub.publish(REPO, make_checkpoint(tmp_path / "made")[1])
    hub_download(REPO, CONFIG_FILE)
    go_offline(monkeypatch)
    seen = hub.count()

    for call in (lambda: hub_download(REPO, WEIGHTS_FILE), lambda: fetch_checkpoint("org/other")):
        with pytest.raises(WeightsError) as raised:
            call()
        assert not isinstance(raised.value, ChecksumError)
        assert "is not in the Hugging Face cache" in raised.value.message
        assert "--weights DIR" in raised.value.hint and "internet" in raised.value.hint
    assert hub.count() == seen


# -- 5. missing repo / file ------------------------------------------------------------------------------------------


def test_a_missing_repo_is_a_weights_error(hub):
    with pytest.raises(WeightsError, match="The Hub repo org/missing does not exist or is private"):
        fetch_checkpoint("org/missing")
    with pytest.raises(WeightsError, match="org/missing does not exist"):
        load_model("lstm", weights="org/missing", device="cpu")


def test_a_repo_without_the_weights_file_is_a_weights_error(hub, tmp_path):
    hub.publish(REPO, {CONFIG_FILE: make_checkpoint(tmp_path / "made")[1][CONFIG_FILE]})
    with pytest.raises(WeightsError, match=f"The Hub repo {REPO} has no file {WEIGHTS_FILE} at [0-9a-f]{{40}}"):
        fetch_checkpoint(REPO)


def test_no_local_run_and_no_default_repo_says_what_to_do(hub):
    with pytest.raises(WeightsError) as raised:
        load_model("lstm", device="cpu")
    assert "No lstm weights" in raised.value.message and "dancestyle/letsdance-lstm" in raised.value.message
    assert "--random-weights" in raised.value.hint and "dancestyle train" in raised.value.hint


# -- the pipeline and the CLI through the stand-in -------------------------------------------------------------------


def test_load_model_from_the_hub_classifies_and_works_offline_afterwards(hub, served_resnet18, tmp_path, clip,
                                                                          monkeypatch):
    state, files = make_checkpoint(tmp_path / "made")
    hub.publish(REPO, files)
    hub.publish("dancestyle/letsdance-lstm", files)  # the model's default repo

    for weights in (REPO, None):
        pipeline = load_model("lstm", weights=weights, device="cpu")
        assert pipeline.source == (weights or "dancestyle/letsdance-lstm")
        assert pipeline.rgb is not None and pipeline.pose is None
        assert_same_tensors(pipeline.classifier.state_dict(), state)
        prediction = pipeline.classify(clip)
        assert prediction.label in CLASSES and prediction.random_weights is False
        assert prediction.frames >= 1 and len(prediction.top_k) == 3
    assert hub.count("GET", f"/{RESNET18.repo}/resolve/{RESNET18.revision}/") == 1  # pinned, downloaded once

    seen = hub.count()
    hub.stop()
    go_offline(monkeypatch)
    assert load_model("lstm", weights=REPO, device="cpu").classify(clip).label == prediction.label
    assert hub.count() == seen


def test_cli_classify_with_hub_weights_prints_a_json_record(hub, served_resnet18, tmp_path, clip):
    from typer.testing import CliRunner

    from dancestyle.cli import app

    hub.publish(REPO, make_checkpoint(tmp_path / "made")[1])
    result = CliRunner().invoke(app, ["classify", str(clip), "--weights", REPO, "--json", "--device", "cpu"])

    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert record["path"] == str(clip) and record["label"] in CLASSES and record["random_weights"] is False


def _run_cli(hub: StandInHub, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("HF_", "HUGGINGFACE_"))}
    env.update(HF_ENDPOINT=hub.url, HF_HOME=str(tmp_path / "hf-home"), HF_HUB_CACHE=str(tmp_path / "hf-cache"),
               HF_HUB_DISABLE_TELEMETRY="1", HF_HUB_DISABLE_IMPLICIT_TOKEN="1", HF_HUB_OFFLINE="0",
               DANCESTYLE_HOME=str(tmp_path / "home"), TORCH_HOME=str(tmp_path / "torch"),
               NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost")
    return subprocess.run([sys.executable, "-m", "dancestyle", "classify", *args], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)


def test_cli_reports_weights_that_cannot_be_had_as_json_errors(hub, resnet18_bytes, tmp_path, clip):
    """A subprocess with HF_ENDPOINT set: the classifier comes from the stand-in, the ResNet-18 it serves at the
    pinned revision is random so it fails the real pin's sha256; a missing repo fails earlier."""
    hub.publish(REPO, make_checkpoint(tmp_path / "made")[1])
    hub.publish(RESNET18.repo, {RESNET18.filename: resnet18_bytes}, branch=None, commit=RESNET18.revision)

    result = _run_cli(hub, tmp_path, str(clip), "--weights", REPO, "--json", "--device", "cpu")

    assert result.returncode == 1, result.stderr
    record = json.loads(result.stdout)
    assert record["path"] == str(clip) and record["error"]["type"] == "ChecksumError"
    assert f"{RESNET18.repo}@{RESNET18.revision}/{RESNET18.filename}" in record["error"]["message"]
    assert "error:" in result.stderr and "Traceback" not in result.stderr
    assert hub.count("GET", f"/{REPO}/resolve/") == 2  # config at main, then weights at its commit
    assert hub.count("GET", f"/{RESNET18.repo}/resolve/{RESNET18.revision}/") == 2  # one retry, then give up

    result = _run_cli(hub, tmp_path, str(clip), "--weights", "org/missing", "--json")

    assert result.returncode == 1, result.stderr
    record = json.loads(result.stdout)
    assert record["error"]["type"] == "WeightsError"
    assert "org/missing does not exist" in record["error"]["message"]
