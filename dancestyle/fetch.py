"""Fetching datasets: resumable, verified downloads and archive extraction that cannot escape its destination, then
the dataset indexed and split in place (`fetch_dataset`, what `dancestyle fetch-dataset` runs).

A `manifest.json` in the destination records each archive's source, size and sha256 (checked on reuse) and which
archives were extracted, so a re-run skips finished work. Whatever is written lands by rename, so an interrupted
run never leaves a half file that later looks whole.
"""

from __future__ import annotations

import glob
import http.client
import json
import logging
import os
import re
import shutil
import stat
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from .data import SOURCE_FILE, SPLITS_FILE, default_root, index_for_training, letsdance_classes, referred_folder
from .errors import DownloadError, InputError, UnsafeArchiveError, UsageError
from .splits import check_rule, load_or_make_splits
from .weights import atomic_write_json, sha256_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Archive:
    url: str
    sha256: str | None = None  # None: not pinned yet; the manifest still records what was downloaded


# UNVERIFIED: best guesses under the project page, written without network access. Correct them here;
# users can always pass another URL, a local .zip or an extracted folder instead.
LETSDANCE_ARCHIVES: dict[str, Archive] = {
    "rgb": Archive("https://www.cc.gatech.edu/cpl/projects/dance/rgb.zip"),
    "densepose": Archive("https://www.cc.gatech.edu/cpl/projects/dance/densepose.zip"),
}
TERMS_NOTE = ("Let's Dance is research data derived from YouTube videos: read the terms on "
              "https://www.cc.gatech.edu/cpl/projects/dance/ before using it.")
MANIFEST = "manifest.json"
MAX_MEMBER_BYTES = 64 << 20
MAX_RATIO = 100
RATIO_FLOOR = 1 << 20  # below 1 MiB a high ratio is harmless (a small run of zeros), so only bigger members count
CHUNK = 1 << 20
TIMEOUT_S = 60

Progress = Callable[[int, "int | None"], None]  # (bytes done, total bytes or None when the server gives none)


# -- manifest -----------------------------------------------------------------------------------------------------

def _read_manifest(dest: Path) -> dict:
    try:
        manifest = json.loads((dest / MANIFEST).read_text())
    except FileNotFoundError:
        manifest = {}
    except (OSError, ValueError) as e:  # a damaged manifest only costs a re-download
        log.warning("%s is unreadable (%s): starting a fresh one", dest / MANIFEST, e)
        manifest = {}
    if not isinstance(manifest, dict):
        manifest = {}
    return {"archives": manifest.get("archives", {}), "extracted": manifest.get("extracted", {})}


def _record(dest: Path, section: str, name: str, entry: dict) -> None:
    manifest = _read_manifest(dest)
    manifest[section][name] = entry
    if section == "archives":  # new archive content: its old extraction no longer counts as done
        manifest["extracted"].pop(name, None)
    atomic_write_json(dest / MANIFEST, manifest)


# -- download -----------------------------------------------------------------------------------------------------

def archive_name(url: str) -> str:
    name = PurePosixPath(urllib.parse.unquote(urllib.parse.urlparse(url).path)).name
    if not name or name in (MANIFEST, SPLITS_FILE, SOURCE_FILE):
        raise UsageError(f"{url} does not name an archive file.", "Pass the URL of a .zip archive.")
    return name


def download(url: str, dest_dir: str | Path, progress: Progress | None = None, sha256: str | None = None) -> Path:
    """Download `url` into `dest_dir` (resuming a `<name>.part` left by an earlier try) and return its path.

    A file recorded in dest_dir/manifest.json is reused when its sha256 still matches, else fetched again.
    `sha256`, when given, is the expected digest of the finished file.
    """
    dest_dir = Path(dest_dir)
    name = archive_name(url)
    target, part = dest_dir / name, dest_dir / f"{name}.part"
    if _reusable(dest_dir, name, url, target, sha256):
        return target
    dest_dir.mkdir(parents=True, exist_ok=True)
    target.unlink(missing_ok=True)
    _fetch_into(url, part, progress)
    digest = sha256_of(part)
    if sha256 and digest != sha256:
        part.unlink()
        raise DownloadError(f"{url} downloaded, but its sha256 {digest[:12]}… is not the expected {sha256[:12]}….",
                            "The file on the server changed or the transfer was corrupted: run again, or correct "
                            "the pin in dancestyle/fetch.py if the archive was updated on purpose.")
    os.replace(part, target)
    _record(dest_dir, "archives", name, {"source": url, "size": target.stat().st_size, "sha256": digest})
    return target


