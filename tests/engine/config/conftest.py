"""Helpers for config tests: write a nexus.toml into a temporary directory and load it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from nexus_engine.config import ConfigError, LoadedConfig, load_config


@pytest.fixture
def load(tmp_path: Path) -> Callable[..., LoadedConfig]:
    def _load(text: str | bytes, environ: Mapping[str, str] | None = None) -> LoadedConfig:
        path = tmp_path / "nexus.toml"
        if isinstance(text, str):
            path.write_text(text, encoding="utf-8")
        else:
            path.write_bytes(text)
        return load_config(path, environ={} if environ is None else environ)

    return _load


@pytest.fixture
def problems(load: Callable[..., LoadedConfig]) -> Callable[..., ConfigError]:
    """Load a file that must be rejected; returns the ConfigError."""

    def _problems(text: str | bytes, environ: Mapping[str, str] | None = None) -> ConfigError:
        with pytest.raises(ConfigError) as info:
            load(text, environ)
        return info.value

    return _problems
