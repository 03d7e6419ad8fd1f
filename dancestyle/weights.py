"""Where pretrained weights come from and how they are verified; where our own files live. Nothing here unpickles.

- Pinned files in Hub repos, checked against their sha256: the RGB backbone (`RESNET18`), the fast pose backend's
  ONNX networks inside zips (`RTMDET_NANO`, `RTMPOSE`). Classifier checkpoints are checkpoints.py's.
- A pinned file has an ordered list of sources, each checked the same way (`fetch_pinned`): the folder named by
  $DANCESTYLE_WEIGHTS_DIR (air-gapped machines), the Hub, then the publisher's own server (`PUBLISHERS`).
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

COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
# seconds to resolve the Hub's name and open a connection: enough for one lost SYN (resent after 1 s) on a slow
# link; HF_HUB_ETAG_TIMEOUT, when the user sets it, replaces it
HUB_PROBE_TIMEOUT = 2.5
UNREACHABLE_FOR = 60.0  # seconds a Hub found unreachable stays so without another check
GET_WEIGHTS_HINT = "Run once with internet access, pass --weights DIR with a local checkpoint, or train one."
PIN_MISMATCH_HINT = ("The file on the Hub changed or the download is corrupt: delete it from the Hugging Face cache "
                     "and retry, or correct the pin in dancestyle/weights.py if the repo was updated.")


WEIGHTS_DIR_VARIABLE = "DANCESTYLE_WEIGHTS_DIR"  # a folder searched first for a pinned file, by its name
# publishers' own download servers: a pinned file's last source (tests point one at a local stand-in)
PUBLISHERS = {"openmmlab": "https://download.openmmlab.com"}


@dataclass(frozen=True)
class HubFile:
    """One file in a Hub repo, pinned to a revision and a sha256; `origin` (publisher, path) names the same bytes on
    the publisher's own server, a second source."""

    repo: str
    filename: str
    revision: str
    sha256: str
    license: str = ""
    origin: tuple[str, str] | None = None

    @property
    def name(self) -> str:
        """The file's own name: what $DANCESTYLE_WEIGHTS_DIR holds it as."""
        return self.filename.rsplit("/", 1)[-1]

    def origin_url(self) -> str | None:
        return f"{PUBLISHERS[self.origin[0]].rstrip('/')}/{self.origin[1]}" if self.origin else None


# Where each pin comes from. Single-sourced (one third party each, not checked against the files from here; correct
# them here if they differ): the ResNet-18 revision and sha256; the mirror commit of Tau-J/RTMPose; the end2end.onnx
# sha256 of RTMDet-nano and of RTMPose-s. From issue 27, with file sizes: RTMPose-t's end2end.onnx (13,350,364
# bytes) and the RTMPose-t and RTMPose-s zips (the latter 20,496,303 bytes). RTMDet-nano's zip has no known sha256:
# its member's is checked. A hash left "" is recorded at the first download (pins.json under home()).

# torchvision's IMAGENET1K_V1 ResNet-18 as published by timm; keys match torchvision.models.resnet18(). The Hub only:
# torchvision's own file is a pickle with another hash.
RESNET18 = HubFile(
    repo="timm/resnet18.tv_in1k",
    filename="model.safetensors",
    revision="bbd144b3e5565108aad885f145491d11bc6ce807",
    sha256="694f673df6520a3158624e8a89af086f59923ee4cd7436fe5bc3bc71d295ad81",
    license="BSD-3-Clause",
)


# OpenMMLab's RTMDet-nano / RTMPose ONNX exports (mmdeploy onnx_sdk zips, Apache-2.0), as mirrored by rtmlib's
# maintainer on the Hub under the same relative paths as on download.openmmlab.com, which is their second source.
# huggingface_hub checks LFS files' sha256 while downloading.
RTM_MIRROR, RTM_MIRROR_COMMIT = "Tau-J/RTMPose", "cd4d7095f5cfc9cfc4f46289bee91ea4a1e1d9fd"
RTM_ZIPS = "rtmposev1/onnx_sdk"  # the zips' folder in the mirror; mmpose/v1/projects/ above it on OpenMMLab's server


@dataclass(frozen=True)
class ZipMember:
    """One file inside a pinned zip archive; `sha256` is the member's ("" = record at first download)."""

    archive: HubFile
    member: str
    sha256: str