def _reusable(dest_dir: Path, name: str, url: str, target: Path, pinned: str | None) -> bool:
    entry = _read_manifest(dest_dir)["archives"].get(name)
    if not entry or entry.get("source") != url or not target.is_file() or pinned not in (None, entry.get("sha256")):
        return False
    if target.stat().st_size == entry.get("size") and sha256_of(target) == entry.get("sha256"):
        return True
    log.warning("%s does not match the sha256 in %s: downloading it again", target, MANIFEST)
    return False


def _fetch_into(url: str, part: Path, progress: Progress | None) -> None:
    """Append the rest of `url` to `part`; raise DownloadError unless the body arrived whole."""
    done = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "dancestyle", **({"Range": f"bytes={done}-"} if done else {})}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S) as response:
            if response.status != 206:  # the server ignored the Range: the body starts at byte 0
                done = 0
            elif not response.headers.get("Content-Range", "").startswith(f"bytes {done}-"):
                part.unlink()
                raise DownloadError(f"{url}: the server resumed at the wrong offset.", "Run again to start over.")
            length = response.headers.get("Content-Length")
            total = done + int(length) if length is not None else None
            with open(part, "ab" if done else "wb") as file:
                while chunk := response.read(CHUNK):
                    file.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    except urllib.error.HTTPError as e:
        if e.code == 416 and done:  # our .part is no prefix the server can continue: start from zero
            part.unlink()
            return _fetch_into(url, part, progress)
        raise DownloadError(f"{url}: the server answered HTTP {e.code} {e.reason}.",
                            "Check the URL (the built-in Let's Dance URLs are unverified), or download the archive "
                            "yourself and pass its path or extracted folder.") from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason = getattr(e, "reason", None) or e
        raise DownloadError(f"Downloading {url} failed: {reason}.", _retry_hint(part)) from e
    if total is not None and done != total:  # http.client reads a short body as a clean end of file
        raise DownloadError(f"The connection closed after {done:,} of {total:,} bytes of {url}.", _retry_hint(part))


def _retry_hint(part: Path) -> str:
    """What to do after a failed transfer: a resume only where bytes arrived, else the archive by hand."""
    if part.is_file() and part.stat().st_size:
        return f"Check the network and run the same command again: it resumes from {part}."
    return (f"Check the network and run the same command again, or download {part.stem} (and any other archive "
            "of the dataset) yourself and pass each one's path with --source.")


# -- safe extraction ----------------------------------------------------------------------------------------------

def safe_extract(zip_path: str | Path, dest: str | Path) -> Path:
    """Extract `zip_path` into `dest`, merging with what is there; return dest.

    Every member is checked before anything is written; extraction goes to a temp folder inside dest that is
    then renamed into place. Completion is recorded in dest/manifest.json, so a re-run skips the work.
    """
    zip_path, dest = Path(zip_path), Path(dest)
    size = zip_path.stat().st_size
    done = _read_manifest(dest)["extracted"].get(zip_path.name)
    if done and done.get("size") == size and all((dest / top).exists() for top in done.get("top", [])):
        return dest
    try:
        archive = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"{zip_path} is not a readable zip archive ({e}).", "Delete it and download it again.") from e
    with archive:
        members = [(info, _safe_parts(info, zip_path)) for info in archive.infolist()]
        _check_total_ratio(archive.infolist(), zip_path)
        dest.mkdir(parents=True, exist_ok=True)
        for stale in dest.glob(f".extract-{glob.escape(zip_path.name)}-*"):  # left by an interrupted run
            shutil.rmtree(stale, ignore_errors=True)
        temp = Path(tempfile.mkdtemp(dir=dest, prefix=f".extract-{zip_path.name}-"))
        try:
            for info, parts in members:
                if parts:
                    _extract_member(archive, info, temp.joinpath(*parts), zip_path)
            tops = sorted(path.name for path in temp.iterdir())
            for top in tops:
                _merge_into(temp / top, dest / top)
        finally:
            shutil.rmtree(temp, ignore_errors=True)
    _record(dest, "extracted", zip_path.name, {"source": str(zip_path), "size": size, "top": tops})
    return dest


