import json
import threading

import numpy as np
import pytest

from flashtts.voices import registry as registry_mod
from flashtts.voices.registry import Role, RoleError, RoleExistsError, RoleNotFoundError, SpeakerRegistry, validate_name


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


@pytest.mark.parametrize("name", ["\U00020000" * 64, "é" * 65, "\U0001F600" * 40, "ß" * 64 + "x", "\uFDFA" * 8])
def test_names_too_long_in_bytes_are_refused(tmp_path, name):
    reg = SpeakerRegistry(tmp_path / "r")
    with pytest.raises(RoleError):
        reg.add(Role(name=name))
    with pytest.raises(RoleNotFoundError):
        reg.get(name)


def test_names_fold_case_compatibility_forms_and_spaces(tmp_path):
    reg = SpeakerRegistry(tmp_path / "r")
    reg.add(Role(name="Keeper", speed=1.1))
    for twin in ("keeper", " KEEPER ", "ｋｅｅｐｅｒ"):
        assert reg.get(twin).name == "Keeper"
        with pytest.raises(RoleExistsError):
            reg.add(Role(name=twin))
    reg.add(Role(name="KEEPER", speed=1.3), overwrite=True)
    assert reg.names() == ["KEEPER"] and reg.get("keeper").speed == 1.3
    reg.add(Role(name="ﬁsh"))
    assert reg.get("fish").name == "ﬁsh"
    reg.delete("FISH")
    assert reg.names() == ["KEEPER"]


def test_legacy_folder_with_capitals_is_found_and_replaced(tmp_path):
    root = tmp_path / "r"
    (root / "Alice").mkdir(parents=True)
    (root / "Alice" / "role.json").write_text(json.dumps({"name": "Alice", "voice": "joe"}))
    reg = SpeakerRegistry(root)
    assert reg.get("alice").name == "Alice"
    reg.add(Role(name="Alice", voice="joe", speed=0.9), overwrite=True)
    assert [p.name for p in root.iterdir() if not p.name.startswith(".")] == ["alice"]
    assert reg.get("ALICE").speed == 0.9


def test_readers_never_miss_a_role_being_replaced(tmp_path):
    reg = SpeakerRegistry(tmp_path / "r")
    clip = np.sin(np.arange(24000) / 10).astype(np.float32) * 0.5
    reg.add(Role(name="racer"), clip, 24000)
    stop = threading.Event()
    misses: list[str] = []

    def write():
        i = 0
        while not stop.is_set():
            reg.add(Role(name="racer", speed=1.0 + (i % 3) / 10), clip * (0.5 + (i % 2) / 4), 24000, overwrite=True)
            i += 1

    def read():
        while not stop.is_set():
            try:
                role, samples, _ = reg.get_with_audio("racer")
                if samples is None or "racer" not in reg.names():
                    misses.append("incomplete")
            except RoleNotFoundError as exc:
                misses.append(repr(exc))

    threads = [threading.Thread(target=write) for _ in range(2)] + [threading.Thread(target=read) for _ in range(4)]
    for t in threads:
        t.start()
    threading.Event().wait(3)
    stop.set()
    for t in threads:
        t.join()
    assert not misses, misses[:3]


def test_sweep_waits_for_a_writer_of_another_process(tmp_path):
    import subprocess
    import sys

    root = tmp_path / "r"
    SpeakerRegistry(root)
    busy = root / ".tmp-in-flight"
    busy.mkdir()
    # another process holds the writers' lock (it is mid-write): a starting replica must not sweep
    done = tmp_path / "writer-done"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, pathlib, sys, time; f = open(sys.argv[1], 'a+b'); fcntl.flock(f, fcntl.LOCK_EX); "
        "print('locked', flush=True); time.sleep(1.0); pathlib.Path(sys.argv[2]).touch()"),
        str(root / ".lock"), str(done)], stdout=subprocess.PIPE)
    assert holder.stdout.readline().strip() == b"locked"
    assert busy.exists()
    SpeakerRegistry(root)  # blocks until the holder is done, then sweeps what it left
    assert done.exists()  # the sweep ran only after the writer finished
    holder.wait(10)
    assert not busy.exists()
