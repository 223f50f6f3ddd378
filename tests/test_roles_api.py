"""Acceptance 4: roles over HTTP survive a restart; a write cut short leaves the registry whole.

The HTTP part runs real servers on one ``--role_dir``. The crash part runs the real registry
code in a child process that dies (``os._exit``) at the worst moments of a write: between the
temp folder and its rename, halfway through a file, between the two renames of a replace,
and in the middle of a delete.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import numpy as np
import pytest

from support import HARVARD
from live import assert_openai_error, audio_info

from flashtts.audio import decode, encode
from flashtts.registry import Role, SpeakerRegistry


def _clip(server) -> bytes:
    """A WAV clip of the Piper voice, made by the server itself."""
    r = httpx.post(server.url + "/v1/audio/speech", timeout=120,
                   json={"model": "tts-1", "voice": "joe", "input": HARVARD[2], "response_format": "wav",
                         "stream": False})
    assert r.status_code == 200
    assert float(r.headers["x-audio-duration"]) >= 1.0
    return r.content


def _roles(server) -> list[str]:
    r = httpx.get(server.url + "/audio_roles", timeout=30)
    assert r.status_code == 200
    body = r.json()
    assert body["success"] is True
    return body["roles"]


@pytest.mark.slow
def test_add_speaker_survives_restart_and_delete_removes_it(live_server, tmp_path):
    role_dir = tmp_path / "roles"
    first = live_server("--role_dir", str(role_dir))
    clip = _clip(first)

    # a clone role from an uploaded file, and a Piper preset role (built-in voice + speed)
    r = httpx.post(first.url + "/add_speaker", timeout=60,
                   data={"name": "Tester", "reference_text": HARVARD[2]},
                   files={"audio_file": ("tester.wav", clip, "audio/wav")})
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True, "role": "Tester"}
    r = httpx.post(first.url + "/add_speaker", data={"name": "fast joe", "voice": "joe", "speed": "1.5"}, timeout=60)
    assert r.status_code == 200, r.text
    assert {"Tester", "fast joe"} <= set(_roles(first))
    # the same name again is a conflict, not a silent overwrite
    err = assert_openai_error(httpx.post(first.url + "/add_speaker", data={"name": "Tester", "voice": "joe"}), 409)
    assert err["code"] == "role_exists"

    voices = {v["id"]: v for v in httpx.get(first.url + "/v1/audio/voices").json()["data"]}
    assert voices["Tester"]["kind"] == "role" and voices["Tester"]["preview_url"]
    assert voices["joe"]["kind"] == "builtin"
    stored = httpx.get(first.url + voices["Tester"]["preview_url"])
    assert stored.status_code == 200 and stored.headers["content-type"] == "audio/wav"
    assert audio_info(stored.content)[0] == pytest.approx(audio_info(clip)[0], rel=0.02)
    stored_hash = hashlib.sha256(stored.content).hexdigest()

    # the preset role speaks; the clone role on Piper (which cannot clone) is a clear 400
    r = httpx.post(first.url + "/speak", json={"name": "fast joe", "text": "Hello there.", "response_format": "wav"},
                   timeout=60)
    assert r.status_code == 200 and audio_info(r.content)[0] > 0.3
    err = assert_openai_error(httpx.post(first.url + "/speak", json={"name": "Tester", "text": "Hello."}, timeout=60),
                              400)
    assert "clone" in err["message"] and err["code"] == "unsupported_capability"

    # restart on the same directory: both roles and the clip are still there
    first.stop()
    second = live_server("--role_dir", str(role_dir))
    assert {"Tester", "fast joe"} <= set(_roles(second))
    again = httpx.get(second.url + "/v1/audio/voices/Tester/reference")
    assert hashlib.sha256(again.content).hexdigest() == stored_hash
    meta = json.loads((role_dir / "tester" / "role.json").read_text())
    assert meta["reference_text"] == HARVARD[2] and meta["sample_rate"] == 22050

    # delete removes it (and only it), on disk too; deleting again is a 404
    r = httpx.post(second.url + "/delete_speaker", data={"name": "Tester"})
    assert r.status_code == 200 and r.json() == {"success": True, "role": "Tester"}
    names = _roles(second)
    assert "Tester" not in names and "fast joe" in names
    assert not (role_dir / "tester").exists()
    assert_openai_error(httpx.post(second.url + "/delete_speaker", data={"name": "Tester"}), 404)
    assert not any(p.name.startswith(".") and p.name != ".lock" for p in role_dir.iterdir())

    # the OpenAI voice routes manage the same registry
    r = httpx.post(second.url + "/v1/audio/voices", data={"name": "via-openai"},
                   files={"audio_sample": ("v.wav", clip, "audio/wav")}, timeout=60)
    assert r.status_code == 200 and r.json()["id"] == "via-openai"
    assert "via-openai" in _roles(second)
    assert httpx.delete(second.url + "/v1/audio/voices/via-openai").json()["deleted"] is True
    assert "via-openai" not in _roles(second)


# ---- crash safety ------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, shutil, sys
    import numpy as np
    from flashtts import registry as R

    root, point, name, overwrite = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
    real_rename, real_write, real_rmtree = os.rename, R._write_file, shutil.rmtree

    def rename(src, dst):
        if point == "rename" and os.path.basename(str(src)).startswith(".tmp-"):
            os._exit(9)  # the temp folder is complete; it was never moved into place
        return real_rename(src, dst)

    def write(path, data):
        if point == "write" and path.name == "role.json":
            with open(path, "wb") as fh:
                fh.write(data[: len(data) // 2])
            os._exit(9)  # torn file
        return real_write(path, data)

    def rmtree(path, *a, **k):
        if point == "delete":
            os._exit(9)  # the role was moved aside, not yet removed
        return real_rmtree(path, *a, **k)

    real_exchange = R._exchange

    def exchange(a, b):
        if point == "rename" and os.path.basename(str(a)).startswith(".tmp-"):
            os._exit(9)  # the temp folder is complete; it was never swapped into place
        return real_exchange(a, b)

    R.os.rename = rename
    R._exchange = exchange
    R._write_file = write
    R.shutil.rmtree = rmtree
    reg = R.SpeakerRegistry(root)
    if point == "delete":
        reg.delete(name)
    else:
        clip = np.sin(np.arange(48000) / 7.0).astype(np.float32) * 0.3
        reg.add(R.Role(name=name, reference_text="NEW"), clip, 24000, overwrite=overwrite)
    print("finished without crashing")
    """
)


