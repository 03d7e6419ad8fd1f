"""Where weights come from, and how they are verified, saved and loaded. Nothing here ever unpickles.

- The RGB backbone: a pinned file in a Hub repo, checked against its sha256 (`RESNET18`).
- Classifier checkpoints: directories holding model.safetensors + config.json (+ metrics.json). config.json
  records the sha256 of model.safetensors, so a checkpoint is verified wherever it comes from.
  `--weights` takes such a directory or a Hub repo id `org/name[@revision]` whose files have that layout.
- Downloads go through huggingface_hub: its cache, HF_HOME / HF_HUB_CACHE, HF_ENDPOINT and HF_HUB_OFFLINE are
  honoured. A file not in the cache is fetched only after a quick check that the Hub answers at all
  (`hub_reachable`): offline, we fail in seconds instead of sitting through huggingface_hub's retries.
- Our own files (training runs) live under `home()`: $DANCESTYLE_HOME or platformdirs' user data dir.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import socket
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ChecksumError, WeightsError

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
METRICS_FILE = "metrics.json"
PENDING_WEIGHTS_FILE = "model.safetensors.pending"  # new weights, until config.json names them
HUB_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+(@[\w./-]+)?$")
COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
# seconds to resolve the Hub's name and open a connection: enough for one lost SYN (resent after 1 s) on a slow
# link; HF_HUB_ETAG_TIMEOUT, when the user sets it, replaces it
HUB_PROBE_TIMEOUT = 2.5
UNREACHABLE_FOR = 60.0  # seconds a Hub found unreachable stays so without another check
GET_WEIGHTS_HINT = "Run once with internet access, pass --weights DIR with a local checkpoint, or train one."


@dataclass(frozen=True)
class HubFile:
    """One file in a Hub repo, pinned to a revision and a sha256."""

    repo: str
    filename: str
    revision: str
    sha256: str
    license: str = ""


# torchvision's IMAGENET1K_V1 ResNet-18 as published by timm; keys match torchvision.models.resnet18().
# Pin and hash come from a third party and could not be checked offline: correct them here if they differ.
RESNET18 = HubFile(
    repo="timm/resnet18.tv_in1k",
    filename="model.safetensors",
    revision="bbd144b3e5565108aad885f145491d11bc6ce807",
    sha256="694f673df6520a3158624e8a89af086f59923ee4cd7436fe5bc3bc71d295ad81",
    license="BSD-3-Clause",
)


# OpenMMLab's RTMDet-nano / RTMPose ONNX exports (mmdeploy onnx_sdk zips, Apache-2.0), as mirrored by rtmlib's
# maintainer on the Hub under the same relative paths as on download.openmmlab.com. Neither the mirror's commit nor
# the zips' sha256 can be learned from the machines this project is built on: revision "main" and archive sha256 ""
# until an online maintainer fills them in here. The end2end.onnx sha256 of RTMDet-nano and RTMPose-s come from a
# third party's manifest (unverified from here); RTMPose-t's is unknown. An unknown hash is recorded at the first
# download (pins.json under home()) and checked on every later load; huggingface_hub checks LFS files' sha256 while
# downloading.
@dataclass(frozen=True)
class ZipMember:
    """One file inside a zip archive on the Hub; `sha256` is the member's ("" = record at first download)."""

    archive: HubFile
    member: str
    sha256: str


_RTM_MIRROR = "Tau-J/RTMPose"
_RTM_ZIPS = "rtmposev1/onnx_sdk"
RTMDET_NANO = ZipMember(HubFile(_RTM_MIRROR, f"{_RTM_ZIPS}/rtmdet_nano_8xb32-100e_coco-obj365-person-05d8511e.zip",
                                "main", "", "Apache-2.0"),
                        "end2end.onnx", "8297e829ccc5590c8e2d32d5a211f322a0585fb7467eec85eb12c9525b0b95d6")
RTMPOSE = {
    "t": ZipMember(HubFile(_RTM_MIRROR, f"{_RTM_ZIPS}/rtmpose-t_simcc-body7_pt-body7_420e-256x192-026a1439_20230504.zip",
                           "main", "", "Apache-2.0"), "end2end.onnx", ""),
    "s": ZipMember(HubFile(_RTM_MIRROR, f"{_RTM_ZIPS}/rtmpose-s_simcc-body7_pt-body7_420e-256x192-acd4a1ef_20230504.zip",
                           "main", "", "Apache-2.0"),
                   "end2end.onnx", "9aeb635b83f86aea45cf45d85798f7eba1a162de8e0d721c44e54fe5eebaf47d"),
}


