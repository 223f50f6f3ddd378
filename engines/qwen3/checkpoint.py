"""Build random-weight Qwen3-TTS 12 Hz checkpoints of the real architecture, fully offline.

The directory written has the layout of the published checkpoints (``config.json`` +
``model.safetensors`` + ``generation_config.json`` + text tokenizer files + ``speech_tokenizer/``)
and is loaded by the same code path as a published one (``Qwen3TTSModel.from_pretrained(dir)``).

* ``size="tiny"``: a few MB, two talker layers of width 32, a tiny byte-level BPE text tokenizer;
  for tests and CPU benchmarks.
* ``size="0.6b"`` / ``"1.7b"``: the published dimensions (28 talker layers, hidden 1024 / 2048,
  5-layer code predictor, full 12 Hz codec decoder); the real Qwen text vocabulary is rebuilt from a
  ``qwen.tiktoken`` file (``tokenizer=PATH``, or the one inside the ``dashscope`` wheel when that is
  installed, with ``tiktoken``). Build them where they run (a GPU machine): they are GBs.

Codec-side ids (codec vocab 3072, pad/bos/eos 2148/2149/2150, think ids 2154..2157, language ids
and the nine preset speakers of CustomVoice) are the published values.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

KINDS = ("custom_voice", "voice_design", "base")
SIZES = ("tiny", "0.6b", "1.7b")

QWEN2_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
TINY_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>"]
QWEN3_SPECIALS = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>", "<|object_ref_end|>", "<|box_start|>",
    "<|box_end|>", "<|quad_start|>", "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>", "<|fim_prefix|>", "<|fim_middle|>",
    "<|fim_suffix|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<tool_response>", "</tool_response>",
    "<think>", "</think>", "<|audio_start|>", "<|audio_end|>", "<tts_pad>", "<tts_text_bos>", "<tts_text_eod>",
    "<tts_text_bos_single>", "<|audio_pad|>",
]
TINY_CORPUS = [
    "assistant user system assistant user",
    "Hello world. This is a tiny test of the text to speech server.",
    "She said she would be here by noon. The quick brown fox jumps over the lazy dog.",
    "其实我真的有发现，我是一个特别善于观察别人情绪的人。",
    "こんにちは世界。안녕하세요. Bonjour le monde. Hallo Welt. Привет мир. Hola mundo. Olá mundo. Ciao mondo.",
    "Speak in an incredulous tone, but with a hint of panic. 用特别愤怒的语气说",
]

CODEC_LANGUAGE_ID = {
    "chinese": 2055, "english": 2050, "german": 2053, "italian": 2070, "portuguese": 2071,
    "spanish": 2054, "japanese": 2058, "korean": 2064, "french": 2061, "russian": 2069,
    "beijing_dialect": 2074, "sichuan_dialect": 2062,
}
SPK_ID = {
    "serena": 3066, "vivian": 3065, "uncle_fu": 3010, "ryan": 3061, "aiden": 2861,
    "ono_anna": 2873, "sohee": 2864, "eric": 2875, "dylan": 2878,
}
SPK_IS_DIALECT: dict[str, Any] = {k: False for k in SPK_ID}
SPK_IS_DIALECT.update({"eric": "sichuan_dialect", "dylan": "beijing_dialect"})
CODEC_EOS = 2150

GENERATE_CONFIG = {  # keys read by Qwen3TTSModel._merge_generate_kwargs
    "do_sample": True, "top_k": 50, "top_p": 1.0, "temperature": 0.9, "repetition_penalty": 1.05,
    "subtalker_dosample": True, "subtalker_top_k": 50, "subtalker_top_p": 1.0, "subtalker_temperature": 0.9,
    "max_new_tokens": 8192,
}

# talker / code-predictor / codec-decoder dimensions per size
_DIMS: dict[str, dict[str, Any]] = {
    "tiny": dict(
        talker=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                    num_key_value_heads=2, head_dim=8, text_hidden_size=16, max_position_embeddings=4096,
                    rope_scaling={"rope_type": "default", "mrope_section": [2, 1, 1], "interleaved": True}),
        predictor=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4,
                       num_key_value_heads=2, head_dim=8, max_position_embeddings=64),
        speaker=dict(enc_channels=[8, 8, 8, 8, 24], enc_kernel_sizes=[5, 3, 3, 3, 1], enc_dilations=[1, 2, 3, 4, 1],
                     enc_attention_channels=4, enc_res2net_scale=2, enc_se_channels=4),
        decoder=dict(codebook_dim=16, hidden_size=16, latent_dim=16, intermediate_size=32, num_hidden_layers=1,
                     num_attention_heads=2, num_key_value_heads=2, decoder_dim=32),
        encoder=dict(hidden_size=16, num_filters=4, num_residual_layers=1, codebook_dim=8,
                     vector_quantization_hidden_dimension=8, upsample_groups=16, num_hidden_layers=1,
                     intermediate_size=32, num_attention_heads=2, num_key_value_heads=2, head_dim=8),
    ),
    "0.6b": dict(
        talker=dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=28, num_attention_heads=16,
                    num_key_value_heads=8, head_dim=128, text_hidden_size=2048, max_position_embeddings=32768,
                    rms_norm_eps=1e-6,
                    rope_scaling={"rope_type": "default", "mrope_section": [24, 20, 20], "interleaved": True}),
        predictor=dict(hidden_size=1024, intermediate_size=3072, num_hidden_layers=5, num_attention_heads=16,
                       num_key_value_heads=8, head_dim=128, max_position_embeddings=65536, rms_norm_eps=1e-6,
                       rope_theta=1000000),
        speaker=dict(),
        decoder=dict(latent_dim=1024, codebook_dim=512, decoder_dim=1536, hidden_size=512, intermediate_size=1024,
                     head_dim=64, num_attention_heads=16, num_key_value_heads=16, num_hidden_layers=8),
        encoder=dict(num_quantizers=32),
    ),
}
# ``wide_heads=True``: the tiny talker and code predictor with attention heads of 32, the smallest
# head size vLLM's CPU attention runs (the vLLM backend's tests); everything else stays tiny
TINY_WIDE_HEADS = dict(
    talker=dict(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2,
                num_key_value_heads=1, head_dim=32, text_hidden_size=16, max_position_embeddings=4096,
                rope_scaling={"rope_type": "default", "mrope_section": [8, 4, 4], "interleaved": True}),
    predictor=dict(hidden_size=64, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                   num_key_value_heads=1, head_dim=32, max_position_embeddings=64),
)
_DIMS["1.7b"] = json.loads(json.dumps(_DIMS["0.6b"]))
_DIMS["1.7b"]["talker"].update(hidden_size=2048, intermediate_size=6144)


def _qwen2_tokenizer(tok):
    """The transformers tokenizer of the published checkpoints around a ``tokenizers`` object."""
    import transformers

    # the tokenizers-backed class: Qwen2TokenizerFast (transformers 5 keeps the name, untyped, for Qwen2Tokenizer)
    fast_class: Any = getattr(transformers, "Qwen2TokenizerFast")  # noqa: B009
    # Qwen's vocabulary has no unknown or begin token
    return fast_class(tokenizer_object=tok, unk_token=None, bos_token=None, eos_token="<|im_end|>",
                      pad_token="<|endoftext|>")


def _tiny_text_tokenizer(vocab_size: int = 512):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(QWEN2_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, min_frequency=1, special_tokens=TINY_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False,
    )
    tok.train_from_iterator(TINY_CORPUS * 20, trainer=trainer)
    fast = _qwen2_tokenizer(tok)
    # the reference code slices prompts assuming these token counts
    assert len(fast("<|im_start|>assistant\n")["input_ids"]) == 3
    assert len(fast("<|im_end|>\n<|im_start|>assistant\n")["input_ids"]) == 5
    return fast


def _find_qwen_tiktoken() -> Path | None:
    """``qwen.tiktoken`` inside the installed ``dashscope`` wheel, found without importing ``dashscope``
    (its import needs pydantic, cryptography, opentelemetry, ...: packages a bare GPU image lacks)."""
    import importlib.util

    spec = importlib.util.find_spec("dashscope")
    for base in (spec.submodule_search_locations or []) if spec is not None else []:
        p = Path(base) / "resources" / "qwen.tiktoken"
        if p.is_file():
            return p
    return None


def _qwen_text_tokenizer(path: Path):
    from tokenizers import AddedToken, normalizers
    from transformers.convert_slow_tokenizer import TikTokenConverter

    tok = TikTokenConverter(vocab_file=str(path), pattern=QWEN2_PATTERN, additional_special_tokens=[]).converted()
    if tok.get_vocab_size() != 151643:
        raise ValueError(f"{path} is not the Qwen BPE vocabulary ({tok.get_vocab_size()} ranks, expected 151643)")
    tok.normalizer = normalizers.NFC()
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in QWEN3_SPECIALS])
    fast = _qwen2_tokenizer(tok)
    assert fast("<|im_start|>assistant\n")["input_ids"] == [151644, 77091, 198]
    return fast


def _speech_tokenizer_config(size: str):
    from qwen_tts.core.tokenizer_12hz.configuration_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Config

    d = _DIMS[size]
    encoder = dict(sampling_rate=24000, frame_rate=12.5, codebook_size=2048, num_quantizers=16,
                   num_semantic_quantizers=1, upsampling_ratios=[8, 6, 5, 4], sliding_window=250,
                   use_causal_conv=True)
    encoder.update(d["encoder"])
    decoder = dict(codebook_size=2048, num_quantizers=16, sliding_window=72, upsample_rates=[8, 5, 4, 3],
                   upsampling_ratios=[2, 2])
    decoder.update(d["decoder"])
    return Qwen3TTSTokenizerV2Config(
        encoder_config=encoder, decoder_config=decoder, encoder_valid_num_quantizers=16,
        input_sample_rate=24000, output_sample_rate=24000, decode_upsample_rate=1920, encode_downsample_rate=1920,
    )


def _dims(size: str, wide_heads: bool = False) -> dict[str, Any]:
    d = json.loads(json.dumps(_DIMS[size]))
    if wide_heads:
        if size != "tiny":
            raise ValueError("wide_heads applies to the tiny size only (published sizes have heads of 128)")
        d.update(json.loads(json.dumps(TINY_WIDE_HEADS)))
    return d


def _tts_config(tok, kind: str, size: str, wide_heads: bool = False):
    from qwen_tts.core.models import Qwen3TTSConfig

    d = _dims(size, wide_heads)
    ids = tok.convert_tokens_to_ids
    talker = dict(
        vocab_size=3072, rope_theta=1000000, num_code_groups=16,
        text_vocab_size=151936 if len(tok) > 151643 else len(tok),
        codec_eos_token_id=CODEC_EOS, codec_think_id=2154, codec_nothink_id=2155,
        codec_think_bos_id=2156, codec_think_eos_id=2157, codec_pad_id=2148, codec_bos_id=2149,
        codec_language_id=dict(CODEC_LANGUAGE_ID),
        spk_id=dict(SPK_ID) if kind == "custom_voice" else {},
        spk_is_dialect=dict(SPK_IS_DIALECT) if kind == "custom_voice" else {},
        code_predictor_config=dict(vocab_size=2048, num_code_groups=16, **d["predictor"]),
    )
    talker.update(d["talker"])
    speaker_encoder = dict(mel_dim=128, enc_dim=talker["hidden_size"], sample_rate=24000, **d["speaker"])
    if size == "tiny":
        model_size = "0b6" if kind == "base" else "1b7"  # "0b6" CustomVoice ignores instructions
    else:
        model_size = "0b6" if size == "0.6b" else "1b7"
    return Qwen3TTSConfig(
        talker_config=talker, speaker_encoder_config=speaker_encoder,
        tokenizer_type="qwen3_tts_tokenizer_12hz", tts_model_size=model_size, tts_model_type=kind,
        im_start_token_id=ids("<|im_start|>"), im_end_token_id=ids("<|im_end|>"),
        tts_pad_token_id=ids("<tts_pad>"), tts_bos_token_id=ids("<tts_text_bos>"),
        tts_eos_token_id=ids("<tts_text_eod>"),
    )


def make_checkpoint(
    kind: str,
    size: str,
    out: Path | str,
    *,
    seed: int = 0,
    tokenizer: Path | str | None = None,
    device: str = "cpu",
    dtype: str = "float32",
    no_eos: bool = False,
    wide_heads: bool = False,
) -> Path:
    """Write a random-weight Qwen3-TTS checkpoint of ``kind`` and ``size`` into directory ``out``.

    kind: ``custom_voice`` | ``voice_design`` | ``base``; size: ``tiny`` | ``0.6b`` | ``1.7b``.
    seed: weights are a pure function of (kind, size, seed).
    tokenizer: a ``qwen.tiktoken`` file for the real text vocabulary (default: tiny BPE for ``tiny``,
        the ``dashscope`` wheel's file for the full sizes).
    device / dtype: where to build and how to store the talker (the codec always stays float32).
    no_eos: zero the talker's end-of-speech logit row so generation never stops early
        (fixed-length benchmark checkpoints).
    wide_heads: tiny only: talker and code predictor with attention heads of 32 (hidden 64), which
        vLLM's CPU attention needs (``--backend vllm`` tests and benchmarks).
    Returns ``out`` as a Path.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
    if size not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, not {size!r}")
    from ._compat import import_qwen_tts, save_model

    import_qwen_tts()
    import torch
    from qwen_tts.core.models import Qwen3TTSForConditionalGeneration, Qwen3TTSProcessor
    from qwen_tts.core.tokenizer_12hz.modeling_qwen3_tts_tokenizer_v2 import Qwen3TTSTokenizerV2Model
    from transformers import EncodecFeatureExtractor

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if tokenizer is None and size != "tiny":
        tokenizer = _find_qwen_tiktoken()
        if tokenizer is None:
            raise RuntimeError(
                "full-size checkpoints need the real Qwen text vocabulary: pass tokenizer=PATH/qwen.tiktoken "
                "or `pip install dashscope tiktoken` (its wheel ships qwen.tiktoken)"
            )
    tok = _qwen_text_tokenizer(Path(tokenizer)) if tokenizer else _tiny_text_tokenizer()
    torch_dtype = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]

    gen = torch.Generator(device="cpu").manual_seed(seed)
    torch.manual_seed(seed)
    with torch.device(device):
        model = Qwen3TTSForConditionalGeneration(_tts_config(tok, kind, size, wide_heads)).eval()
    with torch.no_grad():
        if no_eos:
            model.talker.codec_head.weight[CODEC_EOS].zero_()
    model = model.to(torch_dtype)
    save_model(model, out)
    del model
    # qwen-tts 0.1.1 round-trip bug: the speaker-encoder config rejects the "model_type" key that
    # save_pretrained writes; published checkpoints do not have it either.
    cfg_path = out / "config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.get("speaker_encoder_config", {}).pop("model_type", None)
    cfg_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False))
    Qwen3TTSProcessor(tokenizer=tok).save_pretrained(out)
    gen_cfg = dict(GENERATE_CONFIG)
    if size == "tiny":  # random weights rarely stop by themselves: keep default requests short
        gen_cfg["max_new_tokens"] = 96
    (out / "generation_config.json").write_text(json.dumps(gen_cfg, indent=2))

    torch.manual_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=gen)))
    with torch.device(device):
        speech_tok = Qwen3TTSTokenizerV2Model(_speech_tokenizer_config(size)).eval()
    with torch.no_grad():
        # HF init (N(0, 0.02)) through the deep conv stack gives ~1e-9 amplitude: use PyTorch's
        # fan-in init so the output is audible-scale; codebooks start at zero: give them centroids.
        for mod in speech_tok.decoder.modules():
            if isinstance(mod, (torch.nn.Conv1d, torch.nn.ConvTranspose1d, torch.nn.Linear)):
                mod.reset_parameters()
        for mod in speech_tok.modules():
            for name in ("embedding_sum", "embed_sum"):
                if hasattr(mod, name):
                    getattr(mod, name).normal_(0.0, 1.0)
    sd = out / "speech_tokenizer"
    save_model(speech_tok, sd)
    EncodecFeatureExtractor(feature_size=1, sampling_rate=24000, padding_value=0.0).save_pretrained(sd)
    del speech_tok
    return out


def main(argv: list[str] | None = None) -> None:  # python -m flashtts_engines.qwen3.checkpoint KIND SIZE OUT
    import argparse

    p = argparse.ArgumentParser(description="Build a random-weight Qwen3-TTS checkpoint")
    p.add_argument("--kind", choices=KINDS, required=True)
    p.add_argument("--size", choices=SIZES, default="tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tokenizer", default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", default="float32")
    p.add_argument("--no-eos", action="store_true")
    p.add_argument("--wide-heads", action="store_true", help="tiny only: heads of 32 (vLLM's CPU attention)")
    p.add_argument("out")
    a = p.parse_args(argv)
    path = make_checkpoint(a.kind, a.size, a.out, seed=a.seed, tokenizer=a.tokenizer, device=a.device,
                           dtype=a.dtype, no_eos=a.no_eos, wide_heads=a.wide_heads)
    print(path, sorted(os.listdir(path)))


if __name__ == "__main__":
    main()