def _crash(root: Path, point: str, name: str, overwrite: bool = False) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root), point, name, "1" if overwrite else "0"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, (proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def seeded(tmp_path) -> tuple[Path, SpeakerRegistry, bytes]:
    root = tmp_path / "roles"
    reg = SpeakerRegistry(root)
    clip = (np.cos(np.arange(30000) / 5.0) * 0.4).astype(np.float32)
    reg.add(Role(name="keep", reference_text="OLD"), clip, 24000)
    reg.add(Role(name="other", voice="joe", speed=1.2))
    return root, reg, (root / "keep" / "reference.wav").read_bytes()


def _check_intact(reg: SpeakerRegistry, keep_wav: bytes, root: Path, expect_keep: str | None = "OLD") -> None:
    names = reg.names()
    assert "other" in names and reg.get("other").speed == 1.2
    if expect_keep is None:
        assert "keep" not in names
    else:
        assert "keep" in names and reg.get("keep").reference_text == expect_keep
        if expect_keep == "OLD":
            samples, rate = reg.load_audio("keep")
            assert rate == 24000 and reg.audio_path("keep").read_bytes() == keep_wav
    for role in reg.list():  # every listed role is whole and readable
        assert reg.get(role.name).to_json() == role.to_json()


@pytest.mark.parametrize("point", ["rename", "write"])
def test_crash_while_adding_a_new_role(seeded, point):
    root, running, keep_wav = seeded
    _crash(root, point, "newbie")
    assert any(p.name.startswith(".tmp-") for p in root.iterdir())  # the crash left its temp folder
    # a reader that was already running (another replica) sees the old roles and no half role
    assert sorted(running.names()) == ["keep", "other"]
    _check_intact(running, keep_wav, root)
    # a restart sweeps the leftovers
    restarted = SpeakerRegistry(root)
    assert sorted(restarted.names()) == ["keep", "other"]
    assert not any(p.name.startswith(".") and p.name != ".lock" for p in root.iterdir())
    _check_intact(restarted, keep_wav, root)
    restarted.add(Role(name="newbie", voice="joe"))  # the name is free again
    assert "newbie" in restarted.names()


@pytest.mark.parametrize("point", ["rename", "write"])
def test_crash_while_replacing_a_role_keeps_the_old_one(seeded, point):
    """A replace dies before the new version is in place: the old version must survive, whole."""
    root, running, keep_wav = seeded
    _crash(root, point, "keep", overwrite=True)
    _check_intact(running, keep_wav, root)  # readers that never restarted
    restarted = SpeakerRegistry(root)
    assert sorted(restarted.names()) == ["keep", "other"]
    assert not any(p.name.startswith(".") and p.name != ".lock" for p in root.iterdir())
    _check_intact(restarted, keep_wav, root)


def test_crash_while_deleting_a_role(seeded):
    root, running, keep_wav = seeded
    _crash(root, "delete", "keep")
    assert sorted(running.names()) == ["other"]  # the delete took effect at its rename
    restarted = SpeakerRegistry(root)
    assert sorted(restarted.names()) == ["other"]
    assert not any(p.name.startswith(".") and p.name != ".lock" for p in root.iterdir())
    _check_intact(restarted, keep_wav, root, expect_keep=None)


def test_replace_that_completes_is_seen_whole(seeded):
    root, running, _ = seeded
    proc = subprocess.run([sys.executable, "-c", CHILD, str(root), "none", "keep", "1"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "finished" in proc.stdout, proc.stderr
    assert running.get("keep").reference_text == "NEW"
    samples, rate = running.load_audio("keep")
    assert rate == 24000 and len(samples) == 48000
    assert not any(p.name.startswith(".") and p.name != ".lock" for p in root.iterdir())