def home() -> Path:
    """Root of dancestyle's own files: $DANCESTYLE_HOME, else the platform's user data dir."""
    from platformdirs import user_data_dir

    return Path(os.environ.get("DANCESTYLE_HOME") or user_data_dir("dancestyle")).expanduser()


def runs_dir() -> Path:
    return home() / "runs"


def sha256_of(path: str | Path, chunk_size: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file beside `path`, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def atomic_write_json(path: Path, data: dict) -> None:
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())


def _hub_address() -> tuple[str, int]:
    """Where a request to the Hub connects first: the proxy set for its URL (HTTPS_PROXY, ALL_PROXY; NO_PROXY
    honoured, as huggingface_hub's HTTP client does), else the host of HF_ENDPOINT."""
    from huggingface_hub import constants

    url = urllib.parse.urlsplit(constants.ENDPOINT)
    proxies = urllib.request.getproxies()
    proxy = None if urllib.request.proxy_bypass(url.hostname or "") else proxies.get(url.scheme) or proxies.get("all")
    if proxy:
        url = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return url.hostname or "", url.port or (443 if url.scheme == "https" else 80)


_unreachable_since: dict[tuple[str, int], float] = {}  # (host, port) -> when it was last found unreachable


def hub_reachable() -> bool:
    """Whether a connection to the Hub (or its proxy) opens within HUB_PROBE_TIMEOUT s.

    Refused, unresolvable and silent hosts are all "no", given within the timeout even when name resolution hangs
    (the connect runs in a daemon thread). A "no" is remembered for UNREACHABLE_FOR s, so one command checks once.
    """
    from huggingface_hub import constants

    address = _hub_address()
    if time.monotonic() - _unreachable_since.get(address, -UNREACHABLE_FOR) < UNREACHABLE_FOR:
        return False
    timeout = HUB_PROBE_TIMEOUT
    if constants.HF_HUB_ETAG_TIMEOUT != getattr(constants, "DEFAULT_ETAG_TIMEOUT", 10):  # the user set it
        timeout = float(constants.HF_HUB_ETAG_TIMEOUT)
    answered, connected = threading.Event(), []

    def connect() -> None:
        try:
            socket.create_connection(address, timeout=timeout).close()
            connected.append(True)
        except OSError:
            pass
        answered.set()

    threading.Thread(target=connect, name="dancestyle-hub-check", daemon=True).start()
    if answered.wait(timeout) and connected:
        _unreachable_since.pop(address, None)
        return True
    _unreachable_since[address] = time.monotonic()
    return False


def _not_cached_error(where: str) -> WeightsError:
    from huggingface_hub import constants

    why = ("HF_HUB_OFFLINE=1 forbids downloads" if constants.HF_HUB_OFFLINE
           else f"the Hub at {constants.ENDPOINT} cannot be reached")
    return WeightsError(f"{where} is not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and {why}.",
                        GET_WEIGHTS_HINT)


def _hub_error(repo: str, revision: str | None, filename: str, error: Exception) -> WeightsError:
    from huggingface_hub import errors

    where = f"{repo}@{revision or 'main'}/{filename}"
    retry = GET_WEIGHTS_HINT
    if isinstance(error, errors.RepositoryNotFoundError):
        return WeightsError(f"The Hub repo {repo} does not exist or is private.", retry)
    if isinstance(error, errors.RevisionNotFoundError):
        return WeightsError(f"The Hub repo {repo} has no revision {revision!r}.", "Check the @revision.")
    if isinstance(error, errors.GatedRepoError):
        return WeightsError(f"The Hub repo {repo} is gated.", "Accept its terms on the Hub and log in (hf auth login).")
    if isinstance(error, errors.LocalEntryNotFoundError):
        return _not_cached_error(where)
    if isinstance(error, errors.EntryNotFoundError):
        return WeightsError(f"The Hub repo {repo} has no file {filename} at {revision or 'main'}.", retry)
    return WeightsError(f"Could not download {where}: {error}", retry)