def _unsafe(zip_path: Path, member: str, why: str) -> UnsafeArchiveError:
    return UnsafeArchiveError(f"{zip_path}: member {member!r} {why}; nothing was extracted.",
                              "The archive is damaged or hostile: delete it and get it again from the project page.")


def _safe_parts(info: zipfile.ZipInfo, zip_path: Path) -> tuple[str, ...]:
    """The member's path components, or UnsafeArchiveError if extracting it could escape or explode."""
    name = info.filename
    parts = tuple(part for part in name.replace("\\", "/").split("/") if part not in ("", "."))
    problems = (
        (name.startswith(("/", "\\")), "has an absolute path"),
        (re.match(r"^[A-Za-z]:", name) is not None, "starts with a drive letter"),
        (".." in parts, "has a '..' component"),
        (parts[:1] in ((MANIFEST,), (SPLITS_FILE,), (SOURCE_FILE,)), "would overwrite dancestyle's own bookkeeping"),
        (stat.S_ISLNK(info.external_attr >> 16), "is a symbolic link"),
        (info.file_size > MAX_MEMBER_BYTES, f"is {info.file_size:,} bytes uncompressed (limit 64 MiB)"),
        (info.file_size >= RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1),
         f"is compressed more than {MAX_RATIO}:1"),
    )
    for found, why in problems:
        if found:
            raise _unsafe(zip_path, name, why)
    return parts


def _check_total_ratio(infos: list[zipfile.ZipInfo], zip_path: Path) -> None:
    """Many small members can add up to a bomb that no single member reveals."""
    expanded, packed = sum(i.file_size for i in infos), sum(i.compress_size for i in infos)
    if expanded >= RATIO_FLOOR and expanded > MAX_RATIO * max(packed, 1):
        raise _unsafe(zip_path, "(all members)", f"together are compressed more than {MAX_RATIO}:1")


def _extract_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, zip_path: Path) -> None:
    try:
        if info.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with archive.open(info) as source, open(target, "wb") as out:  # zipfile stops at the declared size
            shutil.copyfileobj(source, out, CHUNK)
    except (OSError, zipfile.BadZipFile) as e:
        raise InputError(f"Extracting {info.filename} from {zip_path} failed ({e}).",
                         "Check the free disk space; if the archive is corrupt, delete it and fetch it again.") from e


def _merge_into(source: Path, target: Path) -> None:
    """Rename `source` onto `target`, merging folders, so two archives can share a top folder (densepose/)."""
    if source.is_dir() and target.is_dir():
        for child in list(source.iterdir()):
            _merge_into(child, target / child.name)
        return
    if target.is_dir():
        shutil.rmtree(target)
    os.replace(source, target)


# -- the dataset in place ------------------------------------------------------------------------------------

