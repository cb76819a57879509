"""How the dashboard words and colours things: glyphs, durations, labels and cells.

Everything returns Rich ``Text`` built from plain strings, never markup, so a task, host or
reason that contains ``[bold]`` is shown as typed. Glyphs and durations are the headless
renderer's, so both faces speak alike.
"""

from __future__ import annotations

from rich.text import Text

from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.words import GLYPHS, duration_text, size_text
from nexus_tui.model import RunTotals, TaskRow, UnitRow
from nexus_tui.tally import Kind

S = UnitStatus
STYLES: dict[UnitStatus, str] = {
    S.SUCCEEDED: "green",
    S.FAILED: "bold red",
    S.TIMED_OUT: "bold red",
    S.INTERRUPTED: "magenta",
    S.SKIPPED: "yellow",
    S.NOT_RUN: "dim",
    S.RUNNING: "cyan",
    S.RETRY_WAIT: "yellow",
    S.AWAITING_DECISION: "bold yellow",
    S.PENDING: "dim",
    S.PARTIAL: "yellow",
}
WORDS: dict[UnitStatus, str] = {S.AWAITING_DECISION: "waiting", S.RETRY_WAIT: "retrying"}
RUN_STYLES = {RunStatus.SUCCEEDED: "bold green", RunStatus.FAILED: "bold red"}
OUT_OF_RUN = "–"
#: The header's counts, in this order; the first two even at zero, the rest only when some are.
COUNTED = (Kind.SUCCEEDED, Kind.FAILED, Kind.RUNNING, Kind.SKIPPED, Kind.INTERRUPTED, Kind.PENDING)
ALWAYS_COUNTED = frozenset({Kind.SUCCEEDED, Kind.FAILED})
BAR_WIDTH = 12


def duration(seconds: float | None) -> str:
    return duration_text(seconds)


def status_word(status: UnitStatus, *, reused: bool = False) -> str:
    """``reused``: it succeeded in the run this one resumes, and was not run again."""
    if reused and status is S.SUCCEEDED:
        return "reused"
    return WORDS.get(status, status.value.replace("_", " "))


def status_cell(status: UnitStatus, *, reused: bool = False) -> Text:
    """``✓ succeeded``, ``✓ reused``, ``✗ failed``: glyph and word, coloured alike."""
    return Text.assemble(glyph(status), " ", (status_word(status, reused=reused), STYLES[status]))


def glyph(status: UnitStatus) -> Text:
    return Text(GLYPHS[status], style=STYLES[status])


def task_label(row: TaskRow, now: float, *, under: str | None = None) -> Text:
    """``✓ build  2/2  3.1s`` (``✓ build  2/2  reused`` when a resumed run reused it); a
    reference to a task shown in full elsewhere in the tree says under which task:
    ``✓ deploy  ↑lint``."""
    if under is not None:
        text = Text.assemble(glyph(row.status), " ", (row.name, "italic"))
        text.append(f"  ↑{under}", style="dim")
        return text
    text = Text.assemble(glyph(row.status), " ", (row.name, "bold"))
    text.append(f"  {row.done}/{len(row.hosts)}", style="dim")
    if row.reused:  # "reused" when every host was, else how many
        count = "" if row.reused == len(row.hosts) else f"{row.reused} "
        text.append(f"  {count}reused", style="dim")
    if (elapsed := row.elapsed(now)) is not None:
        text.append(f"  {duration(elapsed)}", style="dim")
    return text


def host_cells(row: UnitRow, now: float) -> tuple[Text, ...]:
    """Status, host, tries, exit, time, steps ok/changed, note: the host table's columns."""
    status = status_cell(row.status, reused=row.reused)
    if not row.in_run:
        status = Text(f"{OUT_OF_RUN} idle", style="dim")
    exit_code = "-" if row.exit_code is None else str(row.exit_code)
    tries = str(row.attempts) if row.attempts else "-"
    return (
        status,
        Text(row.key.host),
        Text(tries, justify="right"),
        Text(exit_code, justify="right", style="red" if row.exit_code else ""),
        Text(duration(row.elapsed(now)), justify="right"),
        changes(row.ok_steps, row.changed_steps),
        note(row, now),
    )


def changes(ok: int, changed: int) -> Text:
    """Steps that found nothing to do, and steps that changed something: ``3/1``."""
    if not ok and not changed:
        return Text("-", justify="right", style="dim")
    return Text.assemble(
        (str(ok), "green"), "/", (str(changed), "yellow" if changed else ""), justify="right"
    )


def note(row: UnitRow, now: float) -> Text:
    """Why a host needs a look: quiet for a while, or why it failed; or a file on its way;
    or which run a reused unit succeeded in."""
    if row.sending is not None and row.status is S.RUNNING:
        sent, total = row.sending
        return Text(f"sent {sent * 100 // max(total, 1)}% of {size_text(total)}", style="cyan")
    if row.quiet_since is not None and row.status is S.RUNNING:
        return Text(f"quiet {duration(max(now - row.quiet_since, 0.0))}", style="bold yellow")
    if row.reason and (row.status is not S.SUCCEEDED or row.reused):
        return Text(row.reason, style="dim")
    return Text("")


def progress(totals: RunTotals, now: float) -> Text:
    """The header: a bar of units done, then what is running, failed and waiting."""
    total = max(totals.total, 1)
    filled = round(BAR_WIDTH * totals.done / total)
    text = Text.assemble(("█" * filled, "green"), ("░" * (BAR_WIDTH - filled), "dim"))
    if totals.checking:
        text = Text.assemble(("CHECK MODE: nothing changes ", "bold black on yellow"), text)
    text.append(f" {totals.done}/{totals.total} units")
    text.append_text(counts(totals))
    if totals.awaiting:
        text.append(f"  ? {totals.awaiting} waiting", style="bold yellow")
    text.append(f"  ⏱ {duration(totals.elapsed(now))}")
    if totals.status is not None:
        text.append(f"  {totals.status.value}", style=RUN_STYLES.get(totals.status, "magenta"))
    return text


def counts(totals: RunTotals) -> Text:
    """``  ✓ 912  ✗ 41  ▶ 30  · 17``: the run's units per kind, each in its colour."""
    text = Text()
    numbers = dict(totals.kinds)
    for kind in COUNTED:
        number = numbers.get(kind, 0)
        if number or kind in ALWAYS_COUNTED:
            status = UnitStatus(kind.value)
            text.append(f"  {GLYPHS[status]} {number}", style=STYLES[status] if number else "dim")
    return text


def view_label(kind: Kind | None, *, grouped: bool) -> Text:
    """``  │ only ✗ failed`` and ``  │ grouped``: the host table's views that are on."""
    text = Text()
    if grouped:
        text.append("  │ ", style="dim").append("grouped", style="bold reverse")
    if kind is not None:
        text.append("  │ only ", style="dim").append_text(status_cell(UnitStatus(kind.value)))
    return text
