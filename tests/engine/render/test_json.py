"""The machine-readable faces: the summary document scripts read, and every event as a line."""

from __future__ import annotations

import io
import json

from nexus_engine.fold import Collector, Rules
from nexus_engine.render import json as json_render
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.words import Stream
from tests.engine.render.script import SIX_ADDRESSES, Script, six_hosts, stream

S = UnitStatus


def finished_run(s: Script):  # type: ignore[no-untyped-def]
    build = s.unit_finished("build@local", duration=1.23456)
    web1 = s.unit_finished("deploy@web1", S.FAILED, 3, 2.0, "exit status 3", attempts=2)
    skipped = s.unit_finished("report@local", S.NOT_RUN, None, None, "not run: deploy failed")
    return s.run_finished(RunStatus.FAILED, build, web1, skipped)


def test_the_summary_document_has_status_times_and_every_unit() -> None:
    document = json_render.summary_document(finished_run(Script(run_id="20251124-051217-abc123")))
    assert document == {
        "status": "failed",
        "exit_code": 1,
        "run_id": "20251124-051217-abc123",
        "started": "2025-11-24T05:12:17.000+00:00",
        "finished": "2025-11-24T05:13:17.000+00:00",
        "error": None,
        "resumed_from": None,
        "recap": {"ok": 0, "changed": 0, "skipped": 0, "failed": 1},
        "tasks": {
            "build": {
                "status": "succeeded",
                "hosts": {
                    "local": {
                        "status": "succeeded",
                        "exit_code": 0,
                        "attempts": 1,
                        "duration": 1.235,
                        "reason": None,
                        "error": None,
                        "ok": 0,
                        "changed": 0,
                        "skipped": 0,
                        "reused": False,
                    }
                },
            },
            "deploy": {
                "status": "failed",
                "hosts": {
                    "web1": {
                        "status": "failed",
                        "exit_code": 3,
                        "attempts": 2,
                        "duration": 2.0,
                        "reason": "exit status 3",
                        "error": None,
                        "ok": 0,
                        "changed": 0,
                        "skipped": 0,
                        "reused": False,
                    }
                },
            },
            "report": {
                "status": "not_run",
                "hosts": {
                    "local": {
                        "status": "not_run",
                        "exit_code": None,
                        "attempts": 1,
                        "duration": None,
                        "reason": "not run: deploy failed",
                        "error": None,
                        "ok": 0,
                        "changed": 0,
                        "skipped": 0,
                        "reused": False,
                    }
                },
            },
        },
    }
    json.dumps(document)  # plain JSON all the way down


def test_the_exit_code_follows_the_status() -> None:
    for status, code in (
        (RunStatus.SUCCEEDED, 0),
        (RunStatus.FAILED, 1),
        (RunStatus.INTERRUPTED, 130),
    ):
        document = json_render.summary_document(Script().run_finished(status))
        assert (document["status"], document["exit_code"]) == (status.value, code)


async def test_write_summary_prints_one_document_at_the_end() -> None:
    s = Script()
    events = [
        s.run_started("build", units=1),
        s.unit_started("build@local"),
        s.out("build@local", b"noise\n"),
        finished_run(s),
    ]
    out = io.StringIO()
    await json_render.write_summary(stream(events), out)
    text = out.getvalue()
    assert text.endswith("}\n")
    assert text.startswith('{\n  "status": "failed"')  # indented for people too
    document = json.loads(text)
    groups = {name: task.pop("groups") for name, task in document["tasks"].items()}
    assert document == json_render.summary_document(events[-1])  # output only in the groups
    assert groups["build"] == [
        {
            "hosts": ["local"],
            "hosts_folded": "local",
            "status": "succeeded",
            "exit_code": 0,
            "error": None,
            "complete": True,
            "stdout": "noise\n",
            "stderr": "",
            "diff": None,
        }
    ]
    assert groups["deploy"][0]["stdout"] == ""


async def test_write_lines_prints_every_event_as_one_json_line() -> None:
    s = Script()
    events = [
        s.run_started("build", units=1),
        s.unit_started("build@local"),
        s.out("build@local", b"two\nlines\n"),
        s.out("build@local", b"\xff\xfe", Stream.STDERR),
        finished_run(s),
    ]
    out = io.StringIO()
    await json_render.write_lines(stream(events), out)
    lines = out.getvalue().splitlines()
    assert len(lines) == len(events)
    decoded = [json.loads(line) for line in lines]
    assert [d["event"] for d in decoded] == [
        "run_started",
        "unit_started",
        "output_received",
        "output_received",
        "run_finished",
    ]
    assert [d["seq"] for d in decoded] == [e.seq for e in events]
    assert decoded[2]["text"] == "two\nlines\n"  # the newline is escaped, the line stays whole
    assert decoded[3]["data_b64"] == "//4="
    assert decoded[3]["stream"] == "stderr"
    assert decoded[-1]["status"] == "failed"
    assert " " not in lines[1]  # compact separators


