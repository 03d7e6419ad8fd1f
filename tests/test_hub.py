"""Weights from the Hub, exercised for real against a stand-in Hub on 127.0.0.1 (tests/hub_server.py).

huggingface_hub reads its settings once, at import (huggingface_hub.constants). In-process tests patch the
names its download code reads at call time: constants.HUGGINGFACE_CO_URL_TEMPLATE (the resolve URL is built
from it; < 1.0 also keeps a copy in file_download), constants.ENDPOINT (HfApi), constants.HF_HUB_CACHE (the
default cache_dir), constants.HF_HUB_OFFLINE (2.x checks it before every request; < 1.0 when it creates its
session, hence reset_sessions), plus telemetry and implicit token off so nothing reads or writes ~/.cache.
Uploads need a token: log_in() gives one through HF_TOKEN. The CLI tests run a subprocess with the environment
variables instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time

import pytest
import torch

from dancestyle.errors import ChecksumError, WeightsError
from dancestyle.models import CLASSES, DanceClassifier, default_config
from dancestyle.checkpoints import checkpoint_config, classifier_source
from dancestyle.pipeline import load_model
from dancestyle.published import PUBLISHED, PublishedCheckpoint
from dancestyle.checkpoints import (
    CONFIG_FILE,
    METRICS_FILE,
    WEIGHTS_FILE,
    fetch_checkpoint,
    model_card,
    parse_weights_ref,
    push_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from dancestyle.weights import RESNET18, HubFile, hub_download

from hub_server import StandInHub, _Handler
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
    # 2.x uploads "lfs" files through hf_xet whenever it is installed, whatever the server says; the stand-in
    # speaks git LFS only, which is what the client does with HF_HUB_DISABLE_XET=1 (read at call time)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True, raising=False)
    monkeypatch.setattr("dancestyle.weights._unreachable_since", {})  # no test inherits another's dead Hub
    _reset_sessions()


def _pins_the_stand_in_can_serve(monkeypatch, server: StandInHub) -> None:
    """OpenMMLab's server is the stand-in too (/openmmlab/…: 404 until a test serves a file there) and the user's
    weights folder is not searched, so no test leaves 127.0.0.1 (the RTM pins themselves are loosened only where a
    test serves stand-in networks: test_pose_backends' served_rtmpose)."""
    from dancestyle import weights

    monkeypatch.setitem(weights.PUBLISHERS, "openmmlab", f"{server.url}/openmmlab")
    monkeypatch.delenv(weights.WEIGHTS_DIR_VARIABLE, raising=False)  # not the user's folder


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """A running stand-in Hub that huggingface_hub (in this process) talks to, with its cache in tmp; the pinned
    files' other sources point at it too."""
    server = StandInHub().start()
    _point_huggingface_hub_at(monkeypatch, server.url, str(tmp_path / "hf-cache"))
    _pins_the_stand_in_can_serve(monkeypatch, server)
    monkeypatch.setenv("DANCESTYLE_HOME", str(tmp_path / "home"))
    yield server
    server.stop()
    monkeypatch.undo()
    _reset_sessions()


def go_offline(monkeypatch) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    _reset_sessions()


def log_in(monkeypatch) -> None:
    """A token for the stand-in, as `hf auth login` or HF_TOKEN would give (the fixture turns tokens off)."""
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_DISABLE_IMPLICIT_TOKEN", False)
    monkeypatch.setenv("HF_TOKEN", "hf_stand_in_token")
    monkeypatch.delenv("HF_OIDC_RESOURCE", raising=False)  # would exchange a CI token over the network first


def make_checkpoint(directory, streams=("rgb",), seed=0, metrics=None) -> tuple[dict, dict[str, bytes]]:
    """A real random LSTM checkpoint in `directory`: (its state dict, its files as served by a Hub repo)."""
    torch.manual_seed(seed)
    classifier = DanceClassifier(default_config("lstm", streams=list(streams)))
    state = {name: tensor.clone() for name, tensor in classifier.state_dict().items()}
    save_checkpoint(directory, state, checkpoint_config(classifier.config.to_dict()), metrics)
    names = (CONFIG_FILE, WEIGHTS_FILE) + ((METRICS_FILE,) if metrics is not None else ())
    return state, {name: (directory / name).read_bytes() for name in names}


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


def test_stand_in_takes_commits_like_the_hub(hub, monkeypatch):
    """Guards the stand-in's upload side, through HfApi: what a commit does not name carries over, deletions
    apply, every commit stays, a stale parent or bad model card metadata is refused, writes need a token."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    with pytest.raises(HfHubHTTPError, match="401"):
        api.create_repo(REPO)
    log_in(monkeypatch)
    api.create_repo(REPO)
    with pytest.raises(HfHubHTTPError, match="409"):
        api.create_repo(REPO)
    (initial,) = hub.commits[REPO]

    first = api.create_commit(REPO, [CommitOperationAdd("a.txt", b"a"), CommitOperationAdd("b.txt", b"b")],
                              commit_message="one")
    second = api.create_commit(REPO, [CommitOperationDelete("a.txt"), CommitOperationAdd("c.txt", b"c")],
                               commit_message="two", parent_commit=first.oid)

    assert list(hub.commits[REPO]) == [initial, first.oid, second.oid] and hub.refs[REPO]["main"] == second.oid
    assert sorted(hub.commits[REPO][first.oid]) == [".gitattributes", "a.txt", "b.txt"]
    assert hub.commits[REPO][second.oid] == {**hub.commits[REPO][initial], "b.txt": b"b", "c.txt": b"c"}
    with pytest.raises(HfHubHTTPError, match="412"):
        api.create_commit(REPO, [CommitOperationAdd("d.txt", b"d")], commit_message="stale", parent_commit=first.oid)
    with pytest.raises(ValueError, match="Invalid metadata in README.md"):
        api.create_commit(REPO, [CommitOperationAdd("README.md", b"---\n- a list\n---\n")], commit_message="card")
    assert hub.refs[REPO]["main"] == second.oid


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


def test_a_relative_weights_path_that_is_missing_or_loops_is_a_path_error_not_a_hub_miss(tmp_path, monkeypatch):
    """Issue 28: `--weights runs/tcn-1` with runs/ here but no tcn-1 in it was looked up on the Hub."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "runs").mkdir()
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    for ref in ("runs/tcn-1", "loop"):
        with pytest.raises(WeightsError, match="no checkpoint directory there"):
            parse_weights_ref(ref)
    assert parse_weights_ref("org/name@v1") == (None, "org/name", "v1")  # no folder org here: a Hub repo id


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


def test_offline_without_resnet18_train_names_the_network_and_the_offline_way(hub, corpus, tmp_path, monkeypatch):
    """Issue 28: `train` said "pass --weights DIR ... or train one": train has no --weights, "train one" is
    circular, and `--streams pose` (which needs no ResNet-18) was not named."""
    from dancestyle.train import TrainOptions, train

    go_offline(monkeypatch)
    with pytest.raises(WeightsError) as raised:
        train(TrainOptions(model="attention", data=corpus, out=tmp_path / "run", epochs=1, streams=["rgb", "pose"]))
    assert raised.value.message.startswith("The rgb stream's ResNet-18")
    assert "--streams pose" in raised.value.hint and "--weights DIR" not in raised.value.hint


@pytest.fixture
def silent_url():
    """An http URL on 127.0.0.1 that neither accepts nor refuses: its listen backlog is full, so a connect waits
    until it times out, like a firewall that drops packets."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    fillers = [socket.socket() for _ in range(4)]
    for filler in fillers:
        filler.setblocking(False)
        filler.connect_ex(server.getsockname())
    yield "http://{}:{}".format(*server.getsockname())
    for sock in (*fillers, server):
        sock.close()


def test_an_unreachable_hub_fails_at_once_with_one_message_and_what_to_do(hub, tmp_path, monkeypatch):
    """Connection refused, HF_HUB_OFFLINE not set: no retries (2.x would spend 23 s in them), our message."""
    publish_entry(monkeypatch, "lstm", REPO, "a" * 40, "b" * 64)  # load_model reaches for a published checkpoint
    url = hub.url
    hub.stop()
    start = time.monotonic()
    for call in (lambda: fetch_checkpoint(REPO), lambda: load_model("lstm", device="cpu")):
        with pytest.raises(WeightsError) as raised:
            call()
        assert (f"is not in the Hugging Face cache ({tmp_path / 'hf-cache'}) and the Hub at {url} cannot be "
                "reached") in raised.value.message
        assert "--weights DIR" in raised.value.hint
    assert "--random-weights" in raised.value.hint and "dancestyle train" in raised.value.hint
    assert time.monotonic() - start < 5


def test_a_hub_that_never_answers_costs_one_short_check_and_the_cache_still_answers(hub, tmp_path, silent_url,
                                                                                    monkeypatch):
    hub.publish(REPO, make_checkpoint(tmp_path / "made")[1])
    online = fetch_checkpoint(REPO)
    _point_huggingface_hub_at(monkeypatch, silent_url, str(tmp_path / "hf-cache"))
    monkeypatch.setattr("dancestyle.weights.HUB_PROBE_TIMEOUT", 0.5)
    start = time.monotonic()

    assert fetch_checkpoint(REPO) == online  # main's snapshot, from the cache
    with pytest.raises(WeightsError) as raised:
        fetch_checkpoint("org/other")
    assert f"the Hub at {silent_url} cannot be reached" in raised.value.message
    # one 0.5 s check, remembered; huggingface_hub alone waits 10 s per HEAD, then retries with 60 s timeouts
    assert time.monotonic() - start < 2


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


def test_no_local_run_and_nothing_published_says_what_to_do_without_a_request(hub, monkeypatch):
    monkeypatch.setattr("dancestyle.published.PUBLISHED", {})  # as today: nothing published
    with pytest.raises(WeightsError) as raised:
        load_model("lstm", device="cpu")
    assert raised.value.message.startswith("No lstm classifier is published yet")
    assert "letsdance" not in str(raised.value) and "Run once online" not in raised.value.hint
    for way in ("dancestyle fetch-dataset", "dancestyle train --model lstm", "--weights DIR|ORG/NAME",
                "--random-weights"):
        assert way in raised.value.hint
    assert hub.count() == 0  # no Hub repo was even asked


# -- 5b. a published checkpoint (published.py) -----------------------------------------------------------------------


def publish_entry(monkeypatch, model: str, repo: str, commit: str, sha256: str) -> PublishedCheckpoint:
    """Put one checkpoint in the published table, as the reviewed one-line change would."""
    entry = PublishedCheckpoint(model, repo, commit, sha256, "synthetic corpus (a test)", 0.5)
    monkeypatch.setitem(PUBLISHED, model, entry)
    return entry


def test_a_published_checkpoint_is_the_default_at_its_pinned_commit(hub, tmp_path, monkeypatch):
    state, files = make_checkpoint(tmp_path / "made")
    pinned = hub.publish(REPO, files)
    hub.publish(REPO, make_checkpoint(tmp_path / "later", seed=1)[1])  # main moves on: the pin does not
    entry = publish_entry(monkeypatch, "lstm", REPO, pinned, hashlib.sha256(files[WEIGHTS_FILE]).hexdigest())

    directory, source = classifier_source("lstm", None)

    assert (directory.name, source) == (pinned, f"{REPO}@{pinned}") and source == entry.ref
    assert_same_tensors(read_checkpoint(directory)[1], state)


def test_a_published_checkpoint_whose_weights_are_not_the_pinned_ones_is_refused(hub, tmp_path, monkeypatch):
    files = make_checkpoint(tmp_path / "made")[1]
    commit = hub.publish(REPO, files)
    publish_entry(monkeypatch, "lstm", REPO, commit, "0" * 64)

    with pytest.raises(ChecksumError) as raised:
        classifier_source("lstm", None)

    assert f"{REPO}@{commit}" in raised.value.message and "the published 000000000000" in raised.value.message
    assert "--weights" in raised.value.hint
    assert hub.count("GET", f"/{REPO}/resolve/{commit}/{WEIGHTS_FILE}") == 0  # not downloaded at all

    other = make_checkpoint(tmp_path / "other", seed=1)[1][WEIGHTS_FILE]
    commit = hub.publish(REPO, {**files, WEIGHTS_FILE: other})  # config.json claims the pinned weights; not so
    publish_entry(monkeypatch, "lstm", REPO, commit, json.loads(files[CONFIG_FILE])["weights_sha256"])
    with pytest.raises(ChecksumError, match=f"{REPO}@{commit}/{WEIGHTS_FILE} does not match its expected sha256"):
        classifier_source("lstm", None)


# -- 6. push ---------------------------------------------------------------------------------------------------------

PUSHED = "someone/letsdance-test"


def make_run(directory) -> tuple[dict, dict[str, bytes]]:
    """A finished training run: a checkpoint with metrics.json, and the resume/ state training leaves beside it."""
    metrics = {"model": "lstm", "synthetic": True, "epochs_run": 3, "best_epoch": 2, "best_val_accuracy": 0.625}
    state, files = make_checkpoint(directory, metrics=metrics)
    (directory / "resume").mkdir()
    (directory / "resume" / "state.safetensors").write_bytes(b"optimizer state, not a model")
    return state, files


def test_push_checkpoint_uploads_one_commit_that_downloads_back_equal(hub, tmp_path, monkeypatch):
    log_in(monkeypatch)
    state, files = make_run(tmp_path / "run")

    url = push_checkpoint(tmp_path / "run", PUSHED)

    assert url == f"{hub.url}/{PUSHED}"
    # the weights went the way they go to the Hub: git LFS (batch call, one PUT of the bytes, verify), the commit
    # only pointing to them by sha256; the small text files went inline, base64 in the commit
    weights = hashlib.sha256(files[WEIGHTS_FILE]).hexdigest()
    assert hub.count("POST", f"/{PUSHED}.git/info/lfs/objects/batch") == 1
    assert hub.count("PUT", f"/lfs-objects/{PUSHED}/{weights}") == hub.count("PUT") == 1
    assert hub.count("POST", f"/{PUSHED}.git/info/lfs/objects/verify") == 1
    assert hub.lfs[PUSHED] == {weights: files[WEIGHTS_FILE]}
    (lines,) = hub.commit_lines
    sent = {line["value"]["path"]: line for line in lines[1:]}
    assert sent[WEIGHTS_FILE] == {"key": "lfsFile", "value": {"path": WEIGHTS_FILE, "algo": "sha256", "oid": weights,
                                                               "size": len(files[WEIGHTS_FILE])}}
    assert {name: line["key"] for name, line in sent.items() if name != WEIGHTS_FILE} == dict.fromkeys(
        ["README.md", CONFIG_FILE, METRICS_FILE], "file")
    initial, pushed = hub.commits[PUSHED]  # create_repo's .gitattributes commit, then ONE commit with everything
    assert hub.refs[PUSHED]["main"] == pushed
    assert hub.count("POST", f"/api/models/{PUSHED}/commit/") == 1
    assert sorted(hub.commits[PUSHED][initial]) == [".gitattributes"]
    tree = hub.commits[PUSHED][pushed]
    assert sorted(tree) == sorted([".gitattributes", "README.md", CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE])
    assert {name: tree[name] for name in files} == files  # byte for byte; nothing from resume/
    card = tree["README.md"].decode()
    assert card == model_card(tmp_path / "run", PUSHED)
    assert card.startswith("---\nlibrary_name: dancestyle\n") and f"# {PUSHED}\n" in card
    assert "A `lstm` dance-style classifier" in card and f"--weights {PUSHED}`" in card
    assert "synthetic corpus" in card and "best validation accuracy 0.625 at epoch 2 of 3" in card

    directory, source = classifier_source("lstm", PUSHED)  # what `classify --weights someone/letsdance-test` does
    assert (directory.name, source) == (pushed, PUSHED)
    config, loaded = read_checkpoint(directory)
    assert_same_tensors(loaded, state)
    assert config == json.loads(files[CONFIG_FILE])

    push_checkpoint(tmp_path / "run", PUSHED)  # the same files again: the client sends no empty commit
    assert list(hub.commits[PUSHED]) == [initial, pushed]
    assert hub.count("POST", f"/api/models/{PUSHED}/commit/") == 1
    assert hub.count("POST", f"/{PUSHED}.git/info/lfs/objects/batch") == 2 and hub.count("PUT") == 1  # stored


def test_the_stand_in_refuses_lfs_bytes_that_are_not_the_object_announced(hub, monkeypatch):
    """Guards the stand-in's LFS side, through HfApi: an upload must be the object (sha256, size) its batch call
    announced, and a commit may only point to stored objects; so the push test can fail."""
    import httpx2
    from huggingface_hub import CommitOperationAdd, HfApi

    log_in(monkeypatch)
    api = HfApi()
    api.create_repo(REPO)
    head = hub.refs[REPO]["main"]
    real, other = b"\0real weights", b"\0other weights"
    forged = CommitOperationAdd("w.bin", real)
    forged.upload_info.sha256 = hashlib.sha256(other).digest()  # announces one object, uploads another

    with pytest.raises(RuntimeError, match="Error while uploading 'w.bin'") as raised:
        api.create_commit(REPO, [forged], commit_message="forged")

    assert raised.value.__cause__.response.status_code == 400  # the stand-in's answer to the PUT
    assert hub.count("PUT", f"/lfs-objects/{REPO}/{hashlib.sha256(other).hexdigest()}") == 1
    assert REPO not in hub.lfs and hub.refs[REPO]["main"] == head and not hub.commit_lines

    pointer = {"path": "w.bin", "algo": "sha256", "oid": hashlib.sha256(other).hexdigest(), "size": len(other)}
    lines = [{"key": "header", "value": {"summary": "a pointer to nothing"}}, {"key": "lfsFile", "value": pointer}]
    answer = httpx2.post(f"{hub.url}/api/models/{REPO}/commit/main", content="\n".join(map(json.dumps, lines)),
                         headers={"Authorization": "Bearer hf_stand_in_token"})
    assert answer.status_code == 422 and hub.refs[REPO]["main"] == head

    api.create_commit(REPO, [CommitOperationAdd("w.bin", other)], commit_message="honest")  # the same, uploaded
    assert hub.commits[REPO][hub.refs[REPO]["main"]]["w.bin"] == other
    assert hub.commit_lines[-1][1] == {"key": "lfsFile", "value": pointer}


def test_a_push_that_the_hub_refuses_or_cannot_take_is_a_weights_error(hub, tmp_path, monkeypatch):
    make_run(tmp_path / "run")

    def push_fails() -> WeightsError:
        with pytest.raises(WeightsError) as raised:
            push_checkpoint(tmp_path / "run", PUSHED)
        assert PUSHED in raised.value.message and str(tmp_path / "run") in raised.value.message
        assert "hf auth login" in raised.value.hint and "saved locally" in raised.value.hint
        return raised.value

    assert "401" in push_fails().message  # no token: the stand-in answers as the Hub does
    assert PUSHED not in hub.commits
    log_in(monkeypatch)
    go_offline(monkeypatch)
    push_fails()  # HF_HUB_OFFLINE=1
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_OFFLINE", False)

    def broken_storage(handler, repo, oid, data):
        handler._error(403, "", "LFS storage refused it", True)

    monkeypatch.setattr(_Handler, "_lfs_store", broken_storage)
    assert "LFS storage refused it" in str(push_fails().__cause__.__cause__)  # the weights' LFS upload fails
    assert hub.lfs.get(PUSHED) is None and len(hub.commits[PUSHED]) == 1  # only create_repo's first commit
    hub.stop()
    push_fails()  # nothing listens on the port


# -- the pipeline and the CLI through the stand-in -------------------------------------------------------------------


def test_load_model_from_the_hub_classifies_and_works_offline_afterwards(hub, served_resnet18, tmp_path, clip,
                                                                          monkeypatch):
    state, files = make_checkpoint(tmp_path / "made")
    hub.publish(REPO, files)
    commit = hub.publish("org/published", files)
    entry = publish_entry(monkeypatch, "lstm", "org/published", commit, hashlib.sha256(files[WEIGHTS_FILE]).hexdigest())

    for weights in (REPO, None):  # --weights, then the published checkpoint
        pipeline = load_model("lstm", weights=weights, device="cpu")
        assert pipeline.source == (weights or entry.ref)
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


@pytest.mark.slow
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


def test_cli_without_weights_says_so_once_and_asks_no_hub(hub, tmp_path, clip):
    """What a new user sees with nothing published (published.py is empty) and no local run: one error with what
    to do, and not one request to the Hub (HF_ENDPOINT is the stand-in, online)."""
    result = _run_cli(hub, tmp_path, str(clip))

    said = " ".join(result.stderr.split())  # as one line: the terminal may fold it anywhere
    assert result.returncode == 1, result.stderr
    assert "No lstm classifier is published yet" in said
    assert "dancestyle train --model lstm" in said and "--random-weights" in said
    assert said.count("error:") == 1
    assert "letsdance" not in said and "Traceback" not in said
    assert hub.count() == 0