def hub_download(repo: str, filename: str, revision: str | None = None, sha256: str | None = None,
                 mismatch_hint: str = "The file on the Hub changed or the download is corrupt: delete it from the "
                                      "Hugging Face cache and retry.",
                 verify: Callable[[Path], bool] | None = None) -> Path:
    """Download (or reuse from the cache) one Hub file; verify its sha256 when one is given (or call `verify`).

    Like whisper, a cached file that fails the check is downloaded once more before giving up. Unless the file is
    cached at a pinned commit (no request needed) or HF_HUB_OFFLINE is set, the Hub is asked only when
    `hub_reachable()`; otherwise the cache alone answers, at once, without a request (huggingface_hub makes some
    even with local_files_only=True) and without huggingface_hub's retries.
    """
    from huggingface_hub import constants, hf_hub_download, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, LocalEntryNotFoundError

    try:  # the commit `revision` names, or the one its branch or tag pointed at when last seen online
        found = try_to_load_from_cache(repo, filename, revision=revision)
    except HFValidationError as e:
        raise _hub_error(repo, revision, filename, e) from e
    cached = Path(found) if isinstance(found, str) else None
    pinned_in_cache = cached is not None and revision is not None and COMMIT_ID.match(revision) is not None
    unreachable = not (constants.HF_HUB_OFFLINE or pinned_in_cache) and not hub_reachable()
    if unreachable and cached is None:
        raise _not_cached_error(f"{repo}@{revision or 'main'}/{filename}")
    check = verify or (lambda path: sha256 is None or sha256_of(path) == sha256)
    for attempt in (1, 2):
        if unreachable:
            path = cached
        else:
            try:
                path = Path(hf_hub_download(repo, filename, revision=revision, force_download=attempt == 2,
                                            library_name="dancestyle"))
            # ValueError: force_download=True cannot reach the Hub (offline or unreachable) on the re-download
            except (HfHubHTTPError, LocalEntryNotFoundError, HFValidationError, OSError, ValueError) as e:
                if attempt == 2:  # the re-download after a bad checksum failed: report the checksum
                    break
                raise _hub_error(repo, revision, filename, e) from e
        if check(path):
            return path
        if unreachable:  # no re-download without the Hub
            break
    expected = f" {sha256[:12]}…" if sha256 else ""
    raise ChecksumError(f"{repo}@{revision or 'main'}/{filename} does not match its expected sha256{expected}.",
                        mismatch_hint)


def load_resnet18_state_dict() -> dict:
    """The pinned ImageNet ResNet-18 weights, verified, as a state dict for torchvision's resnet18."""
    from safetensors.torch import load_file

    hint = ("The file on the Hub changed or the download is corrupt: delete it from the Hugging Face cache and "
            "retry, or correct the pin in dancestyle/weights.py if the repo was updated.")
    return load_file(hub_download(RESNET18.repo, RESNET18.filename, RESNET18.revision, RESNET18.sha256, hint))


def load_zip_member(pin: ZipMember) -> bytes:
    """The bytes of a pinned file inside a Hub zip, verified (a bad archive is downloaded once more, then fails)."""
    import zipfile

    archive = pin.archive
    where = f"{archive.repo}@{archive.revision}/{archive.filename}!{pin.member}"
    hint = ("The file on the Hub changed or the download is corrupt: delete it from the Hugging Face cache and retry, "
            "or correct the pin in dancestyle/weights.py if the repo was updated.")
    member: dict[str, bytes] = {}

    def member_verifies(path: Path) -> bool:
        """The archive (if pinned) and its member have their pinned (or recorded) sha256."""
        if archive.sha256 and sha256_of(path) != archive.sha256:
            return False
        try:
            with zipfile.ZipFile(path) as zipped:
                names = [name for name in zipped.namelist() if name.rsplit("/", 1)[-1] == pin.member]
                data = zipped.read(names[0]) if len(names) == 1 else b""
        except (zipfile.BadZipFile, OSError):
            return False
        seen = hashlib.sha256(data).hexdigest()
        member["data"] = data
        return bool(data) and seen == (pin.sha256 or _recorded_sha256(where, seen))

    try:
        hub_download(archive.repo, archive.filename, archive.revision, mismatch_hint=hint, verify=member_verifies)
    except ChecksumError as e:
        raise ChecksumError(f"{where}: the archive or its {pin.member} does not match the expected sha256 "
                            "(a cached copy that failed was downloaded once more).", hint) from e
    return member["data"]


def _recorded_sha256(where: str, seen: str) -> str:
    """For a pin whose hash could not be learned offline: the hash recorded at its first download (recording
    `seen` if this is it), so a file that changes later is caught."""
    path = home() / "pins.json"
    try:
        recorded = json.loads(path.read_text()) if path.is_file() else {}
    except (OSError, ValueError):
        recorded = {}
    if where not in recorded:
        recorded[where] = seen
        atomic_write_json(path, recorded)
    return recorded[where]


