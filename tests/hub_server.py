"""A stand-in Hugging Face Hub on 127.0.0.1 for tests: the real download code runs against it, offline.

    hub = StandInHub().start()                          # random free port, background thread
    commit = hub.publish("org/name", {"config.json": b"{}", "model.safetensors": data})
    # point huggingface_hub at hub.url (HF_ENDPOINT in a subprocess; see tests/test_hub.py in-process)
    hub.count("GET", "/org/name/resolve/")            # requests seen, to prove a cached call made none
    hub.stop()

What it answers (what huggingface_hub 0.26 … 2.4 needs; see shared/offline.md, "Hub code without the Hub"):

- HEAD and GET /{repo}/resolve/{revision}/{file}: the file with X-Repo-Commit (40-hex), ETag (the sha256 of the
  content, quoted, as the Hub gives for LFS files) and Content-Length. Errors are 404s with X-Error-Code
  RepoNotFound, RevisionNotFound or EntryNotFound (the last with X-Repo-Commit, as the Hub sends it).
- GET /api/models/{repo}[/revision/{revision}]: {"id", "sha", "siblings": [{"rfilename"}]} (snapshot_download).
- GET /api/models/{repo}/tree/{revision}[/{path}]: the file listing, one page (snapshot_download in 1.x/2.x).

A revision is a branch or tag name, or a full commit id. Files are kept in memory; every commit is immutable.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")


def git_blob_id(data: bytes) -> str:
    """The git object id of a file's content (what the Hub's tree API calls `oid`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class StandInHub:
    """Repos as {repo: {commit: {filename: bytes}}} plus refs {repo: {branch or tag: commit}}."""

    def __init__(self) -> None:
        self.commits: dict[str, dict[str, dict[str, bytes]]] = {}
        self.refs: dict[str, dict[str, str]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- content --------------------------------------------------------------------------------------------------

    def publish(self, repo: str, files: dict[str, bytes], branch: str | None = "main",
                commit: str | None = None) -> str:
        """Add a commit holding exactly `files` to `repo`; move `branch` to it (None: leave refs alone).

        `commit` picks the commit id (40 lowercase hex), e.g. to serve a revision pinned in the code.
        Returns the commit id.
        """
        if commit is None:
            digest = hashlib.sha1(repo.encode())
            for name in sorted(files):
                digest.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
            digest.update(str(len(self.commits.get(repo, {}))).encode())
            commit = digest.hexdigest()
        if not COMMIT_ID.match(commit):
            raise ValueError(f"a commit id is 40 lowercase hex digits, not {commit!r}")
        with self._lock:
            self.commits.setdefault(repo, {})[commit] = dict(files)
            self.refs.setdefault(repo, {})
            if branch is not None:
                self.refs[repo][branch] = commit
        return commit

    def tag(self, repo: str, name: str, commit: str) -> None:
        with self._lock:
            self.refs[repo][name] = commit

    def resolve(self, repo: str, revision: str) -> str | None:
        """The commit a revision names in `repo`, or None."""
        if revision in self.commits.get(repo, {}):
            return revision
        return self.refs.get(repo, {}).get(revision)

    # -- requests seen ----------------------------------------------------------------------------------------------

    def count(self, method: str | None = None, contains: str = "") -> int:
        """How many requests were made, optionally only with this method and with `contains` in the path."""
        with self._lock:
            return sum(1 for m, path in self.requests if (method is None or m == method) and contains in path)

    def _record(self, method: str, path: str) -> None:
        with self._lock:
            self.requests.append((method, path))

    # -- server -----------------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the stand-in Hub is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandInHub:
        hub = self

        class Handler(_Handler):
            stand_in = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),  # quick shutdown()
                                        name="stand-in-hub", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and free the port; later requests fail to connect, like an unreachable Hub."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=5)
            self._server = None

    def __enter__(self) -> StandInHub:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()