def fetch_dataset(sources: list[str] | None = None, dest: Path | None = None, classes: int = 10,
                  progress: Callable[[str, int, int | None], None] | None = None, seed: int = 0,
                  on_caution: Callable[[str], None] | None = None, split: str | None = None) -> dict:
    """Download/extract (or use in place) the dataset, index it, make or reuse its split; return a summary.

    sources: http(s) .zip URLs, local .zip files or extracted folders (default: LETSDANCE_ARCHIVES).
    dest: where archives are extracted (default DANCESTYLE_HOME/datasets/letsdance). A folder is used in place
    when no other dest is given; with one, dest becomes the dataset's root: it gets the split and a source.json
    naming the folder (nothing is copied, the folder is only read), and `train --data dest` reads through it.
    progress(archive name, bytes done, total) is called while downloading.
    on_caution(text) is told what a user should know (default: the log): the Let's Dance terms (for Let's Dance
    only, not for your own videos or the synthetic corpus) and what the split rule cannot tell.
    split: the rule of a new split (splits.SPLIT_RULES); None keeps the dataset's split, or makes ours. A rule other
    than that of the split the dataset already has is refused (splits.load_or_make_splits).
    """
    letsdance = letsdance_classes(classes)
    if split is not None:
        check_rule(split)  # before any download
    caution = on_caution or _log_caution
    given_dest = Path(dest).expanduser() if dest else None
    dest = given_dest or default_root("letsdance")
    known = [archive.url for archive in LETSDANCE_ARCHIVES.values()]
    sources = sources or known
    noted = any(source in known for source in sources)
    if noted:  # before the download: these are Let's Dance's own archives
        caution(TERMS_NOTE)
    roots = {_fetch_source(source, dest, progress) for source in sources}
    if len(roots) > 1:
        raise UsageError("The sources do not end up in one folder: " + ", ".join(sorted(map(str, roots))) + ".",
                         "Pass one extracted folder, or archives only (they are extracted together).")
    (root,) = roots
    if given_dest is not None and root.resolve() != given_dest.resolve():  # a folder kept where it is
        root = _refer(given_dest, root, caution)
    index = index_for_training(root, letsdance)
    if not noted and index.layout == "letsdance" and not _is_synthetic(referred_folder(root) or root):
        caution(TERMS_NOTE)
    splits = load_or_make_splits(root, index, seed, on_caution=caution, rule=split)
    return {"root": str(root), "classes": index.classes, "clips": len(index.clips), "frames": index.frames,
            "missing_frames": index.missing_frames, "empty_pose_frames": index.empty_pose_frames,
            "splits": {side: len(keys) for side, keys in splits.items()}}


def _is_synthetic(folder: Path) -> bool:
    from .synthetic import MARKER

    return (folder / MARKER).is_file()


def _refer(dest: Path, folder: Path, caution: Callable[[str], None]) -> Path:
    """Make dest the root of the dataset in `folder` without copying it: dest/source.json names the folder, and
    the split (and the feature cache's key) belong to dest. Refused where that would mislead."""
    target = (referred_folder(folder) or folder).expanduser().resolve()
    if _is_synthetic(target):  # train tells a synthetic corpus by its marker file in the dataset root
        raise UsageError(f"{folder} is a synthetic corpus: it is used where it is, not through --dest.",
                         "Drop --dest, or generate a corpus there with `fetch-dataset --synthetic --dest DIR`.")
    if dest.exists() and not dest.is_dir():
        raise UsageError(f"--dest {dest} is not a folder.", "Pass a new or empty folder.")
    current = referred_folder(dest)
    if current is not None and current != target:
        if current.is_dir():
            raise UsageError(f"--dest {dest} already refers to the dataset in {current}.",
                             f"Pass another --dest for {target}, or delete {dest} first (its split goes with it).")
        caution(f"{dest} referred to {current}, which is gone: it now refers to {target}; its split is kept "
                "(clips are listed by their paths inside the style folders).")
    elif current is None and dest.is_dir() and any(not p.name.startswith(".") for p in dest.iterdir()):
        raise UsageError(f"--dest {dest} is not empty, and with a folder --source it would hold that dataset's "
                         f"split and a {SOURCE_FILE} naming {target}.",
                         "Pass a new or empty folder, or drop --dest to keep the split in the folder itself.")
    if current != target:
        dest.mkdir(parents=True, exist_ok=True)
        atomic_write_json(dest / SOURCE_FILE, {"folder": str(target)})
    return dest


def _fetch_source(source: str, dest: Path, progress: Callable[[str, int, int | None], None] | None) -> Path:
    """The folder a source's data ends up in: dest for archives, the folder itself for an extracted folder."""
    if urllib.parse.urlparse(source).scheme in ("http", "https"):
        name = archive_name(source)
        pinned = next((archive.sha256 for archive in LETSDANCE_ARCHIVES.values() if archive.url == source), None)
        report = (lambda done, total: progress(name, done, total)) if progress else None
        return safe_extract(download(source, dest, report, sha256=pinned), dest)
    path = Path(source).expanduser()
    if path.is_dir():
        return path  # used in place, or referred to from --dest: no copy
    if path.is_file() and zipfile.is_zipfile(path):
        return safe_extract(path, dest)
    raise InputError(f"{source}: not an http(s) URL, a readable .zip archive or a folder.",
                     "Pass an archive's URL, a downloaded .zip, or the folder it was extracted into.")


def _log_caution(text: str) -> None:
    log.warning("%s", text)
