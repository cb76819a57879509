"""``edit_line`` and ``edit_block``, the pure functions behind the ``line`` and ``block`` kinds:
editing twice is editing once, present then absent takes back exactly what was added, and the
lines the edit is not about come back byte for byte (CRLF endings and a missing final newline
included).

The properties draw text from characters that are not line boundaries, then add ``\\n`` and
``\\r\\n`` endings of their own; a separate group feeds the other characters Python's
``str.splitlines`` also breaks lines at (form feed, ``\\x1c``, U+2028, a lone ``\\r``, …),
which a file on a host does not: there the edit must still treat them as part of a line.
"""

from __future__ import annotations

import re

from hypothesis import assume, example, given
from hypothesis import strategies as st

from nexus_engine.ops.lines import edit_block, edit_line

#: What ``str.splitlines`` breaks lines at besides ``\n``: ordinary bytes inside a file's line.
OTHER_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"

_chars = st.characters(blacklist_categories=("Cs",), blacklist_characters="\n" + OTHER_BREAKS)
#: The body of a line: any text without a line break.
BODY = st.text(_chars, max_size=12)
#: One line of a file, with its ending.
LINE = st.tuples(BODY, st.sampled_from(["\n", "\r\n"])).map("".join)
#: A file's text: lines ending in LF or CRLF, the last one maybe without an ending.
TEXT = st.tuples(st.lists(LINE, max_size=8), BODY).map(lambda parts: "".join(parts[0]) + parts[1])

MARKER = "# {mark} NEXUS MANAGED BLOCK"


def lines_of(text: str) -> list[str]:
    """The lines of a file as a host sees them: split after each ``\\n`` only."""
    return re.findall(r"[^\n]*\n|[^\n]+\Z", text)


def body(line: str) -> str:
    """A line without its ending (LF, or CRLF)."""
    return line.removesuffix("\n").removesuffix("\r")


def terminated(text: str) -> str:
    """``text`` as it must be before a line is appended: its last line ended."""
    return text if not text or text.endswith("\n") else text + "\n"


# --- line: the properties -----------------------------------------------------------------------


@given(text=TEXT, line=BODY, present=st.booleans())
def test_editing_a_line_twice_is_editing_it_once(text: str, line: str, present: bool) -> None:
    once = edit_line(text, line, None, present=present)
    assert edit_line(once, line, None, present=present) == once


@given(text=TEXT, key=BODY.filter(bool), rest=BODY, present=st.booleans())
def test_with_a_regexp_the_line_matches_editing_twice_is_editing_once(
    text: str, key: str, rest: str, present: bool
) -> None:
    """The documented way to use ``regexp``: it matches the line it puts in, too."""
    line, regexp = key + rest, "^" + re.escape(key)
    once = edit_line(text, line, regexp, present=present)
    assert edit_line(once, line, regexp, present=present) == once


@given(text=TEXT, line=BODY)
def test_present_then_absent_takes_back_exactly_the_line_it_added(text: str, line: str) -> None:
    assume(line not in map(body, lines_of(text)))  # else present adds nothing at all
    added = edit_line(text, line, None, present=True)
    assert added == terminated(text) + line + "\n"
    assert edit_line(added, line, None, present=False) == terminated(text)


@given(text=TEXT, line=BODY)
def test_removing_a_line_keeps_every_other_line_byte_for_byte(text: str, line: str) -> None:
    kept = [item for item in lines_of(text) if body(item) != line]
    assert edit_line(text, line, None, present=False) == "".join(kept)


@given(before=TEXT, key=BODY.filter(bool), old=BODY, ending=st.sampled_from(["\n", "\r\n", ""]))
def test_a_regexp_replaces_the_matching_line_and_keeps_its_ending_and_the_rest(
    before: str, key: str, old: str, ending: str
) -> None:
    """Replacing the last matching line touches that line alone: the lines around it, a CRLF
    ending and a missing final newline (after the replaced line: it ends the file) stay."""
    before = terminated(before)
    regexp = "^" + re.escape(key)
    after = "tail\r\nno final newline" if ending else ""
    # the line replaced is the one match: the others are not about it
    assume(not any(re.search(regexp, body(item)) for item in lines_of(before + after)))
    line = key + "=new"
    text = before + key + old + (ending or "") + after
    edited = edit_line(text, line, regexp, present=True)
    if ending:
        assert edited == before + line + ending + after
    else:  # the match was the last line, without an ending: the new line gets one
        assert edited == before + line + "\n"


@given(text=TEXT, regexp_key=BODY.filter(bool))
def test_absent_with_a_regexp_removes_every_matching_line_and_only_those(
    text: str, regexp_key: str
) -> None:
    regexp = re.escape(regexp_key)
    kept = [item for item in lines_of(text) if not re.search(regexp, body(item))]
    assert edit_line(text, "ignored", regexp, present=False) == "".join(kept)


