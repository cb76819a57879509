"""Host names folded into ranges and expanded back: ``web[001-480]``."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine.hostrange import expand, fold, text


@pytest.mark.parametrize(
    ("names", "folded"),
    [
        (["web001", "web002", "web003", "db1"], ["web[001-003]", "db1"]),
        (["web01", "web02", "web03"], ["web[01-03]"]),
        (["web1", "web2", "web3", "web7"], ["web[1-3,7]"]),
        (["web3", "web1", "web2"], ["web[1-3]"]),  # numbers go up
        (["db1", "web2", "local", "web1"], ["db1", "web[1-2]", "local"]),  # first seen first
        (["web1", "web01"], ["web1", "web01"]),  # written differently: different hosts
        (["web1", "web01", "web2", "web02"], ["web[1-2]", "web[01-02]"]),
        (["web099", "web100", "web101"], ["web[099-101]"]),  # a padded width takes 100
        (["web9", "web10", "web11"], ["web[9-11]"]),  # unpadded: any width
        (["a1b2", "a1b3", "a2b2"], ["a1b[2-3]", "a2b2"]),  # only the trailing number
        (["web", "web1"], ["web", "web1"]),
        (["web1.example.com", "web2.example.com"], ["web1.example.com", "web2.example.com"]),
        (["n0", "n00", "n1", "n01"], ["n[0-1]", "n[00-01]"]),
        (["x", "x", "y"], ["x", "y"]),
        ([], []),
    ],
)
def test_fold(names: list[str], folded: list[str]) -> None:
    assert fold(names) == folded


def test_a_fleet_folds_into_one_range() -> None:
    names = [f"web{number:03d}" for number in range(1, 481)]
    assert fold(names) == ["web[001-480]"]
    assert expand("web[001-480]") == names
    assert text([*names, "db1"]) == "web[001-480], db1"


@pytest.mark.parametrize(
    ("pattern", "names"),
    [
        ("db1", ["db1"]),
        ("web[1-3,7]", ["web1", "web2", "web3", "web7"]),
        ("web[08-10]", ["web08", "web09", "web10"]),
        ("[1-2]", ["1", "2"]),
    ],
)
def test_expand(pattern: str, names: list[str]) -> None:
    assert expand(pattern) == names


@pytest.mark.parametrize(
    "pattern", ["web[", "web[]", "web[1-]", "web[3-1]", "web[1-2]x", "web[01-002]", "w[e]b"]
)
def test_expand_refuses_what_fold_never_writes(pattern: str) -> None:
    with pytest.raises(ValueError, match=r"range|host range|widths"):
        expand(pattern)


def test_expand_refuses_a_range_too_big_to_hold() -> None:
    with pytest.raises(ValueError, match="more than"):
        expand("web[1-99999999999]")


#: Names in the project's alphabet, many of them sharing a prefix and ending in a number
#: written with or without zeros, where ranges (and their pitfalls) are.
NUMBERED = st.builds(
    lambda prefix, number, width: f"{prefix}{number:0{width}d}",
    st.sampled_from(["web", "db", "a1b", "n-", "x.y", ""]),
    st.integers(0, 120),
    st.integers(0, 4),
)
ANY_NAME = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,8}", fullmatch=True)
NAMES = st.lists(st.one_of(NUMBERED, ANY_NAME), unique=True, max_size=40)


@settings(deadline=None)
@given(NAMES)
def test_expanding_the_folded_names_gives_them_back(names: list[str]) -> None:
    expanded = [name for pattern in fold(names) for name in expand(pattern)]
    assert len(expanded) == len(set(expanded))
    assert set(expanded) == set(names)


@settings(deadline=None)
@given(NAMES, st.randoms(use_true_random=False))
def test_folding_does_not_depend_on_the_order_within_a_prefix(
    names: list[str], rng: random.Random
) -> None:
    """Patterns come in first-seen order; what each holds does not depend on the order."""
    shuffled = list(names)
    rng.shuffle(shuffled)
    assert sorted(fold(shuffled)) == sorted(fold(names))