def _rtm_onnx(archive: str, sha256: str, archive_sha256: str = "") -> ZipMember:
    """The end2end.onnx in one of OpenMMLab's onnx_sdk zips: the Hub mirror's copy, then OpenMMLab's."""
    path = f"{RTM_ZIPS}/{archive}.zip"
    return ZipMember(HubFile(RTM_MIRROR, path, RTM_MIRROR_COMMIT, archive_sha256, "Apache-2.0",
                             origin=("openmmlab", f"mmpose/v1/projects/{path}")), "end2end.onnx", sha256)


RTMDET_NANO = _rtm_onnx("rtmdet_nano_8xb32-100e_coco-obj365-person-05d8511e",
                        "8297e829ccc5590c8e2d32d5a211f322a0585fb7467eec85eb12c9525b0b95d6")
RTMPOSE = {
    "t": _rtm_onnx("rtmpose-t_simcc-body7_pt-body7_420e-256x192-026a1439_20230504",
                   "a6c2f6a3896a4d51131d14d7a80a3d08b50f559af5a58a45d5b098aef510a70f",
                   "937003a70832d9cc34ea16927f504792f3133e92dda1b9c626236bbbe9e805cb"),
    "s": _rtm_onnx("rtmpose-s_simcc-body7_pt-body7_420e-256x192-acd4a1ef_20230504",
                   "9aeb635b83f86aea45cf45d85798f7eba1a162de8e0d721c44e54fe5eebaf47d",
                   "7673922e531014906ca4f0f239b7e233b740146a10b632deaa2a28d45470d802"),
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


def _address(url: str) -> tuple[str, int]:
    """Where a request to `url` connects first: the proxy set for it (HTTPS_PROXY, ALL_PROXY; NO_PROXY honoured, as
    huggingface_hub's HTTP client does), else its own host."""
    parts = urllib.parse.urlsplit(url)
    proxies = urllib.request.getproxies()
    bypass = urllib.request.proxy_bypass(parts.hostname or "")
    proxy = None if bypass else proxies.get(parts.scheme) or proxies.get("all")
    if proxy:
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)


_unreachable_since: dict[tuple[str, int], float] = {}  # (host, port) -> when it was last found unreachable


def hub_reachable() -> bool:
    """Whether a connection to the Hub (HF_ENDPOINT) or its proxy opens: see `reachable`."""
    from huggingface_hub import constants

    return reachable(constants.ENDPOINT)


def reachable(url: str) -> bool:
    """Whether a connection to `url`'s host (or its proxy) opens within HUB_PROBE_TIMEOUT s.

    Refused, unresolvable and silent hosts are all "no", given within the timeout even when name resolution hangs
    (the connect runs in a daemon thread). A "no" is remembered for UNREACHABLE_FOR s, so one command checks once.
    """
    from huggingface_hub import constants

    address = _address(url)
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


def _weights_dir_copy(pin: HubFile, check: Callable[[Path], bool]) -> Path | None:
    """The pinned file from $DANCESTYLE_WEIGHTS_DIR, by its name, when there is one there; a copy that fails its
    check is refused (the user put it there to be used: say so rather than download another)."""
    folder = os.environ.get(WEIGHTS_DIR_VARIABLE)
    path = Path(folder).expanduser() / pin.name if folder else None
    if path is None or not path.is_file():
        return None
    if not check(path):
        raise ChecksumError(f"{path} (from {WEIGHTS_DIR_VARIABLE}) is not the pinned {pin.name}: its sha256 differs.",
                            f"Delete it, or replace it with the file from {_sources_named(pin)}.")
    return path


def _kept_download(pin: HubFile) -> Path:
    """Where a copy taken from the publisher's server is kept once verified."""
    return home() / "downloads" / pin.name


def _downloaded_copy(pin: HubFile, check: Callable[[Path], bool]) -> Path | None:
    """A copy from the publisher's server kept by an earlier run, if there is one and it still passes `check`."""
    path = _kept_download(pin)
    return path if pin.origin and path.is_file() and check(path) else None


def _publisher_copy(pin: HubFile, check: Callable[[Path], bool]) -> Path:
    """The pinned file from its publisher's server, kept under home()/downloads once it passes `check`."""
    from huggingface_hub import constants

    url = pin.origin_url()
    path = _kept_download(pin)
    if constants.HF_HUB_OFFLINE or not reachable(url):
        why = "HF_HUB_OFFLINE=1 forbids downloads" if constants.HF_HUB_OFFLINE else "it cannot be reached"
        raise WeightsError(f"{url}: {why}.")
    unverified = path.with_name(f".{path.name}.{os.getpid()}.unverified")  # one per process: none reads another's
    atomic_write_bytes(unverified, _http_get(url))
    if not check(unverified):
        unverified.unlink(missing_ok=True)
        raise ChecksumError(f"{url} does not match its expected sha256.")
    os.replace(unverified, path)  # only a verified copy ever has the cached name
    return path