async def test_write_lines_sends_whole_lines_and_a_steps_last_line_when_it_ends() -> None:
    s = Script()
    events = [
        s.out("build@local", b"one\ntw"),
        s.out("build@web1", b"other host, no newline"),
        s.out("build@local", b"err", Stream.STDERR),
        s.out("build@local", b"o\nthree\nfo"),
        s.out("build@local", b"ur"),
        s.step_finished("build@local"),
        s.out("build@local", b"next step\n", step=1),
        finished_run(s),
    ]
    out = io.StringIO()
    await json_render.write_lines(stream(events), out)
    decoded = [json.loads(line) for line in out.getvalue().splitlines()]
    shown = [(d["event"], d["host"], d.get("stream"), d.get("text")) for d in decoded[:-1]]
    assert shown == [
        ("output_received", "local", "stdout", "one\n"),
        ("output_received", "local", "stdout", "two\nthree\n"),
        # the step ended: its partial lines, in the order they came, then step_finished
        ("output_received", "local", "stderr", "err"),
        ("output_received", "local", "stdout", "four"),
        ("step_finished", "local", None, None),
        ("output_received", "local", "stdout", "next step\n"),
        # the run ended: every line still partial, then run_finished
        ("output_received", "web1", "stdout", "other host, no newline"),
    ]
    assert decoded[-1]["event"] == "run_finished"
    # an event that carries lines is the chunk that ended them
    assert decoded[1]["seq"] == events[3].seq
    assert decoded[3]["seq"] == events[4].seq


async def test_write_lines_sends_a_huge_line_in_pieces() -> None:
    s = Script()
    huge = b"x" * (json_render.MAX_PENDING + 10)
    events = [s.out("build@local", huge), s.out("build@local", b"and its end\n")]
    out = io.StringIO()
    await json_render.write_lines(stream(events), out)
    decoded = [json.loads(line) for line in out.getvalue().splitlines()]
    # never held beyond the limit: sent at once, and the line's end when it comes
    assert [d["text"] for d in decoded] == [huge.decode(), "and its end\n"]


async def test_write_summary_carries_each_tasks_groups_of_hosts() -> None:
    out = io.StringIO()
    rules = Rules.of([r"req-[0-9a-f]+"], SIX_ADDRESSES)
    await json_render.write_summary(stream(six_hosts(Script())), out, rules)
    groups = json.loads(out.getvalue())["tasks"]["deploy"]["groups"]
    shared = "deploying release 42 to {host} ({address})\nstarted {time}\n"
    assert groups == [
        {
            "hosts": ["web1", "web2", "web3", "web4"],
            "hosts_folded": "web[1-4]",
            "status": "succeeded",
            "exit_code": 0,
            "error": None,
            "complete": True,
            "stdout": shared + "{ignored} done\n",
            "stderr": "",
            "diff": None,
        },
        {
            "hosts": ["web5"],
            "hosts_folded": "web5",
            "status": "succeeded",
            "exit_code": 0,
            "error": None,
            "complete": True,
            "stdout": shared + "{ignored} done\n",
            "stderr": "warning: disk 91% full\n",
            "diff": "--- web[1-4]\n+++ web5\n@@ -1,3 +1,4 @@\n"
            " | deploying release 42 to {host} ({address})\n | started {time}\n"
            " | {ignored} done\n+! warning: disk 91% full",
        },
        {
            "hosts": ["web6"],
            "hosts_folded": "web6",
            "status": "failed",
            "exit_code": 1,
            "error": None,
            "complete": True,
            "stdout": shared,
            "stderr": "error: no space left on device\n",
            "diff": "--- web[1-4]\n+++ web6\n@@ -1,3 +1,3 @@\n"
            " | deploying release 42 to {host} ({address})\n | started {time}\n"
            "-| {ignored} done\n+! error: no space left on device",
        },
    ]


def test_an_incomplete_group_carries_no_output() -> None:
    s = Script()
    collector = Collector(limit=2)
    unit = s.unit_finished("t@a")
    for event in [s.out("t@a", b"too long"), unit]:
        collector.take(event)
    document = json_render.summary_document(s.run_finished(RunStatus.SUCCEEDED, unit), collector)
    (group,) = document["tasks"]["t"]["groups"]
    assert (group["complete"], group["stdout"], group["stderr"], group["diff"]) == (
        False,
        None,
        None,
        None,
    )