def parse_weights_ref(ref: str) -> tuple[Path | None, str | None, str | None]:
    """Split a --weights value into (local directory, hub repo, revision); exactly one side is set."""
    path = Path(ref).expanduser()
    if path.is_dir():
        return path, None, None
    if path.exists() or not HUB_REPO_ID.match(ref) or ref.startswith((".", "/", "~")):
        raise WeightsError(f"--weights {ref}: not a checkpoint directory and not a Hub repo id.",
                           "Pass a directory holding model.safetensors and config.json, or org/name[@revision].")
    repo, _, revision = ref.partition("@")
    return None, repo, revision or None


def fetch_checkpoint(repo: str, revision: str | None = None) -> Path:
    """Download a checkpoint from the Hub; returns the snapshot directory holding its files.

    The weights are fetched at the commit config.json came from (so a branch that moves in between cannot
    mix two checkpoints) and checked against the sha256 that config.json records.
    """
    config_path = hub_download(repo, CONFIG_FILE, revision)
    commit = config_path.parent.name  # the cache keeps files under snapshots/<commit>/
    hub_download(repo, WEIGHTS_FILE, commit, _read_config(config_path).get("weights_sha256"),
                 "The checkpoint's weights do not match its config.json: the download is corrupt or the repo is "
                 "broken. Delete it from the Hugging Face cache and retry, or use another --weights.")
    return config_path.parent


def newest_run(model_name: str) -> Path | None:
    """The most recently written local training run of `model_name`, if any."""
    candidates = []
    for config_path in runs_dir().glob(f"*/{CONFIG_FILE}"):
        try:
            config = json.loads(config_path.read_text())
        except (OSError, ValueError):
            continue
        if config.get("model", {}).get("name") == model_name and (config_path.parent / WEIGHTS_FILE).is_file():
            candidates.append((config_path.stat().st_mtime, config_path.parent))
    return max(candidates)[1] if candidates else None


def save_checkpoint(directory: str | Path, state_dict: dict, config: dict, metrics: dict | None = None) -> Path:
    """Write a checkpoint directory. config.json holds the weights' sha256. Replacing a checkpoint is safe at any
    instant: the new weights wait beside the old ones until config.json names them, and a reader that finds
    config.json ahead of its weights finishes the swap (read_checkpoint)."""
    from safetensors.torch import save

    directory = Path(directory)
    tensors = {name: tensor.detach().contiguous().cpu() for name, tensor in state_dict.items()}
    data = save(tensors)
    atomic_write_bytes(directory / PENDING_WEIGHTS_FILE, data)
    if metrics is not None:
        atomic_write_json(directory / METRICS_FILE, metrics)
    atomic_write_json(directory / CONFIG_FILE, {**config, "weights_sha256": hashlib.sha256(data).hexdigest()})
    (directory / PENDING_WEIGHTS_FILE).replace(directory / WEIGHTS_FILE)  # the swap
    return directory


def _read_config(config_path: Path) -> dict:
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError) as e:
        raise WeightsError(f"{config_path} is not a readable JSON file ({e}).", "Re-download or re-train it.") from e
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise WeightsError(f"{config_path} is not a dancestyle checkpoint config.", "Re-download or re-train it.")
    return config


def read_checkpoint(directory: str | Path) -> tuple[dict, dict]:
    """Read and verify a checkpoint directory: (config, state dict)."""
    from safetensors.torch import load_file

    directory = Path(directory)
    config_path, weights_path = directory / CONFIG_FILE, directory / WEIGHTS_FILE
    if not config_path.is_file() or not weights_path.is_file():
        raise WeightsError(f"{directory} is not a checkpoint: it needs {CONFIG_FILE} and {WEIGHTS_FILE}.",
                           "Pass the output directory of `dancestyle train`, or a Hub repo id.")
    config = _read_config(config_path)
    expected = config.get("weights_sha256")
    if not expected:
        raise WeightsError(f"{config_path} records no weights_sha256, so {WEIGHTS_FILE} cannot be verified.",
                           "Use a checkpoint written by `dancestyle train` (or save_checkpoint).")
    actual, pending = sha256_of(weights_path), directory / PENDING_WEIGHTS_FILE
    if actual != expected and pending.is_file() and sha256_of(pending) == expected:
        pending.replace(weights_path)  # save_checkpoint stopped between config.json and the swap: finish it
        actual = expected
    if actual != expected:
        raise ChecksumError(f"{weights_path} does not match the sha256 recorded in its config.json.",
                            "The file is corrupt or was replaced: re-download or re-train it.")
    try:
        state_dict = load_file(weights_path)
    except Exception as e:  # safetensors raises its own error types for malformed files
        raise WeightsError(f"{weights_path} is not a valid safetensors file ({e}).", "Re-download it.") from e
    return config, state_dict


