"""A Hugging Face Hub endpoint on loopback for tests/test_hub.py: the calls ``snapshot_download`` makes,
served from a local folder. Run as ``python tests/loopback_hub.py FOLDER REPO COMMIT``; prints its port.

It runs in its own process, so a busy test process cannot starve it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = ""
COMMIT = ""


class _LoopbackHub(BaseHTTPRequestHandler):
    """The two Hub calls ``snapshot_download`` makes, served from a local folder: the revision's file
    list (``/api/models/{repo}/revision/{rev}``) and each file (``/{repo}/resolve/{rev}/{path}``)."""

    folder: Path

    def log_message(self, *args) -> None:
        pass

    def _file(self) -> Path | None:
        prefix = f"/{REPO}/resolve/"
        if not self.path.startswith(prefix):
            return None
        rel = self.path[len(prefix):].split("?")[0].split("/", 1)[1]
        path = (self.folder / rel).resolve()
        return path if path.is_file() and self.folder.resolve() in path.parents else None

    def _head(self, path: Path) -> None:
        data = path.read_bytes()
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()

    def do_HEAD(self) -> None:
        path = self._file()
        if path is None:
            self.send_error(404)
            return
        self._head(path)

    def _files(self) -> list[Path]:
        return sorted(p for p in self.folder.rglob("*") if p.is_file())

    def do_GET(self) -> None:
        listing: object = None
        if self.path.startswith(f"/api/models/{REPO}/revision/"):  # huggingface_hub < 1
            listing = {"id": REPO, "sha": COMMIT,
                       "siblings": [{"rfilename": str(p.relative_to(self.folder))} for p in self._files()]}
        elif self.path.startswith(f"/api/models/{REPO}/tree/"):  # huggingface_hub >= 1 (transformers 5)
            listing = [{"type": "file", "path": str(p.relative_to(self.folder)), "size": p.stat().st_size,
                        "oid": hashlib.sha1(p.read_bytes()).hexdigest()} for p in self._files()]
        if listing is not None:
            body = json.dumps(listing).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        path = self._file()
        if path is None:
            self.send_error(404)
            return
        self._head(path)
        self.wfile.write(path.read_bytes())


def main() -> None:
    global REPO, COMMIT
    folder, REPO, COMMIT = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    hub = ThreadingHTTPServer(("127.0.0.1", 0), type("Hub", (_LoopbackHub,), {"folder": folder}))
    print(hub.server_port, flush=True)
    hub.serve_forever()


if __name__ == "__main__":
    main()
