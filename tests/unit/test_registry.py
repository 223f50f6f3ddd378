import json
import os
import threading

import numpy as np
import pytest

from flashtts import registry as registry_mod
from flashtts.registry import Role, RoleError, RoleExistsError, RoleNotFoundError, SpeakerRegistry, validate_name


@pytest.mark.parametrize("name", ["../x", "..", "a/b", "a\\b", "", " ", ".hidden", "x" * 65, "a\x00b", "bad.."])
def test_bad_names(name):
    with pytest.raises(RoleError):
        validate_name(name)


@pytest.mark.parametrize("name", ["alice", "Bob-2", "voice one", "小明", "a.b"])
def test_good_names(name):
    assert validate_name(name) == name


def test_add_get_delete_roundtrip(tmp_path):
    reg = SpeakerRegistry(tmp_path / "r")
    clip = np.sin(np.arange(24000) / 10).astype(np.float32) * 0.5
    reg.add(Role(name="alice", reference_text="hello"), clip, 24000)
    role = reg.get("alice")
    assert role.reference_text == "hello" and role.has_audio and role.sample_rate == 24000
    samples, rate = reg.load_audio("alice")
    assert rate == 24000 and np.allclose(samples, clip, atol=1e-4)
    with pytest.raises(RoleExistsError):
        reg.add(Role(name="alice"))
    reg.add(Role(name="alice", reference_text="bye"), overwrite=True)
    assert reg.get("alice").reference_text == "bye" and not reg.get("alice").has_audio
    reg.delete("alice")
    assert reg.names() == []
    with pytest.raises(RoleNotFoundError):
        reg.delete("alice")


def test_seeded_from_defaults_once(tmp_path):
    defaults = tmp_path / "defaults"
    (defaults / "narrator").mkdir(parents=True)
    (defaults / "narrator" / "role.json").write_text(json.dumps({"name": "narrator", "speed": 0.9}))
    reg = SpeakerRegistry(tmp_path / "r", defaults=defaults)
    assert reg.names() == ["narrator"]
    reg.delete("narrator")
    assert SpeakerRegistry(tmp_path / "r", defaults=defaults).names() == []  # not re-seeded


def test_interrupted_write_leaves_registry_intact(tmp_path, monkeypatch):
    reg = SpeakerRegistry(tmp_path / "r")
    reg.add(Role(name="keep", reference_text="old"))

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(registry_mod.os, "rename", boom)
    monkeypatch.setattr(registry_mod, "_exchange", boom)
    with pytest.raises(OSError):
        reg.add(Role(name="new"))
    with pytest.raises(OSError):
        reg.add(Role(name="keep", reference_text="changed"), overwrite=True)
    monkeypatch.undo()
    assert reg.names() == ["keep"] and reg.get("keep").reference_text == "old"
    assert not [p for p in (tmp_path / "r").iterdir() if p.name.startswith(".tmp-")]


def test_crash_leftovers_are_ignored_and_swept(tmp_path):
    root = tmp_path / "r"
    reg = SpeakerRegistry(root)
    reg.add(Role(name="keep"))
    half = root / ".tmp-deadbeef"
    half.mkdir()
    (half / "role.json").write_text('{"name": "hal')  # a torn write
    (root / "broken").mkdir()  # a folder without metadata
    assert reg.names() == ["keep"]
    SpeakerRegistry(root)  # restart sweeps
    assert not half.exists()


def test_concurrent_add_delete(tmp_path):
    reg = SpeakerRegistry(tmp_path / "r")
    errors = []

    def work(i):
        try:
            for j in range(10):
                reg.add(Role(name=f"r{i}-{j}"))
                if j % 2:
                    reg.delete(f"r{i}-{j}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(reg.names()) == sorted(f"r{i}-{j}" for i in range(4) for j in range(0, 10, 2))
    assert all(not p.name.startswith(".") or p.name == ".lock" for p in (tmp_path / "r").iterdir())
