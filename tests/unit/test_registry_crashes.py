"""A write cut short leaves the speaker registry whole.

The real registry code runs in a child process that dies (``os._exit``) at the worst moments of a write:
between the temp folder and its rename, halfway through a file, between the two renames of a replace, and
in the middle of a delete. (Roles over HTTP, a restart included: tests/serving/test_roles_api.py.)
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from flashtts.voices.registry import Role, SpeakerRegistry

# ---- crash safety ------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import os, shutil, sys
    import numpy as np
    from flashtts.voices import registry as R

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
