"""The checkpoint builder: published layout, loaded by the reference package's own from_pretrained,
kind detected from config, deterministic weights."""

from __future__ import annotations

import json

import pytest

from flashtts_engines.qwen3 import detect_kind
from flashtts_engines.qwen3.checkpoint import make_checkpoint

pytestmark = pytest.mark.slow


def test_layout_and_kind_detection(checkpoints, reference_models):
    for kind, path in checkpoints.items():
        names = {p.name for p in path.iterdir()}
        assert {"config.json", "model.safetensors", "generation_config.json", "tokenizer_config.json",
                "speech_tokenizer"} <= names
        assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {
            p.name for p in (path / "speech_tokenizer").iterdir()}
        assert detect_kind(path) == kind
        cfg = json.loads((path / "config.json").read_text())
        assert "model_type" not in cfg.get("speaker_encoder_config", {})  # the reload bug stays fixed
        size = sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
        assert size < 20e6
        model = reference_models[kind]  # loaded by Qwen3TTSModel.from_pretrained(dir)
        assert model.model.tts_model_type == kind
        assert (model.model.speaker_encoder is not None) == (kind == "base")
    speakers = reference_models["custom_voice"].get_supported_speakers()
    assert set(speakers) == {"serena", "vivian", "uncle_fu", "ryan", "aiden", "ono_anna", "sohee", "eric", "dylan"}
    assert "english" in reference_models["voice_design"].get_supported_languages()


def test_weights_are_a_function_of_the_seed(tmp_path):
    from safetensors.torch import load_file

    a = load_file(str(make_checkpoint("voice_design", "tiny", tmp_path / "a", seed=5) / "model.safetensors"))
    b = load_file(str(make_checkpoint("voice_design", "tiny", tmp_path / "b", seed=5) / "model.safetensors"))
    c = load_file(str(make_checkpoint("voice_design", "tiny", tmp_path / "c", seed=6) / "model.safetensors"))
    assert a.keys() == b.keys() == c.keys()
    assert all((a[k] == b[k]).all() for k in a)
    assert any((a[k] != c[k]).any() for k in a)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="kind must be one of"):
        make_checkpoint("cloning", "tiny", tmp_path)
    with pytest.raises(ValueError, match="size must be one of"):
        make_checkpoint("base", "7b", tmp_path)
    with pytest.raises(ValueError, match="not a Qwen3-TTS checkpoint"):
        (tmp_path / "config.json").write_text("{}")
        detect_kind(tmp_path)


def test_make_checkpoint_command(tmp_path):
    """``flashtts dev make-checkpoint`` (in-process: the GPU script runs it first on the GPU machine)."""
    from typer.testing import CliRunner

    from flashtts.cli.main import app

    out = tmp_path / "vd"
    result = CliRunner().invoke(app, ["dev", "make-checkpoint", str(out), "--kind", "voice_design", "--seed", "3",
                                      "--no-eos"])
    assert result.exit_code == 0, result.output
    assert "wrote voice_design tiny checkpoint" in result.stdout
    assert detect_kind(out) == "voice_design"
    from safetensors.torch import load_file

    from flashtts_engines.qwen3.checkpoint import CODEC_EOS

    head = next(v for k, v in load_file(str(out / "model.safetensors")).items() if k.endswith("codec_head.weight"))
    assert not head[CODEC_EOS].any() and head[CODEC_EOS - 1].any()  # --no-eos: end-of-speech can never win
