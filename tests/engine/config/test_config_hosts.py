"""Host strings, the inventory and target expansion."""

from __future__ import annotations

import ipaddress
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine.config import (
    Host,
    HostAddress,
    NexusConfig,
    TargetError,
    expand_targets,
    format_host,
    parse_host,
    resolve_hosts,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("web1", HostAddress("web1")),
        ("deploy@web1", HostAddress("web1", user="deploy")),
        ("deploy@web1.example.com:2222", HostAddress("web1.example.com", "deploy", 2222)),
        ("web1:22", HostAddress("web1", port=22)),
        ("10.0.0.1:65535", HostAddress("10.0.0.1", port=65535)),
        ("[::1]", HostAddress("::1")),
        ("[2001:db8::7]:2200", HostAddress("2001:db8::7", port=2200)),
        ("root@[fe80::1]:1", HostAddress("fe80::1", "root", 1)),
        ("::1", HostAddress("::1")),  # unbracketed v6 without a port is unambiguous
        ("my_host-2", HostAddress("my_host-2")),
    ],
)
def test_parse_host_accepts_every_documented_form(text: str, expected: HostAddress) -> None:
    assert parse_host(text) == expected


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("@web", "user before '@' is empty"),
        ("deploy@", "after '@' is empty"),
        ("web:", "port after ':' is empty"),
        ("web:0", "1 to 65535"),
        ("web:65536", "1 to 65535"),
        ("web:99999999999", "1 to 65535"),
        ("web:-1", "1 to 65535"),
        ("web:ssh", "1 to 65535"),
        ("2001:db8::1:70000", "in brackets"),
        ("fe80::zz:22", "in brackets"),
        ("[::1", "closing ']'"),
        ("[::1]22", "after ']'"),
        ("[]:22", "empty"),
        ("[web1]:22", "not a valid IPv6"),
        ("web 1", "spaces"),
        (" web", "spaces"),
        ("web\t", "spaces"),
        ("a@b@c", "more than one '@'"),
        ("web/1", "may contain only"),
        ("user:pw@web", "must not contain ':'"),
    ],
)
def test_parse_host_rejects_bad_input_with_a_clear_message(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        parse_host(text)


def test_a_password_in_the_user_part_is_not_echoed() -> None:
    with pytest.raises(ValueError, match="must not contain") as info:
        parse_host("deploy:hunter2@web")
    assert "hunter2" not in str(info.value)


_label = st.from_regex(r"[a-z0-9]([a-z0-9_-]{0,10}[a-z0-9])?", fullmatch=True)
hostnames = st.one_of(
    st.lists(_label, min_size=1, max_size=4).map(".".join),
    st.ip_addresses(v=4).map(str),
    st.ip_addresses(v=6).map(str),
)
addresses = st.builds(
    HostAddress,
    hostname=hostnames,
    user=st.none() | st.from_regex(r"[a-z_][a-z0-9_.-]{0,15}", fullmatch=True),
    port=st.none() | st.integers(1, 65535),
)


@settings(max_examples=300, deadline=None)
@given(addresses)
def test_host_strings_round_trip(address: HostAddress) -> None:
    text = format_host(address)
    assert parse_host(text) == address
    assert format_host(parse_host(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=40))
def test_parse_host_raises_only_value_error(text: str) -> None:
    try:
        address = parse_host(text)
    except ValueError:
        return
    assert address.hostname
    assert address.port is None or 1 <= address.port <= 65535
    if ":" in address.hostname:
        ipaddress.IPv6Address(address.hostname)


def test_format_host_brackets_ipv6_only() -> None:
    assert format_host(HostAddress("::1", port=22)) == "[::1]:22"
    assert format_host(HostAddress("::1")) == "[::1]"
    assert format_host(HostAddress("web", "me", 22)) == "me@web:22"
    assert format_host(HostAddress("10.0.0.1")) == "10.0.0.1"


def _config() -> NexusConfig:
    return NexusConfig.model_validate(
        {
            "hosts": {
                "web1": "deploy@web1.example.com:2222",
                "web2": "[::1]",
                "db": {"hostname": "db.internal", "user": "pg", "port": 5432, "identity": "~/k"},
            },
            "groups": {
                "web": ["web1", "web2"],
                "all": ["web", "db", "web1", "local"],
                "outer": ["all", "web"],
            },
            "tasks": {"t": {"commands": ["true"]}},
        }
    )


def test_resolve_hosts_reads_both_forms() -> None:
    assert resolve_hosts(_config()) == {
        "web1": Host("web1", "web1.example.com", "deploy", 2222, None),
        "web2": Host("web2", "::1", None, None, None),
        "db": Host("db", "db.internal", "pg", 5432, "~/k"),
    }


def test_expand_targets_is_ordered_recursive_and_deduplicated() -> None:
    config = _config()
    assert expand_targets(config, ["outer"]) == ["web1", "web2", "db", "local"]
    assert expand_targets(config, ["db", "web", "db"]) == ["db", "web1", "web2"]
    assert expand_targets(config, ["local"]) == ["local"]
    assert expand_targets(config, []) == []


def test_expand_targets_rejects_unknown_names_with_a_suggestion() -> None:
    with pytest.raises(TargetError, match=r"unknown host or group 'wbe1'; did you mean 'web1'\?"):
        expand_targets(_config(), ["wbe1"])


def test_expand_targets_names_a_group_cycle() -> None:
    config = NexusConfig.model_construct(hosts={}, groups={"a": ["b"], "b": ["a"]}, tasks={})
    with pytest.raises(TargetError, match="a → b → a"):
        expand_targets(config, ["a"])


def test_expansion_of_a_wide_diamond_stays_linear() -> None:
    depth = 40  # 2**40 paths if each group were expanded once per path
    groups = {f"g{i}": [f"g{i + 1}", f"g{i + 1}"] for i in range(depth)}
    groups[f"g{depth}"] = ["h"]
    config = NexusConfig.model_construct(hosts={"h": "h"}, groups=groups, tasks={})
    assert expand_targets(config, ["g0"]) == ["h"]
