"""The model and the bridge without a screen: events folded into rows, output into lines."""

from __future__ import annotations

import pytest

from nexus_engine import events as ev
from nexus_engine.plan import UnitKey
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.words import Stream
from nexus_tui import messages as msg
from nexus_tui import text
from nexus_tui.bridge import HISTORY, HISTORY_BYTES, MAX_PENDING, STDERR_MARK, Bridge
from nexus_tui.model import RunModel
from nexus_tui.tally import Kind
from tests.tui.scripts import T0, Script, deploy_plan, finished, in_progress, waiting

S = UnitStatus
WEB2 = UnitKey("deploy", "web2")


def folded(script: Script) -> RunModel:
    model = RunModel(deploy_plan())
    model.begin(deploy_plan())
    for event in script.events:
        model.apply(event)
    return model


def test_the_idle_model_has_every_task_and_nothing_in_a_run() -> None:
    model = RunModel(deploy_plan())
    assert model.order == ["fetch", "build", "lint", "deploy", "migrate", "smoke"]
    assert not model.totals.active
    assert all(not row.in_run for row in model.hosts.values())
    assert model.tasks["deploy"].hosts == ("web1", "web2", "web3")


def test_events_fold_into_task_host_and_run_rows() -> None:
    model = folded(in_progress())
    totals = model.totals
    assert (totals.done, totals.running, totals.failed, totals.total) == (4, 3, 0, 11)
    assert totals.active
    assert model.tasks["build"].status is S.SUCCEEDED
    assert model.tasks["deploy"].status is S.RUNNING
    assert model.tasks["deploy"].done == 1
    assert model.hosts[UnitKey("deploy", "web3")].quiet_since == T0 + 6.5
    assert model.hosts[UnitKey("deploy", "web1")].elapsed(T0 + 99) == pytest.approx(2.6)


def test_a_failure_waits_and_holds_its_dependents() -> None:
    model = folded(waiting())
    assert model.awaiting() == [WEB2]
    row = model.hosts[WEB2]
    assert row.waiting
    assert row.exit_code == 5
    assert row.elapsed(T0 + 99) == pytest.approx(11.0 - 6.4)
    assert model.tasks["deploy"].status is S.AWAITING_DECISION
    assert model.held_by(WEB2) == [UnitKey("smoke", "web2")]
    assert model.totals.awaiting == 1


def test_a_retry_after_a_decision_counts_as_another_attempt() -> None:
    script = waiting()
    script.add(
        ev.StepStarted, task="deploy", host="web2", step=0, attempt=2, command="ship"
    ).add(ev.OutputReceived, task="deploy", host="web3", step=0, attempt=1,
          stream=Stream.STDOUT, data=b"x\n")  # fmt: skip
    model = folded(script)
    row = model.hosts[WEB2]
    assert (row.status, row.attempts, row.stopped) == (S.RUNNING, 2, None)
    assert model.hosts[UnitKey("deploy", "web3")].quiet_since is None  # it spoke
    script.add(ev.RetryScheduled, task="deploy", host="web2", step=0, attempt=3, delay=1.0)
    assert folded(script).hosts[WEB2].status is S.RETRY_WAIT


def test_the_end_of_the_run_is_folded_in() -> None:
    model = folded(finished())
    assert model.totals.status is RunStatus.FAILED
    assert not model.totals.active
    assert model.totals.elapsed(T0 + 999) == pytest.approx(21.3)


def test_labels_are_plain_text_never_markup() -> None:
    model = folded(waiting())
    label = text.task_label(model.tasks["deploy"], T0 + 14)
    assert label.plain == "? deploy  1/3  7.6s"
    assert text.task_label(model.tasks["smoke"], T0, under="migrate").plain.endswith("↑migrate")
    cells = [cell.plain for cell in text.host_cells(model.hosts[WEB2], T0 + 14)]
    assert cells == ["? waiting", "web2", "1", "5", "4.6s", "-", "exit status 5"]
    idle = RunModel(deploy_plan())
    assert text.host_cells(idle.hosts[WEB2], T0)[0].plain == "– idle"
    header = text.progress(model.totals, T0 + 14).plain
    assert "4/11 units" in header
    assert "? 1 waiting" in header
    assert text.progress(folded(finished()).totals, T0).plain.endswith("failed")


# -- the bridge --


def test_the_units_of_each_kind_are_kept_as_rows_change() -> None:
    model = folded(waiting())
    assert model.of_kind[Kind.FAILED] == {WEB2}
    counts = {kind: len(units) for kind, units in model.of_kind.items()}
    assert counts == dict(model.tally.kinds())
    assert all(model.hosts[key].in_run for units in model.of_kind.values() for key in units)


class Posted(list[object]):
    def of(self, kind: type) -> list:
        return [m for m in self if isinstance(m, kind)]


