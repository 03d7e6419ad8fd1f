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
- GET /{path} of a file put there with `serve(path, data)`: the bytes alone, as a publisher's plain download
  server (download.openmmlab.com) gives them.

Uploads (HfApi.create_repo + create_commit, as huggingface_hub 2.4 sends them); every POST but validate-yaml needs
an `Authorization: Bearer …` header (any token), else 401, as the Hub answers a client that is not logged in:

- POST /api/repos/create {"name", "organization", "type"?}: a model repo whose main holds one initial commit with
  a .gitattributes, as on the Hub; {"url", "name"}. 409 {"error", "url"} when it exists (exist_ok=True reads
  the url from it).
- POST /api/validate-yaml {"content"}: the README's front matter must be a YAML mapping, else 400 {"errors"}.
- POST /api/models/{repo}/preupload/{revision} {"files": [{"path", "sample" (base64 of the first 512 bytes),
  "size"}]}: uploadMode "lfs", as the Hub decides, when the path matches a `filter=lfs` pattern of the repo's
  .gitattributes at that revision (create_repo's has *.safetensors), the sample holds a NUL byte (binary), or the
  file is over 10 MB; else "regular" (small text: inlined base64 in the commit). shouldIgnore false. `oid` is the
  file already at that path, as the client compares it: its sha256 for an "lfs" answer, its git blob id for a
  "regular" one; so the client leaves out files that did not change.
- POST /{repo}.git/info/lfs/objects/batch (the git LFS batch API, operation "upload", "basic" among the
  transfers): {"transfer": "basic", "objects": [...]}; an object already stored gets no "actions", any other one
  "actions": {"upload": {"href"}, "verify": {"href"}}: single part (no chunk_size header, so never multipart),
  both hrefs on the stand-in. An oid that is not 64 hex or a size that is not a positive int gets a per-object
  "error" {code 422}.
- PUT /lfs-objects/{repo}/{oid} (the upload href; no Authorization needed, like the Hub's presigned S3 URLs):
  the body must be the size announced to the batch call and hash to the oid, else 400 and nothing is stored; an
  oid no batch call announced is 404. Stored bytes are kept per repo, by oid (hub.lfs).
- POST /{repo}.git/info/lfs/objects/verify {"oid", "size"}: 200 when stored with that size, else 404.
- No xet: the stand-in sends no X-Xet-* headers and 404s /api/models/{repo}/xet-write-token/…, so uploads take
  the LFS path only when the client does not use hf_xet; huggingface_hub 2.4 uses it for every "lfs" file when
  hf_xet is installed, with no say for the server: tests set constants.HF_HUB_DISABLE_XET (HF_HUB_DISABLE_XET=1).
- POST /api/models/{repo}/commit/{revision}: the NDJSON commit (a header line, then `file` lines with base64
  content, `lfsFile` lines {path, algo "sha256", oid, size} naming stored LFS objects (else 422, as the Hub
  refuses a pointer to a file that does not exist) and `deletedFile` lines) becomes one new commit on top of the
  branch: files not named carry over. {"commitUrl", "commitOid", "pullRequestUrl": null}. 412 when the header's
  parentCommit is not the branch head; 400 for what it does not do (deletedFolder, create_pr). Every commit's
  lines (taken or refused) are kept in hub.commit_lines, to tell what went inline from what went through LFS.

A revision is a branch or tag name, or a full commit id. Files are kept in memory; every commit is immutable.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

COMMIT_ID = re.compile(r"^[0-9a-f]{40}$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
LFS_OVER = 10_000_000  # bytes: above this the Hub takes a file through LFS only, text or not
REPO = r"([^/]+/[^/]+)"


def git_blob_id(data: bytes) -> str:
    """The git object id of a file's content (what the Hub's tree API calls `oid`)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class StandInHub:
    """Repos as {repo: {commit: {filename: bytes}}} plus refs {repo: {branch or tag: commit}}."""

    def __init__(self) -> None:
        self.commits: dict[str, dict[str, dict[str, bytes]]] = {}
        self.refs: dict[str, dict[str, str]] = {}
        self.requests: list[tuple[str, str]] = []  # (method, path) of every request, in order
        self.lfs: dict[str, dict[str, bytes]] = {}  # {repo: {sha256: bytes}}: LFS objects uploaded
        self.lfs_announced: dict[tuple[str, str], int] = {}  # (repo, oid) -> size, from batch calls
        self.commit_lines: list[list[dict]] = []  # the NDJSON lines of every commit asked for
        self.plain: dict[str, bytes] = {}  # {"/path": bytes}: plain downloads, outside any repo
        self._lock = threading.RLock()  # re-entered: a commit reads the branch head and publishes atomically
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

    def serve(self, path: str, data: bytes) -> str:
        """Serve `data` as a plain file at /`path`, as a publisher's download server would; returns its URL."""
        with self._lock:
            self.plain["/" + path.lstrip("/")] = data
        return f"{self.url}/{path.lstrip('/')}"

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

    def do_PUT(self) -> None:
        path = urlsplit(self.path).path
        self.stand_in._record("PUT", path)
        data = self._body()
        if match := re.fullmatch(rf"/lfs-objects/{REPO}/([0-9a-f]{{64}})", path):
            self._lfs_store(unquote(match[1]), match[2], data)
        else:
            self._not_found(True)

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        self.stand_in._record("POST", url.path)
        data = self._body()
        if url.path == "/api/validate-yaml":
            self._validate_yaml(json.loads(data)["content"])
        elif not self.headers.get("Authorization", "").startswith("Bearer "):
            self._error(401, "", "Invalid username or password.", True)  # what the Hub says to no token
        elif url.path == "/api/repos/create":
            self._create_repo(json.loads(data))
        elif match := re.fullmatch(rf"/{REPO}\.git/info/lfs/objects/(batch|verify)", url.path):
            repo = unquote(match[1])
            if repo not in self.stand_in.commits:
                self._error(404, "RepoNotFound", f"Repository {repo} not found", True)
            elif match[2] == "batch":
                self._lfs_batch(repo, json.loads(data))
            else:
                self._lfs_verify(repo, json.loads(data))
        elif match := re.fullmatch(rf"/api/models/{REPO}/(preupload|commit)/([^/]+)", url.path):
            repo, action, revision = unquote(match[1]), match[2], unquote(match[3])
            if "create_pr" in (url.query or ""):
                self._error(400, "", "The stand-in Hub does not open pull requests", True)
            elif (commit := self._commit_or_error(repo, revision, True)) is not None:
                if action == "preupload":
                    self._preupload(self.stand_in.commits[repo][commit], json.loads(data)["files"], commit)
                else:
                    self._commit(repo, revision, [json.loads(line) for line in data.splitlines() if line])
        else:
            self._not_found(True)

    def _body(self) -> bytes:
        """The request body, sent with a Content-Length or chunked."""
        if self.headers.get("Transfer-Encoding", "").lower() != "chunked":
            return self.rfile.read(int(self.headers.get("Content-Length") or 0))
        chunks = []
        while size := int(self.rfile.readline().split(b";")[0], 16):
            chunks.append(self.rfile.read(size))
            self.rfile.readline()  # the CRLF after each chunk
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):  # trailers
            pass
        return b"".join(chunks)

    # -- routing ----------------------------------------------------------------------------------------------------

    def _answer(self, body: bool) -> None:
        path = urlsplit(self.path).path
        self.stand_in._record(self.command, path)
        if path in self.stand_in.plain:
            self._send(200, self.stand_in.plain[path], {"Content-Type": "application/octet-stream"}, body)
        elif path.startswith("/api/models/"):
            self._api(path[len("/api/models/"):], body)
        elif "/resolve/" in path:
            repo, _, rest = path.lstrip("/").partition("/resolve/")
            revision, _, filename = rest.partition("/")
            self._resolve(unquote(repo), unquote(revision), unquote(filename), body)
        else:
            self._not_found(body)

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
            self._not_found(body)
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

    # -- uploads ----------------------------------------------------------------------------------------------------

    def _validate_yaml(self, readme: str) -> None:
        import yaml  # a dependency of huggingface_hub

        front = re.match(r"---\n(.*?)\n---\n", readme, re.DOTALL)
        try:
            ok = front is None or isinstance(yaml.safe_load(front[1]), dict)
        except yaml.YAMLError:
            ok = False
        if ok:
            self._send_json(200, {"errors": [], "warnings": []})
        else:
            self._send_json(400, {"errors": [{"message": "the metadata is not a YAML mapping"}]})

    def _create_repo(self, request: dict) -> None:
        hub = self.stand_in
        if not request.get("organization") or request.get("type", "model") != "model":
            self._error(400, "", "The stand-in Hub makes model repos named org/name only", True)
            return
        repo = f"{request['organization']}/{request['name']}"
        url = f"{hub.url}/{repo}"
        with hub._lock:
            exists = repo in hub.commits
            if not exists:
                hub.publish(repo, {".gitattributes": b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n"})
        if exists:  # exist_ok=True still reads "url" from this answer, as the Hub gives it
            self._send_json(409, {"error": "You already created this model repo", "url": url})
        else:
            self._send_json(200, {"url": url, "name": repo})

    def _preupload(self, files: dict[str, bytes], asked: list[dict], commit: str) -> None:
        patterns = [line.split()[0] for line in files.get(".gitattributes", b"").decode().splitlines()
                    if "filter=lfs" in line.split()[1:]]
        answer = []
        for file in asked:
            path = file["path"]
            name = path.rsplit("/", 1)[-1]  # a pattern without a slash matches the file name, at any depth
            tracked = any(fnmatch.fnmatchcase(path if "/" in p else name, p.lstrip("/")) for p in patterns)
            lfs = tracked or b"\0" in base64.b64decode(file["sample"]) or file["size"] > LFS_OVER
            oid = None
            if path in files:
                oid = hashlib.sha256(files[path]).hexdigest() if lfs else git_blob_id(files[path])
            answer.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False,
                           "oid": oid})
        self._json({"files": answer}, True, commit)

    def _lfs_batch(self, repo: str, request: dict) -> None:
        if request.get("operation") != "upload" or "basic" not in request.get("transfers", ["basic"]):
            self._error(422, "", "The stand-in Hub takes LFS uploads through the basic transfer only", True)
            return
        hub = self.stand_in
        objects = []
        for item in request.get("objects", []):
            oid, size = item.get("oid"), item.get("size")
            answer = {"oid": oid, "size": size, "authenticated": True}
            if not (isinstance(oid, str) and SHA256.match(oid) and isinstance(size, int) and size > 0):
                answer["error"] = {"code": 422, "message": "An LFS object is a sha256 oid and a positive size"}
            elif oid not in hub.lfs.get(repo, {}):
                with hub._lock:
                    hub.lfs_announced[(repo, oid)] = size
                answer["actions"] = {"upload": {"href": f"{hub.url}/lfs-objects/{repo}/{oid}"},
                                     "verify": {"href": f"{hub.url}/{repo}.git/info/lfs/objects/verify"}}
            objects.append(answer)
        self._send(200, json.dumps({"transfer": "basic", "objects": objects}).encode(),
                   {"Content-Type": "application/vnd.git-lfs+json"}, True)

    def _lfs_store(self, repo: str, oid: str, data: bytes) -> None:
        hub = self.stand_in
        size = hub.lfs_announced.get((repo, oid))
        if size is None:
            self._error(404, "", f"No LFS upload of {oid} was announced to {repo}", True)
        elif len(data) != size or hashlib.sha256(data).hexdigest() != oid:
            self._error(400, "", f"The uploaded bytes ({len(data)}) are not the object announced: {oid}, {size} "
                        "bytes", True)
        else:
            with hub._lock:
                hub.lfs.setdefault(repo, {})[oid] = data
            self._send(200, b"", {}, True)

    def _lfs_verify(self, repo: str, request: dict) -> None:
        stored = self.stand_in.lfs.get(repo, {}).get(request.get("oid"))
        if stored is not None and len(stored) == request.get("size"):
            self._send_json(200, {})
        else:
            self._error(404, "", f"LFS object {request.get('oid')} is not stored in {repo}", True)

    def _commit(self, repo: str, revision: str, lines: list[dict]) -> None:
        hub = self.stand_in
        try:
            header = lines[0]["value"] if lines and lines[0].get("key") == "header" else {}
            if not header.get("summary"):
                raise _Refused(400, "A commit starts with a header line holding a summary")
            if revision not in hub.refs[repo]:
                raise _Refused(400, f"{revision} is not a branch: only a branch can take a commit")
            with hub._lock:  # read the head and publish on top of it in one step, as the Hub does
                hub.commit_lines.append(lines)
                head = hub.refs[repo][revision]
                if header.get("parentCommit", head) != head:
                    raise _Refused(412, f"A commit has happened since {header['parentCommit']}")
                files = _apply(hub.commits[repo][head], lines[1:], hub.lfs.get(repo, {}))
                commit = hub.publish(repo, files, branch=revision)
        except _Refused as refused:
            self._error(refused.status, refused.code, refused.message, True)
            return
        self._json({"success": True, "commitOid": commit, "commitUrl": f"{hub.url}/{repo}/commit/{commit}",
                    "pullRequestUrl": None}, True, commit)

    # -- responses --------------------------------------------------------------------------------------------------

    def _json(self, data, body: bool, commit: str) -> None:
        self._send_json(200, data, body, {"X-Repo-Commit": commit})

    def _send_json(self, status: int, data, body: bool = True, headers: dict | None = None) -> None:
        self._send(status, json.dumps(data).encode(), {"Content-Type": "application/json", **(headers or {})}, body)

    def _not_found(self, body: bool) -> None:
        self._send_json(404, {"error": "Not found"}, body)

    def _error(self, status: int, code: str, message: str, body: bool, headers: dict | None = None) -> None:
        codes = {"X-Error-Code": code} if code else {}
        self._send_json(status, {"error": message}, body, {**codes, "X-Error-Message": message, **(headers or {})})

    def _send(self, status: int, payload: bytes, headers: dict, body: bool) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if body:
            self.wfile.write(payload)


class _Refused(Exception):
    """A commit the stand-in turns down: answered as an HTTP error."""

    def __init__(self, status: int, message: str, code: str = "") -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


def _apply(files: dict[str, bytes], lines: list[dict], lfs: dict[str, bytes]) -> dict[str, bytes]:
    """A commit's NDJSON operation lines applied to a copy of its parent's files (files not named carry over);
    `lfs` holds the repo's uploaded LFS objects by sha256."""
    files = dict(files)
    for line in lines:
        key, value = line.get("key"), line.get("value", {})
        if key == "file" and value.get("encoding") == "base64":
            files[value["path"]] = base64.b64decode(value["content"])
        elif key == "lfsFile":
            stored = lfs.get(value.get("oid")) if value.get("algo") == "sha256" else None
            if stored is None or len(stored) != value.get("size"):
                raise _Refused(422, "Your push was rejected because an LFS pointer pointed to a file that does not "
                               f"exist: {value.get('path')} ({value.get('oid')})")
            files[value["path"]] = stored
        elif key == "deletedFile" and value.get("path") in files:
            del files[value["path"]]
        elif key == "deletedFile":
            raise _Refused(404, "A file with this name doesn't exist", "EntryNotFound")
        else:  # deletedFolder: the stand-in keeps no folders
            raise _Refused(400, f"The stand-in Hub does not take {key} lines")
    return files
