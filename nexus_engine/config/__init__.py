"""``nexus.toml``: its models, and loading it into a validated config or one ConfigError.

The rest of Nexus imports from here: ``load_config`` gives a :class:`LoadedConfig` whose strings
have ``${env:…}``/``${secret:…}`` substituted, or raises :class:`ConfigError` listing every
problem with its file, line, column and key path.
"""

from nexus_engine.config.errors import ConfigError, ConfigProblem
from nexus_engine.config.hosts import (
    Host,
    HostAddress,
    TargetError,
    expand_targets,
    format_host,
    parse_host,
    resolve_hosts,
)
from nexus_engine.config.load import MAX_CONFIG_BYTES, MAX_PROBLEMS, LoadedConfig, load_config
from nexus_engine.config.models import NexusConfig

__all__ = [
    "MAX_CONFIG_BYTES",
    "MAX_PROBLEMS",
    "ConfigError",
    "ConfigProblem",
    "Host",
    "HostAddress",
    "LoadedConfig",
    "NexusConfig",
    "TargetError",
    "expand_targets",
    "format_host",
    "load_config",
    "parse_host",
    "resolve_hosts",
]
