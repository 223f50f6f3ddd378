"""Models named by their Hugging Face Hub id (``Qwen/Qwen3-TTS-12Hz-1.7B-CustomVoice``).

A ``--model_path`` that is not an existing path but reads ``owner/name`` is fetched with
``huggingface_hub.snapshot_download``: its cache (``HF_HOME``, ``HF_HUB_CACHE``), offline mode
(``HF_HUB_OFFLINE=1``: the cache only), ``--revision`` and its download progress bars. A model
missing from the cache while offline is a :class:`ModelNotFoundError` naming the cache.
"""

from __future__ import annotations

import os
from pathlib import Path

_REPO_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")


class ModelNotFoundError(FileNotFoundError):
    """A Hub model that cannot be had: not cached while offline, or unknown to the Hub."""


def is_repo_id(value: str) -> bool:
    """``owner/name`` with Hub-legal characters that is not a path on this machine."""
    if not value or Path(value).expanduser().exists():
        return False
    owner, sep, name = value.partition("/")
    return (bool(sep) and bool(owner) and bool(name) and "/" not in name and not value.startswith((".", "~"))
            and all(ch in _REPO_CHARS for ch in owner + name) and ".." not in value)


def cache_dir() -> str:
    """Where huggingface_hub keeps models (``HF_HUB_CACHE``, by default ``$HF_HOME/hub``)."""
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks for the cache only (read as huggingface_hub reads it)."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().upper() in {"1", "ON", "YES", "TRUE"}


def download(repo_id: str, revision: str | None = None, progress: bool = True,
             allow_patterns: list[str] | None = None) -> Path:
    """The local snapshot folder of a Hub model, downloaded (with progress bars) unless cached; with
    ``allow_patterns`` only the files they match (an engine that reads a few of a repository's files)."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import LocalEntryNotFoundError, RepositoryNotFoundError, RevisionNotFoundError
    from huggingface_hub.utils import disable_progress_bars, enable_progress_bars

    (enable_progress_bars if progress else disable_progress_bars)()
    at = f" at revision '{revision}'" if revision else ""
    try:
        return Path(snapshot_download(repo_id, revision=revision, allow_patterns=allow_patterns))
    except LocalEntryNotFoundError:
        why = "HF_HUB_OFFLINE is set" if offline() else "the Hub could not be reached"
        raise ModelNotFoundError(
            f"model '{repo_id}'{at} is not in the Hugging Face cache at {cache_dir()} and {why}; run "
            f"`flashtts download {repo_id}` on a machine that reaches the Hub (same HF_HOME), or give a local "
            f"directory") from None
    except (RepositoryNotFoundError, RevisionNotFoundError) as exc:
        raise ModelNotFoundError(f"model '{repo_id}'{at} is not on the Hugging Face Hub: {exc}") from None


def resolve_model_path(value: str | None, revision: str | None = None,
                       allow_patterns: list[str] | None = None) -> str | None:
    """A local path as given; a Hub id as its local snapshot folder (downloaded when needed)."""
    if value is None or not is_repo_id(value):
        return value
    return str(download(value, revision, allow_patterns=allow_patterns))
