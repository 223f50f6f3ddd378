"""Find engines by name through the ``flashtts.engines`` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from flashtts.engine import Engine, EngineConfig
from flashtts.metrics import Metrics

GROUP = "flashtts.engines"


class UnknownEngineError(LookupError):
    pass


def available() -> dict[str, EntryPoint]:
    """Installed engines by name (nothing is imported)."""
    return {ep.name: ep for ep in entry_points(group=GROUP)}


def engine_class(name: str) -> type[Engine]:
    eps = available()
    if name not in eps:
        raise UnknownEngineError(
            f"unknown engine '{name}'; installed engines: {', '.join(sorted(eps)) or 'none'}"
        )
    cls = eps[name].load()
    if not (isinstance(cls, type) and issubclass(cls, Engine)):
        raise UnknownEngineError(f"entry point '{name}' does not name an Engine subclass")
    return cls


def create_engine(name: str, config: EngineConfig, metrics: Metrics) -> Engine:
    """Instantiate (not start) the engine registered as ``name``."""
    return engine_class(name)(config, metrics)
