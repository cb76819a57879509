"""What a terminal gets: the colour decision, safe text, durations and aligned tables."""

from __future__ import annotations

import io

import pytest

from nexus_engine.render.terminal import paint, printable, status_text, table, wants_colour
from nexus_engine.status import UnitStatus
from nexus_engine.words import GLYPHS, duration_text


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    return monkeypatch


def test_colour_for_a_terminal(clean_env: pytest.MonkeyPatch) -> None:
    assert wants_colour(Tty(), plain=False) is True


def test_no_colour_when_not_a_terminal(clean_env: pytest.MonkeyPatch) -> None:
    assert wants_colour(io.StringIO(), plain=False) is False


def test_no_colour_with_plain(clean_env: pytest.MonkeyPatch) -> None:
    assert wants_colour(Tty(), plain=True) is False


@pytest.mark.parametrize("value", ["1", "0", "yes", "anything"])
def test_no_colour_when_no_color_is_set(clean_env: pytest.MonkeyPatch, value: str) -> None:
    clean_env.setenv("NO_COLOR", value)
    assert wants_colour(Tty(), plain=False) is False


def test_an_empty_no_color_is_ignored(clean_env: pytest.MonkeyPatch) -> None:
    # no-color.org: "when present and not an empty string"
    clean_env.setenv("NO_COLOR", "")
    assert wants_colour(Tty(), plain=False) is True


def test_no_colour_on_a_dumb_terminal(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("TERM", "dumb")
    assert wants_colour(Tty(), plain=False) is False


def test_no_term_at_all_still_colours_a_tty(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.delenv("TERM")
    assert wants_colour(Tty(), plain=False) is True


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text", "plain text"),
        ("\x1b[1;31mbold red\x1b[0m", "bold red"),
        ("\x1b]0;new title\x07after", "after"),
        ("\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\", "link"),
        ("\x1b7saved\x1b8", "saved"),  # save/restore cursor: two-byte escapes go whole
        ("\x1b(Bascii\x1bc", "ascii"),  # charset selection and reset, likewise
        ("a\rb", "ab"),
        ("tab\tstays", "tab\tstays"),
        ("del\x7f c1\u009b2J \u0085nel", "del c12J nel"),
        ("lone escape \x1b", "lone escape "),
        ("unicode ✓ é stays", "unicode ✓ é stays"),
    ],
)
def test_printable(raw: str, shown: str) -> None:
    assert printable(raw) == shown


def test_paint() -> None:
    assert paint("x", "31", True) == "\x1b[31mx\x1b[0m"
    assert paint("x", "31", False) == "x"
    assert paint("x", None, True) == "x"


def test_every_status_has_a_glyph_and_a_colour() -> None:
    for status in UnitStatus:
        assert status_text(status, False) == f"{GLYPHS[status]} {status.value}"
        assert status_text(status, True).startswith("\x1b[")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (None, "-"),
        (0, "0.0s"),
        (0.5, "0.5s"),
        (59.9, "59.9s"),
        (59.97, "1m00s"),  # not "60.0s"
        (60, "1m00s"),
        (125, "2m05s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (3720, "1h02m"),
        (90061, "25h01m"),
    ],
)
def test_duration_text(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


def test_table_aligns_left_and_trims_the_right() -> None:
    assert table([["A", "LONG HEADER", "C"], ["wide cell", "x", ""]]) == [
        "A          LONG HEADER  C",
        "wide cell  x",
    ]


def test_table_measures_painted_cells_by_their_plain_text() -> None:
    plain = [["NAME", "STATUS", "N"], ["a", "✓ succeeded", "1"], ["bb", "✗ failed", "22"]]
    painted = [
        plain[0],
        ["a", paint("✓ succeeded", "32", True), "1"],
        ["bb", paint("✗ failed", "31", True), "22"],
    ]
    lines = table(painted, plain)
    assert [
        line.replace("\x1b[32m", "").replace("\x1b[31m", "").replace("\x1b[0m", "")
        for line in lines
    ] == table(plain)
    assert table(plain) == [
        "NAME  STATUS       N",
        "a     ✓ succeeded  1",
        "bb    ✗ failed     22",
    ]