def test_unchanged_text_comes_back_identical() -> None:
    text = "a\r\nkeep\nlast"
    assert edit_line(text, "keep", None, present=True) == text
    assert edit_line(text, "a", "^a$", present=True) == text
    assert edit_line(text, "absent", None, present=False) == text
    assert edit_line("", "x", None, present=False) == ""


# --- line: characters Python breaks lines at and a host does not ------------------------------


@example(text="", line="a\x0cb")
@example(text="", line="ends in cr\r")
@example(text="", line="page\u2028two")
@given(text=st.text(max_size=20), line=st.text(max_size=8).filter(lambda s: "\n" not in s))
def test_any_line_without_a_newline_is_added_once(text: str, line: str) -> None:
    """``line`` may hold any character but ``\\n`` (the config refuses only that): a line
    holding a form feed, a CR or U+2028 is one line on the host, added once, not on every
    run."""
    once = edit_line(text, line, None, present=True)
    assert edit_line(once, line, None, present=True) == once


def test_removing_lines_by_regexp_never_cuts_a_line_at_a_form_feed() -> None:
    """A form feed (as in Python or C sources) is inside a line: ``^b=`` matches no line of
    ``a=1<FF>b=2``, which must stay whole, not lose its tail."""
    text = "a=1\x0cb=2\nc=3\n"
    assert edit_line(text, "", "^b=", present=False) == text


def test_replacing_by_regexp_never_cuts_a_line_at_a_unicode_line_separator() -> None:
    """The last line starting ``key=`` is the first one: the second holds ``key=`` only after
    a U+2028, inside its line."""
    text = "key=mine\ntitle=One\u2028key=old\n"
    edited = edit_line(text, "key=new", "^key=", present=True)
    assert edited == "key=new\ntitle=One\u2028key=old\n"


# --- block --------------------------------------------------------------------------------------


def block_of(text: str, marker: str = MARKER) -> str:
    """The lines ``edit_block`` puts in for ``text``: markers around it, every line ended."""
    begin, end = marker.replace("{mark}", "BEGIN"), marker.replace("{mark}", "END")
    return f"{begin}\n{terminated(text)}{end}\n"


#: A block's text, and a marker: one line holding {mark}, neither holding a marker line.
BLOCK = st.lists(BODY, max_size=5).map(lambda lines: "".join(f"{line}\n" for line in lines))
MARK = BODY.map(lambda s: s + " {mark}")


def _no_markers(text: str, marker: str) -> bool:
    marks = {marker.replace("{mark}", "BEGIN"), marker.replace("{mark}", "END")}
    return not marks.intersection(map(body, lines_of(text)))


@given(text=TEXT, block=BLOCK, marker=MARK, present=st.booleans())
def test_editing_a_block_twice_is_editing_it_once(
    text: str, block: str, marker: str, present: bool
) -> None:
    if not (_no_markers(text, marker) and _no_markers(block, marker)):
        return
    once = edit_block(text, block, marker, present=present)
    assert edit_block(once, block, marker, present=present) == once


@given(text=TEXT, block=BLOCK, marker=MARK)
def test_a_block_added_then_removed_leaves_the_text_as_it_was(
    text: str, block: str, marker: str
) -> None:
    if not (_no_markers(text, marker) and _no_markers(block, marker)):
        return
    added = edit_block(text, block, marker, present=True)
    assert added == terminated(text) + block_of(block, marker)
    assert edit_block(added, block, marker, present=False) == terminated(text)


@given(before=TEXT, after=TEXT, old=BLOCK, new=BLOCK, marker=MARK)
def test_a_block_is_replaced_in_place_and_the_lines_around_it_kept(
    before: str, after: str, old: str, new: str, marker: str
) -> None:
    before = terminated(before)
    for text in (before, after, old, new):
        if not _no_markers(text, marker):
            return
    text = before + block_of(old, marker) + after
    assert edit_block(text, new, marker, present=True) == before + block_of(new, marker) + after
    assert edit_block(text, new, marker, present=False) == before + after


def test_a_block_without_a_final_newline_gets_one_and_crlf_lines_stay() -> None:
    text = "a\r\nb"
    assert edit_block(text, "x", MARKER, present=True) == (
        "a\r\nb\n# BEGIN NEXUS MANAGED BLOCK\nx\n# END NEXUS MANAGED BLOCK\n"
    )


def test_an_unterminated_block_is_replaced_from_its_begin_line() -> None:
    """A BEGIN without its END (someone deleted it) : the BEGIN line alone is replaced, the
    rest of the file stays."""
    text = "a\n# BEGIN NEXUS MANAGED BLOCK\nb\n"
    assert edit_block(text, "x\n", MARKER, present=True) == "a\n" + block_of("x\n") + "b\n"


def test_a_block_whose_marker_holds_a_form_feed_is_added_once() -> None:
    marker = "#\x0c{mark}"
    once = edit_block("", "x\n", marker, present=True)
    assert edit_block(once, "x\n", marker, present=True) == once