def _http_get(url: str) -> bytes:
    """The body of `url`, through huggingface_hub's own HTTP client (requests, httpx or httpx2 by its version)."""
    import sys

    from huggingface_hub import get_session

    session = get_session()
    client_error = getattr(sys.modules[type(session).__module__.split(".")[0]], "HTTPError", OSError)
    try:
        response = session.get(url, timeout=60)
    except (OSError, client_error) as e:  # requests' errors are OSErrors, httpx's are HTTPErrors
        raise WeightsError(f"{url}: the download failed ({e}).") from e
    if response.status_code != 200:
        raise WeightsError(f"{url}: the server answered HTTP {response.status_code}.")
    return response.content


def _sources_named(pin: HubFile) -> str:
    hub = f"the Hub ({pin.repo}@{pin.revision}/{pin.filename})"
    return f"{hub} or {pin.origin_url()}" if pin.origin else hub


def pinned_file_here(pin: HubFile) -> bool:
    """Whether one of a pinned file's sources needs no request: $DANCESTYLE_WEIGHTS_DIR, a copy from the publisher,
    or the Hub cache (`dancestyle models`' "cached"; nothing is checked or downloaded here)."""
    from huggingface_hub import try_to_load_from_cache

    folder = os.environ.get(WEIGHTS_DIR_VARIABLE)
    copies = [Path(folder).expanduser() / pin.name] if folder else []
    if any(path.is_file() for path in [*copies, _kept_download(pin)]):
        return True
    return isinstance(try_to_load_from_cache(pin.repo, pin.filename, revision=pin.revision), str)


def fetch_pinned(pin: HubFile, verify: Callable[[Path], bool] | None = None,
                 mismatch_hint: str = PIN_MISMATCH_HINT) -> Path:
    """A pinned file from the first of its sources that gives a copy passing `verify` (default: its sha256):
    $DANCESTYLE_WEIGHTS_DIR, a copy an earlier run took from the publisher, the Hub (its cache first), then the
    publisher's server.

    One source: its own error. Several: one error naming each source and why it failed (a ChecksumError when any
    gave a wrong file).
    """
    check = verify or (lambda path: sha256_of(path) == pin.sha256)
    local = _weights_dir_copy(pin, check) or _downloaded_copy(pin, check)  # no request for a file already here
    if local is not None:
        return local
    failures: list[tuple[str, WeightsError]] = []
    try:
        return hub_download(pin.repo, pin.filename, pin.revision, None if verify else pin.sha256, mismatch_hint,
                            verify)
    except WeightsError as e:
        if not pin.origin:
            raise
        failures.append(("the Hub mirror", e))  # each message names the file it tried
    try:
        return _publisher_copy(pin, check)
    except WeightsError as e:
        failures.append(("the publisher's server", e))
    said = " ".join(f"({n}) {where}: {e.message}" for n, (where, e) in enumerate(failures, 1))
    error = ChecksumError if any(isinstance(e, ChecksumError) for _, e in failures) else WeightsError
    raise error(f"{pin.name} could not be had from any of its sources, each checked against its pinned sha256. "
                f"{said} Downloaded by hand from either into a folder named by {WEIGHTS_DIR_VARIABLE}, it is used "
                "from there, once verified, without any download.",
                f"Retry with internet access, or set {WEIGHTS_DIR_VARIABLE} to a folder holding {pin.name}.")


def load_resnet18_state_dict() -> dict:
    """The pinned ImageNet ResNet-18 weights, verified, as a state dict for torchvision's resnet18."""
    from safetensors.torch import load_file

    try:
        return load_file(fetch_pinned(RESNET18))
    except WeightsError as e:  # say which network, and the ways out that need no download (train has no --weights)
        raise type(e)(f"The rgb stream's ResNet-18 (ImageNet) weights: {e.message}",
                      f"Run once with internet access (they are cached after), or set {WEIGHTS_DIR_VARIABLE} to a "
                      f"folder holding {RESNET18.name}. Offline, `train --streams pose` needs no ResNet-18, and "
                      "`classify --random-weights` runs a random one (a smoke test).") from e


def load_zip_member(pin: ZipMember) -> bytes:
    """The bytes of a pinned file inside a zip, verified (a bad archive is downloaded once more, then the next
    source is tried)."""
    import zipfile

    archive = pin.archive
    where = f"{archive.repo}@{archive.revision}/{archive.filename}!{pin.member}"
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

    fetch_pinned(archive, member_verifies)
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