class _Handler(BaseHTTPRequestHandler):
    stand_in: StandInHub
    protocol_version = "HTTP/1.0"  # one request per connection: nothing is left open when the server stops

    def log_message(self, format: str, *args) -> None:  # keep test output clean
        pass

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def do_GET(self) -> None:
        self._answer(body=True)

    # -- routing ----------------------------------------------------------------------------------------------------

    def _answer(self, body: bool) -> None:
        path = urlsplit(self.path).path
        self.stand_in._record(self.command, path)
        if path.startswith("/api/models/"):
            self._api(path[len("/api/models/"):], body)
        elif "/resolve/" in path:
            repo, _, rest = path.lstrip("/").partition("/resolve/")
            revision, _, filename = rest.partition("/")
            self._resolve(unquote(repo), unquote(revision), unquote(filename), body)
        else:
            self._send(404, b'{"error": "Not found"}', {"Content-Type": "application/json"}, body)

    def _commit_or_error(self, repo: str, revision: str, body: bool) -> str | None:
        hub = self.stand_in
        if repo not in hub.commits:
            self._error(404, "RepoNotFound", f"Repository {repo} not found", body)
            return None
        commit = hub.resolve(repo, revision)
        if commit is None:
            self._error(404, "RevisionNotFound", f"Invalid rev id: {revision}", body)
        return commit

    def _resolve(self, repo: str, revision: str, filename: str, body: bool) -> None:
        commit = self._commit_or_error(repo, revision, body)
        if commit is None:
            return
        files = self.stand_in.commits[repo][commit]
        if filename not in files:
            self._error(404, "EntryNotFound", f"{filename} does not exist on {revision}", body,
                        {"X-Repo-Commit": commit})
            return
        data = files[filename]
        self._send(200, data, {
            "Content-Type": "application/octet-stream",
            "X-Repo-Commit": commit,
            "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
        }, body)

    def _api(self, rest: str, body: bool) -> None:
        # {org}/{name}, {org}/{name}/revision/{rev}, {org}/{name}/tree/{rev}[/{path}]
        parts = rest.split("/")
        repo = "/".join(parts[:2])
        kind = parts[2] if len(parts) > 2 else "revision"
        revision = unquote(parts[3]) if len(parts) > 3 else "main"
        subpath = unquote("/".join(parts[4:])) if kind == "tree" else ""
        if kind not in ("revision", "tree"):
            self._send(404, b'{"error": "Not found"}', {"Content-Type": "application/json"}, body)
            return
        commit = self._commit_or_error(repo, revision, body)
        if commit is None:
            return
        files = self.stand_in.commits[repo][commit]
        if kind == "revision":
            info = {"id": repo, "modelId": repo, "sha": commit, "private": False,
                    "siblings": [{"rfilename": name} for name in sorted(files)]}
            self._json(info, body, commit)
            return
        recursive = "recursive=true" in (urlsplit(self.path).query or "").lower()
        prefix = f"{subpath.strip('/')}/" if subpath.strip("/") else ""
        entries, folders = [], set()
        for name in sorted(files):
            if not name.startswith(prefix):
                continue
            below = name[len(prefix):]
            if "/" in below and not recursive:
                folders.add(prefix + below.split("/")[0])
                continue
            data = files[name]
            entries.append({"type": "file", "path": name, "size": len(data), "oid": git_blob_id(data),
                            "lfs": {"oid": hashlib.sha256(data).hexdigest(), "size": len(data),
                                    "pointerSize": 134}})
        entries += [{"type": "directory", "path": folder, "oid": "0" * 40} for folder in sorted(folders)]
        self._json(entries, body, commit)

    # -- responses --------------------------------------------------------------------------------------------------

    def _json(self, data, body: bool, commit: str) -> None:
        self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json", "X-Repo-Commit": commit},
                   body)

    def _error(self, status: int, code: str, message: str, body: bool, headers: dict | None = None) -> None:
        payload = json.dumps({"error": message}).encode()
        self._send(status, payload, {"Content-Type": "application/json", "X-Error-Code": code,
                                     "X-Error-Message": message, **(headers or {})}, body)

    def _send(self, status: int, payload: bytes, headers: dict, body: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)
