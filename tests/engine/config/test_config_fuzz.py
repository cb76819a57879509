"""T-CFG-6: whatever the file holds, load_config either succeeds or raises ConfigError."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from nexus_engine.config import ConfigError, LoadedConfig, load_config

VALID = """\
[settings]
parallel_limit = 4
user = "${env:DEPLOY_USER:-deploy}"

[hosts]
web1 = "deploy@web1.example.com:2222"
db = { hostname = "db", port = 5432 }

[groups]
web = ["web1"]
all = ["web", "db", "local"]

[tasks.build]
commands = ["make", { cmd = "make lint", timeout = 60, env = { CI = "1" } }]

[tasks.deploy]
deps = ["build"]
on = ["all"]
batch = "50%"

[[tasks.deploy.commands]]
cmd = "deploy --token ${secret:TOKEN}"
"""
ENVIRON = {"TOKEN": "tok-abcdef"}

# A small corpus in the spirit of toml-test's invalid/ directory.
INVALID = [
    "a = [1,,2]",
    "x = { a = 1",
    "a = 1\na = 2",
    "[a]\n[a]",
    "[[a]]\n[a]",
    "a = 1979-13-01",
    "a = 0x",
    'a = "\\q"',
    "a = '''unterminated",
    'a = """unterminated',
    "= 1",
    "[a.]",
    "[]",
    "a.b = 1\na = 2",
    "a = { b = 1, b = 2 }",
    "a = [ { b = 1 } ]\n[[a]]",
    "a = nan1",
    "a = +inf_",
    "\x00 = 1",
    'a = "\x7f"',
    "a = 1 b = 2",
    "a = {\n}",
    "a = 1.",
    "a = 01",
    "[a]b = 1",
]


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def _load(directory: Path, content: str | bytes) -> LoadedConfig | None:
    """Load ``content``; anything but success or a well-formed ConfigError fails the test."""
    path = directory / "nexus.toml"
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    path.write_bytes(data)
    failure: ConfigError | None = None
    try:
        return load_config(path, ENVIRON)
    except ConfigError as error:
        failure = error
    assert failure.problems, "a ConfigError must carry at least one problem"
    assert "Traceback" not in str(failure)
    assert ENVIRON["TOKEN"] not in str(failure)
    return None


def test_the_fuzz_seed_is_valid(workdir: Path) -> None:
    loaded = _load(workdir, VALID)
    assert loaded is not None
    assert loaded.secrets == frozenset({"tok-abcdef"})


@pytest.mark.parametrize("text", INVALID)
def test_invalid_toml_is_a_clean_config_error(workdir: Path, text: str) -> None:
    with pytest.raises(ConfigError):
        load_config(_write(workdir, text), ENVIRON)


def _write(directory: Path, text: str) -> Path:
    path = directory / "nexus.toml"
    path.write_text(text, encoding="utf-8")
    return path


_fuzz = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@_fuzz
@given(st.text(max_size=300))
def test_arbitrary_text(workdir: Path, text: str) -> None:
    _load(workdir, text)


@_fuzz
@given(st.binary(max_size=300))
def test_arbitrary_bytes(workdir: Path, data: bytes) -> None:
    _load(workdir, data)


_mutation = st.tuples(
    st.sampled_from(["delete", "insert", "duplicate", "replace"]),
    st.integers(0, len(VALID)),
    st.integers(0, 12),
    st.text(alphabet=st.sampled_from(list("[]{}\"'=,.#\\\n $:-0a")), max_size=6),
)


@_fuzz
@given(st.lists(_mutation, min_size=1, max_size=4))
def test_mutated_valid_files(workdir: Path, mutations: list[tuple[str, int, int, str]]) -> None:
    text = VALID
    for kind, offset, size, insert in mutations:
        at = min(offset, len(text))
        if kind == "delete":
            text = text[:at] + text[at + size :]
        elif kind == "insert":
            text = text[:at] + insert + text[at:]
        elif kind == "duplicate":
            text = text[:at] + text[at : at + size] + text[at:]
        else:
            text = text[:at] + insert + text[at + len(insert) :]
    _load(workdir, text)


_leaf = st.one_of(
    st.integers(-5, 70000),
    st.booleans(),
    st.floats(allow_nan=True),
    st.text(max_size=8),
    st.sampled_from(["local", "web1", "db", "build", "deploy", "50%", "${env:X}", "${secret:Y}"]),
)
_name = st.sampled_from(["build", "deploy", "web1", "db", "all", "local", "cmd", "on", "deps"])
_field = st.sampled_from(
    [
        "settings",
        "hosts",
        "groups",
        "tasks",
        "commands",
        "deps",
        "on",
        "cmd",
        "timeout",
        "batch",
        "retries",
        "env",
        "hostname",
        "port",
        "user",
        "strategy",
    ]
)
_tree = st.recursive(
    _leaf,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(_field | _name, children, max_size=3)
    ),
    max_leaves=15,
)


@_fuzz
@given(st.dictionaries(_field, _tree, max_size=4))
def test_generated_structures(workdir: Path, data: dict[str, object]) -> None:
    """Well-formed TOML of roughly the right shape reaches validation, where the bugs hide."""
    _load(workdir, tomli_w.dumps(data))