def model_card(directory: Path, repo: str) -> str:
    """A README.md for a checkpoint on the Hub, written from its config.json and metrics.json."""
    config = json.loads((directory / CONFIG_FILE).read_text())
    metrics_path = directory / METRICS_FILE
    metrics = json.loads(metrics_path.read_text()) if metrics_path.is_file() else {}
    model, training = config["model"], config.get("training", {})
    synthetic = training.get("synthetic") or metrics.get("synthetic")
    lines = [
        "---", "library_name: dancestyle", "tags: [video-classification, dance]", "---", "",
        f"# {repo}", "",
        f"A `{model['name']}` dance-style classifier made with [dancestyle](https://pypi.org/project/dancestyle/) "
        f"{config.get('dancestyle_version', '')}: streams {', '.join(model['streams'])}, one frame every "
        f"{model['stride']} frames of 30 fps video, classes {', '.join(model['classes'])}.", "",
        f"Use it: `dancestyle classify clip.mp4 --weights {repo}`", "",
        "## Training", "",
        f"- data: `{training.get('dataset', 'unknown')}`" + (" — **a synthetic corpus: these numbers say nothing "
                                                              "about real videos**" if synthetic else ""),
        f"- RGB backbone: `{config['features']['rgb']['weights']}`; pose: `{training.get('pose_source')}`",
        f"- hyper-parameters: `{json.dumps({k: v for k, v in model.items() if k not in ('classes', 'streams')})}`",
    ]
    if metrics:
        lines += [f"- best validation accuracy {metrics.get('best_val_accuracy')} at epoch "
                  f"{metrics.get('best_epoch')} of {metrics.get('epochs_run')}"]
    return "\n".join(lines) + "\n"


def _unreachable_errors() -> tuple[type[Exception], ...]:
    """What huggingface_hub lets through when the Hub cannot be reached: OSError (requests, < 1.0; offline mode),
    else the RequestError of httpx (1.x) or httpx2 (2.x), which are not OSErrors."""
    import importlib

    errors: list[type[Exception]] = [OSError]
    for module in ("httpx2", "httpx"):
        try:
            errors.append(importlib.import_module(module).RequestError)
        except ImportError:
            pass
    return tuple(errors)


def push_checkpoint(directory: str | Path, repo: str) -> str:
    """Upload a checkpoint directory with a generated model card, as one commit; returns the repo URL.

    One commit, so the repo is never seen half-updated (a model card without its weights, new weights beside an
    old config.json). Only the checkpoint's own files go up: never resume/ (training state, not a model).
    """
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.errors import HfHubHTTPError

    directory = Path(directory)
    config, _ = read_checkpoint(directory)  # never upload something that does not verify
    names = [name for name in (CONFIG_FILE, WEIGHTS_FILE, METRICS_FILE) if (directory / name).is_file()]
    operations = [CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=model_card(directory, repo).encode())]
    # read once, right after verifying: the upload cannot pick up a file rewritten while it runs
    operations += [CommitOperationAdd(path_in_repo=name, path_or_fileobj=(directory / name).read_bytes())
                   for name in names]
    api = HfApi(library_name="dancestyle")
    hub_errors = (HfHubHTTPError, *_unreachable_errors())
    try:
        url = api.create_repo(repo, exist_ok=True)
        api.create_commit(repo_id=repo, operations=operations,
                          commit_message=f"Upload {config['model']['name']} checkpoint ({directory.name})")
    except (*hub_errors, RuntimeError) as e:
        # a failed LFS upload comes wrapped: a RuntimeError caused by the HTTP or network error; any other
        # RuntimeError is a bug, not the Hub
        if not isinstance(e, hub_errors) and not isinstance(e.__cause__, hub_errors):
            raise
        raise WeightsError(f"Could not push {directory} to the Hub repo {repo} ({e}).",
                           "Log in with `hf auth login` (a token with write access) and check the network; the "
                           "checkpoint itself is saved locally.") from e
    return str(url)
