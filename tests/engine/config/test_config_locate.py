"""The key-path → position index: right on ordinary files, and never crashing on anything."""

from __future__ import annotations

import tomllib
from typing import Any

import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine.config.errors import KeyPath
from nexus_engine.config.locate import SourceIndex, unescape

SAMPLE = """\
# a comment with [brackets] and key = "value"
[settings]
retries = 2

[hosts]
web = "deploy@web1:22"
"db.1" = { hostname = "db", port = 5432, tags = ["a", "b"] }
'lit' = 'x'

[groups]
all = [
  "web",  # a comment ]
  "db.1",
]

[tasks.build]
commands = ["make", { cmd = "x", timout = 1 }]
text = \"\"\"
[not.a.table]
key = "not a key"
\"\"\"
lit = '''
[also.not]
'''
desc.x.y = "dotted"

[ tasks . "deploy" ]
[[tasks.deploy.commands]]
cmd = "a"

[[tasks.deploy.commands]]
cmd = "b"
timout = 3
"""


def _at(text: str, index: SourceIndex, path: KeyPath) -> str:
    position = index.find(path)
    assert position is not None, path
    line, column = position
    return text.split("\n")[line - 1][column - 1 :]


def test_positions_in_an_ordinary_file() -> None:
    tomllib.loads(SAMPLE)  # the sample is valid TOML
    index = SourceIndex(SAMPLE)
    expected = {
        ("settings",): (2, 2),
        ("settings", "retries"): (3, 1),
        ("hosts", "web"): (6, 1),
        ("hosts", "db.1"): (7, 1),
        ("hosts", "db.1", "port"): (7, 29),
        ("hosts", "db.1", "tags", 1): (7, 55),
        ("hosts", "lit"): (8, 1),
        ("groups", "all", 0): (12, 3),
        ("groups", "all", 1): (13, 3),
        ("tasks", "build", "commands", 1, "timout"): (17, 34),
        ("tasks", "build", "text"): (18, 1),
        ("tasks", "build", "lit"): (22, 1),
        ("tasks", "build", "desc", "x", "y"): (25, 8),
        ("tasks", "deploy"): (27, 11),
        ("tasks", "deploy", "commands", 0, "cmd"): (29, 1),
        ("tasks", "deploy", "commands", 1): (31, 16),
        ("tasks", "deploy", "commands", 1, "timout"): (33, 1),
    }
    assert {path: index.find(path) for path in expected} == expected
    assert ("not", "a", "table") not in index
    assert ("also", "not") not in index
    assert ("tasks", "build", "key") not in index


def test_unknown_paths_fall_back_to_the_longest_known_prefix() -> None:
    index = SourceIndex(SAMPLE)
    assert index.find(("hosts", "db.1", "nope", 3)) == (7, 1)
    assert index.find(("nothing",)) is None
    assert index.find(()) is None


def test_quoted_keys_are_unescaped() -> None:
    text = '"a\\u0041\\t\\"b" = 1\n\'c\\d\' = 2\n'
    index = SourceIndex(text)
    assert set(tomllib.loads(text)) == {'aA\t"b', "c\\d"}
    assert index.find(('aA\t"b',)) == (1, 1)
    assert index.find(("c\\d",)) == (2, 1)
    assert unescape("\\U0011FFFF\\q") == "\\U0011FFFF\\q"  # invalid escapes stay as written


def test_multiline_strings_with_quotes_inside() -> None:
    text = 'a = """x\\"""y"""""\nb = 1\nc = \'\'\'z\'\'\'\'\'\nd = 2\n'
    tomllib.loads(text)
    index = SourceIndex(text)
    assert index.find(("b",)) == (2, 1)
    assert index.find(("d",)) == (4, 1)


def test_crlf_and_bom_free_text() -> None:
    text = "[a]\r\nb = [\r\n  1,\r\n  2\r\n]\r\n"
    index = SourceIndex(text)
    assert index.find(("a", "b", 1)) == (4, 3)


# -- properties ------------------------------------------------------------------------------

_keys = st.one_of(
    st.from_regex(r"[a-z][a-z0-9_-]{0,8}", fullmatch=True),
    st.text(alphabet="ab .#=\"'[]\\é", min_size=1, max_size=6),
)
_scalars = st.one_of(
    st.integers(-(2**40), 2**40),
    st.booleans(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(alphabet="ab \n\"'#[]{}=,\\", max_size=12),
)


def _values(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=3),
        st.dictionaries(_keys, children, max_size=3),
    )


_documents = st.dictionaries(_keys, st.recursive(_scalars, _values, max_leaves=12), max_size=4)


def _key_paths(value: Any, path: KeyPath = ()) -> list[tuple[KeyPath, str | None]]:
    """Every path in the data, with the key it ends in (None for a list index)."""
    found: list[tuple[KeyPath, str | None]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(((*path, key), key))
            found += _key_paths(item, (*path, key))
    elif isinstance(value, list):
        for number, item in enumerate(value):
            found.append(((*path, number), None))
            found += _key_paths(item, (*path, number))
    return found


@settings(max_examples=150, deadline=None)
@given(_documents, st.booleans())
def test_every_key_of_a_generated_file_is_located(data: dict[str, Any], multiline: bool) -> None:
    """tomli_w writes tables, arrays of tables, inline tables and multi-line strings; every
    key must be found exactly, at a column where the key (bare or quoted) is written."""
    text = tomli_w.dumps(data, multiline_strings=multiline)
    assert tomllib.loads(text) == data
    index = SourceIndex(text)
    for path, key in _key_paths(data):
        if key is None:
            continue
        assert path in index, (path, text)
        written = _at(text, index, path)
        assert written.startswith((key, f'"{key[:1]}', f"'{key[:1]}", '"\\')), (path, text)


_PROBES: list[KeyPath] = [("a",), ("a", 0), ("a", "b"), ("b", 1, "c"), ("1",), ("c", 0, 0)]


def _assert_positions_inside(text: str) -> None:
    """Every position the index gives points inside the text (or just past a line's end)."""
    index = SourceIndex(text)
    lines = text.split("\n")
    for probe in _PROBES:
        position = index.find(probe)
        if position is not None:
            line, column = position
            assert 1 <= line <= len(lines)
            assert 1 <= column <= len(lines[line - 1]) + 1


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("[]{}\"'=,.#\\\n\r\t abc1")), max_size=80))
def test_the_scanner_never_crashes_on_toml_shaped_noise(text: str) -> None:
    _assert_positions_inside(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_the_scanner_never_crashes_on_any_text(text: str) -> None:
    _assert_positions_inside(text)


def test_the_scanner_handles_deep_nesting_without_recursion() -> None:
    text = "a = " + "[" * 20_000 + "]" * 20_000 + "\n"
    index = SourceIndex(text)
    assert index.find(("a", *([0] * 50))) == (1, 55)
