"""The container files agree with the code: every FLASHTTS_* name they set is a real option, the ports and
the volume match, and the README's container section starts with the two commands (tests/container runs
the image itself)."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from flashtts.config.options import env_var, fields
from flashtts.config.startup_checks import OTHER_VARIABLES

ROOT = Path(__file__).resolve().parents[2]
OPTION_VARIABLES = {env_var(f.name) for f, _, _ in fields()} | {"FLASHTTS_CACHE_DIR"}
"""What the image may set: serve's options and the engines' cache folder (a variable no option reads)."""
assert "FLASHTTS_CACHE_DIR" in OTHER_VARIABLES  # serve does not warn about it


def names_in(text: str) -> set[str]:
    return set(re.findall(r"\bFLASHTTS_[A-Z0-9_]+", text))


def test_every_variable_the_image_files_name_is_an_option():
    for path in ("Dockerfile", "compose.yaml"):
        names = names_in((ROOT / path).read_text(encoding="utf-8"))
        assert names and names <= OPTION_VARIABLES, (path, names - OPTION_VARIABLES)


def test_compose_publishes_the_exposed_ports_and_keeps_data_in_a_volume():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    exposed = {tuple(line.split()[1:]) for line in dockerfile.splitlines() if line.startswith("EXPOSE ")}
    assert exposed == {("8000", "10200")}
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    service = compose["services"]["flashtts"]
    assert {p.split(":")[-1] for p in service["ports"]} == {"8000", "10200"}
    assert "flashtts:/data" in service["volumes"] and "flashtts" in compose["volumes"]
    assert 'VOLUME ["/data"]' in dockerfile and "FLASHTTS_ROLE_DIR=/data/roles" in dockerfile
    assert "HF_HOME=/data/huggingface" in dockerfile


def test_readme_container_section_starts_with_run_and_compose():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Run in a container"):]
    commands = section.split("```bash\n", 1)[1].split("```", 1)[0].splitlines()
    assert commands[0].startswith("docker run -p 8000:8000 -v flashtts:/data ")
    assert commands[1].startswith("docker compose up")