def bridge() -> tuple[Bridge, Posted]:
    posted = Posted()
    model = RunModel(deploy_plan())
    model.begin(deploy_plan())
    b = Bridge(model, posted.append)
    b.show([WEB2, UnitKey("deploy", "web1")])
    return b, posted


def out(data: bytes, stream: Stream = Stream.STDOUT, host: str = "web2") -> ev.OutputReceived:
    return ev.OutputReceived(
        run_id="r", seq=1, time=T0, task="deploy", host=host, step=0, attempt=1,
        stream=stream, data=data,
    )  # fmt: skip


def test_output_waits_for_whole_lines_and_is_posted_in_one_batch() -> None:
    b, posted = bridge()
    b.accept(out(b"one\ntw"))
    b.accept(out(b"o\nthr"))
    b.accept(out(b"oops\n", Stream.STDERR, host="web1"))
    assert posted.of(msg.OutputBatch) == []  # nothing before the flush
    b.flush()
    (batch,) = posted.of(msg.OutputBatch)
    assert batch.lines == {WEB2: ["one", "two"], UnitKey("deploy", "web1"): [f"{STDERR_MARK}oops"]}
    b.flush()
    assert len(posted.of(msg.OutputBatch)) == 1  # nothing new, nothing posted
    b.accept(
        ev.StepFinished(
            run_id="r", seq=2, time=T0, task="deploy", host="web2", step=0, attempt=1,
            status=S.SUCCEEDED, exit_code=0, signal=None, duration=1.0,
        )
    )  # fmt: skip
    b.flush()
    assert posted.of(msg.OutputBatch)[-1].lines == {WEB2: ["thr"]}  # the last partial line
    assert b.lines(WEB2) == ["one", "two", "thr"]


def test_output_is_made_printable_line_by_line() -> None:
    b, _ = bridge()
    b.accept(out(b"\x1b[31mred\x1b[0m [/bold]\r\n\xff\xfe bad\n\x07bell\n"))
    b.flush()
    assert b.lines(WEB2) == ["red [/bold]", "\ufffd\ufffd bad", "bell"]


def test_a_huge_line_is_shown_in_pieces_and_history_is_bounded() -> None:
    b, posted = bridge()
    b.accept(out(b"x" * (MAX_PENDING + 1)))
    b.flush()
    assert b.lines(WEB2) == ["x" * (MAX_PENDING + 1)]
    b.accept(out(b"line\n" * (HISTORY + 10)))
    b.flush()
    assert len(b.lines(WEB2)) == HISTORY
    assert len(posted.of(msg.OutputBatch)[-1].lines[WEB2]) == HISTORY
    for _ in range(3):
        b.accept(out(b"%07d\n" % 1 * (HISTORY_BYTES // 8 * 2)))
        b.flush()
    kept = b.lines(WEB2)
    assert len(kept) <= HISTORY_BYTES // 8 + 1
    assert set(kept) == {"0000001"}


def test_only_hosts_on_screen_are_decoded_as_output_comes() -> None:
    b, posted = bridge()
    web3 = UnitKey("deploy", "web3")
    b.accept(out(b"early\n", host="web3"))
    b.flush()
    assert posted.of(msg.OutputBatch) == []  # web3 is not on screen
    b.show([web3])
    assert b.lines(web3) == ["early"]  # what its pane loads
    b.accept(out(b"later\n", host="web3"))
    b.flush()
    assert posted.of(msg.OutputBatch)[-1].lines == {web3: ["later"]}


def test_status_changes_reach_the_screen_once_per_flush_and_coalesce() -> None:
    b, posted = bridge()
    for event in waiting().events:
        b.accept(event)
    assert posted.of(msg.HostChanged) == []  # nothing before the flush
    b.flush()
    hosts = [m.row.key for m in posted.of(msg.HostChanged)]
    assert len(hosts) == len(set(hosts)) == 7  # each changed unit once, at its latest
    assert posted.of(msg.HostChanged)[hosts.index(WEB2)].row.waiting
    assert len(posted.of(msg.TotalsChanged)) == 1
    assert posted.of(msg.DecisionWaiting) == [msg.DecisionWaiting(WEB2)]
    assert isinstance(posted[-1], msg.DecisionWaiting)  # after the rows it refers to
    row, other = b.model.hosts[WEB2], b.model.hosts[UnitKey("deploy", "web1")]
    assert msg.HostChanged(row).can_replace(msg.HostChanged(row))
    assert not msg.HostChanged(row).can_replace(msg.HostChanged(other))
    task = b.model.tasks["deploy"]
    assert msg.TaskChanged(task).can_replace(msg.TaskChanged(task))
    assert not msg.TaskChanged(task).can_replace(msg.TaskChanged(b.model.tasks["lint"]))
    totals = msg.TotalsChanged(b.model.totals)
    assert totals.can_replace(totals)
    batch = posted.of(msg.OutputBatch)[0]
    assert not batch.can_replace(batch)
