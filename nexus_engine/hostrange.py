"""Host names folded into ranges, as operators of big fleets write them: ``web[001-480]``.

``fold`` turns names into patterns, ``expand`` turns a pattern back into its names. Only a
name's trailing number folds (``a1b2`` folds on ``2``), and names fold together only when their
numbers are written alike: ``web1`` and ``web01`` are different hosts, so a range never makes
one of them. Numbers padded with zeros to a width (``web007``) fold with the unpadded numbers of
that same width (``web100``): ``web[007-100]`` reads back as exactly those names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_TRAILING = re.compile(r"^(?P<prefix>.*?)(?P<number>[0-9]+)$", re.DOTALL)
_PATTERN = re.compile(r"^(?P<prefix>[^\[\]]*)\[(?P<terms>[0-9,\-]+)\]$")
_TERM = re.compile(r"^(?P<first>[0-9]+)(?:-(?P<last>[0-9]+))?$")
#: A range in a pattern typed by hand expands to at most this many names.
MAX_EXPANDED = 1_000_000


def fold(names: Iterable[str]) -> list[str]:
    """``["web001", "web002", "web003", "db1"]`` → ``["web[001-003]", "db1"]``.

    Patterns come in the order their first name came; within one, numbers go up. A name that
    stands alone stays as it is, without brackets. Repeated names count once."""
    numbered: dict[str, list[str]] = {}  # prefix → its names' trailing numbers, as written
    #: what to print, in first-seen order: a name as it is (None) or a prefix's patterns
    order: list[tuple[str, str | None]] = []
    seen: set[str] = set()
    for name in names:
        if name in seen:
            continue
        seen.add(name)
        match = _TRAILING.match(name)
        if match is None:
            order.append((name, None))
            continue
        prefix = match["prefix"]
        if prefix not in numbered:
            numbered[prefix] = []
            order.append((prefix, "numbered"))
        numbered[prefix].append(match["number"])
    out: list[str] = []
    for text, kind in order:
        if kind is None:
            out.append(text)
        else:
            out += _fold_prefix(text, numbered[text])
    return out


def text(names: Iterable[str]) -> str:
    """The folded names as one line: ``web[1-3], db1``."""
    return ", ".join(fold(names))


def expand(pattern: str) -> list[str]:
    """``web[01-03,07]`` → ``["web01", "web02", "web03", "web07"]``; a name without brackets is
    itself. A bound written with leading zeros pads every number of its pattern to its width.
    Raises ``ValueError`` for a pattern that is not one ``fold`` could write."""
    if "[" not in pattern and "]" not in pattern:
        return [pattern]
    match = _PATTERN.match(pattern)
    if match is None:
        raise ValueError(f"not a host range: {pattern!r}")
    prefix = match["prefix"]
    terms = [_TERM.match(term) for term in match["terms"].split(",")]
    bounds: list[tuple[str, str]] = []
    for term in terms:
        if term is None:
            raise ValueError(f"not a host range: {pattern!r}")
        bounds.append((term["first"], term["last"] or term["first"]))
    padded = {len(bound) for pair in bounds for bound in pair if _is_padded(bound)}
    if len(padded) > 1:
        raise ValueError(f"numbers of different widths in one range: {pattern!r}")
    width = padded.pop() if padded else 0
    names: list[str] = []
    for first, last in bounds:
        low, high = int(first), int(last)
        if high < low:
            raise ValueError(f"a range that goes down: {pattern!r}")
        if len(names) + high - low + 1 > MAX_EXPANDED:
            raise ValueError(f"more than {MAX_EXPANDED} names in {pattern!r}")
        names += [f"{prefix}{number:0{width}d}" for number in range(low, high + 1)]
    return names


def _fold_prefix(prefix: str, numbers: list[str]) -> list[str]:
    """The patterns of one prefix's names. Numbers written with leading zeros set a width; an
    unpadded number of the same width joins them (``099`` and ``100``), any other is unpadded.
    Each width folds on its own, so every number reads back exactly as it was written."""
    widths = {len(number) for number in numbers if _is_padded(number)}
    by_width: dict[int, list[int]] = {}
    for number in numbers:
        width = len(number) if len(number) in widths else 0
        by_width.setdefault(width, []).append(int(number))
    out = []
    for width, values in by_width.items():
        values.sort()
        if len(values) == 1:
            out.append(f"{prefix}{values[0]:0{width}d}")
        else:
            terms = ",".join(_term(run, width) for run in _runs(values))
            out.append(f"{prefix}[{terms}]")
    return out


def _is_padded(number: str) -> bool:
    return len(number) > 1 and number.startswith("0")


def _runs(values: list[int]) -> list[tuple[int, int]]:
    """Sorted distinct numbers as (first, last) runs of consecutive ones."""
    runs: list[tuple[int, int]] = []
    for value in values:
        if runs and value == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], value)
        else:
            runs.append((value, value))
    return runs


def _term(run: tuple[int, int], width: int) -> str:
    first, last = run
    if first == last:
        return f"{first:0{width}d}"
    return f"{first:0{width}d}-{last:0{width}d}"
