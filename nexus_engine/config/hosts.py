"""Host strings (``user@host:port``) and the inventory of named hosts and groups.

A host string is the short form users type on the command line and in ``[hosts]``; it has one
grammar here so the CLI, the config and the journal agree on what ``db@[::1]:2222`` means.
Groups and hosts share one namespace, and ``local`` is reserved for the controller machine, so
a target name always means exactly one thing.
"""

from __future__ import annotations

import difflib
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nexus_engine.config.models import LOCAL, HostTable, NexusConfig

_HOSTNAME = re.compile(r"[\w.-]+")
_USER = re.compile(r"[^\s@:\[\]/]+")
_PORT = re.compile(r"[0-9]+")
_MAX_SUGGESTION_POOL = 5000


@dataclass(frozen=True, slots=True)
class HostAddress:
    """A host as written (``user@host:port``), each part None where it was left out."""

    hostname: str
    user: str | None = None
    port: int | None = None


@dataclass(frozen=True, slots=True)
class Host:
    """A named inventory entry. ``user`` and ``port`` are None when the file does not set them;
    the transport then falls back to ``settings.user`` and ssh_config."""

    name: str
    hostname: str
    user: str | None
    port: int | None
    identity: str | None


def parse_host(text: str) -> HostAddress:
    """``host``, ``user@host``, ``host:port``, ``[v6]``, ``[v6]:port``, ``user@[v6]:port``."""
    if not text:
        raise ValueError("host string is empty")
    if any(char.isspace() for char in text):
        raise ValueError("host string must not contain spaces")
    user: str | None = None
    rest = text
    if "@" in text:
        user, rest = text.split("@", 1)
        if not user:
            raise ValueError("user before '@' is empty")
        if "@" in rest:
            raise ValueError("host string has more than one '@'")
        if not _USER.fullmatch(user):
            # Never echo it: "user:password@host" is a classic way to leak a password.
            raise ValueError("user must not contain ':', '/', '[' or ']'")
    if not rest:
        raise ValueError("host name after '@' is empty")
    hostname, port = _split_port(rest)
    return HostAddress(hostname=hostname, user=user, port=port)


def _split_port(rest: str) -> tuple[str, int | None]:
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise ValueError("'[' without a closing ']'")
        hostname, after = rest[1:close], rest[close + 1 :]
        check_ipv6(hostname)
        if not after:
            return hostname, None
        if not after.startswith(":"):
            raise ValueError("unexpected text after ']'; expected ':port'")
        return hostname, parse_port(after[1:])
    if rest.count(":") > 1:
        try:
            check_ipv6(rest)
        except ValueError:
            raise ValueError(
                "an IPv6 address with a port must be written in brackets: [address]:port"
            ) from None
        return rest, None
    hostname, colon, port = rest.partition(":")
    check_hostname(hostname)
    return hostname, parse_port(port) if colon else None


def parse_port(text: str) -> int:
    if not text:
        raise ValueError("port after ':' is empty")
    if not _PORT.fullmatch(text) or len(text) > 5 or not 1 <= int(text) <= 65535:
        # The text is not echoed: a host string may have come from ${secret:…}.
        raise ValueError("port must be a number from 1 to 65535")
    return int(text)


def check_hostname(hostname: str) -> None:
    """Names and IPv4 addresses; IPv6 addresses go through :func:`check_ipv6`."""
    if not hostname:
        raise ValueError("host name is empty")
    if ":" in hostname:
        check_ipv6(hostname)
    elif not _HOSTNAME.fullmatch(hostname):
        raise ValueError("host name may contain only letters, digits, '.', '-' and '_'")


def check_ipv6(address: str) -> None:
    if not address:
        raise ValueError("IPv6 address in brackets is empty")
    try:
        ipaddress.IPv6Address(address)
    except ValueError:
        raise ValueError("not a valid IPv6 address") from None


def format_host(address: HostAddress) -> str:
    """The inverse of :func:`parse_host`; IPv6 addresses are always bracketed."""
    host = f"[{address.hostname}]" if ":" in address.hostname else address.hostname
    if address.user is not None:
        host = f"{address.user}@{host}"
    if address.port is not None:
        host = f"{host}:{address.port}"
    return host


def resolve_hosts(config: NexusConfig) -> dict[str, Host]:
    """Every ``[hosts]`` entry, string or table form, as a :class:`Host`."""
    hosts: dict[str, Host] = {}
    for name, entry in config.hosts.items():
        if isinstance(entry, HostTable):
            hosts[name] = Host(name, entry.hostname, entry.user, entry.port, entry.identity)
        else:
            address = parse_host(entry)
            hosts[name] = Host(name, address.hostname, address.user, address.port, None)
    return hosts


class TargetError(ValueError):
    """A target names no host or group, or groups include each other in a cycle."""


def expand_targets(config: NexusConfig, targets: Sequence[str]) -> list[str]:
    """Host names (or ``local``) in first-seen order, groups expanded, duplicates removed."""
    return expand(targets, config.hosts, config.group_members)


def expand(
    targets: Sequence[str], hosts: Mapping[str, object], groups: Mapping[str, Sequence[str]]
) -> list[str]:
    """:func:`expand_targets` over plain mappings, so validation can run it on raw data."""
    seen: dict[str, None] = {}
    expanded: set[str] = set()
    # Depth-first with an explicit stack: (name, chain of groups that led here). A group met
    # again outside its own chain was fully expanded already, so skipping it keeps
    # ``a = [b, b]``, ``b = [c, c]``, … linear instead of exponential.
    stack: list[tuple[str, tuple[str, ...]]] = [(name, ()) for name in reversed(targets)]
    while stack:
        name, chain = stack.pop()
        if name == LOCAL or name in hosts:
            seen.setdefault(name, None)
        elif name in groups:
            if name in chain:
                raise TargetError(f"groups include each other: {' → '.join((*chain, name))}")
            if name in expanded:
                continue
            expanded.add(name)
            stack.extend((member, (*chain, name)) for member in reversed(groups[name]))
        else:
            raise TargetError(unknown_target_message(name, [*hosts, *groups]))
    return list(seen)


def unknown_target_message(name: str, known: Sequence[str]) -> str:
    return f"unknown host or group {name!r}" + suggestion(name, known)


def suggestion(name: str, known: Sequence[str]) -> str:
    """``"; did you mean 'test'?"`` when something close exists, else ``""``. Past a few
    thousand names difflib gets slow and a suggestion gets less useful, so none is made."""
    if len(known) > _MAX_SUGGESTION_POOL:
        return ""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
