"""Events as JSON (every kind, bytes lossless) and the fan-out bus (order, back-pressure, close)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
from datetime import datetime
from typing import Any

import pytest

from nexus_engine import events as ev
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.words import Stream

T = 1_763_961_137.25  # 2025-11-24T05:12:17.250Z
COMMON: dict[str, Any] = {"run_id": "r1", "seq": 1, "time": T}
WHERE = {"task": "deploy", "host": "web1"}
STEP = {**WHERE, "step": 0, "attempt": 2}

SAMPLES: list[ev.Event] = [
    ev.RunStarted(
        **COMMON, config_path="nexus.toml", tasks=("a", "b"), unit_count=3, parallel_limit=2
    ),
    ev.TaskStarted(**COMMON, task="deploy"),
    ev.TaskFinished(**COMMON, task="deploy", status=UnitStatus.FAILED),
    ev.UnitStarted(**COMMON, **WHERE),
    ev.StepStarted(**COMMON, **STEP, command="make ***"),
    ev.OutputReceived(**COMMON, **STEP, stream=Stream.STDOUT, data=b"hi\n"),
    ev.StepFinished(
        **COMMON, **STEP, status=UnitStatus.FAILED, exit_code=3, signal=None, duration=1.5
    ),
    ev.RetryScheduled(**COMMON, **STEP, delay=0.5),
    ev.DecisionNeeded(**COMMON, **WHERE, status=UnitStatus.TIMED_OUT, reason="timed out"),
    ev.UnitFinished(
        **COMMON, **WHERE, status=UnitStatus.SUCCEEDED, attempts=2, exit_code=0, duration=2.0
    ),
    ev.RunFinished(
        **COMMON,
        status=RunStatus.FAILED,
        started=T - 60,
        tasks={
            "deploy": ev.TaskSummary(
                status=UnitStatus.FAILED,
                hosts={"web1": ev.UnitSummary(UnitStatus.FAILED, 3, 2, 1.5, "exit status 3")},
            )
        },
    ),
]


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: type(e).__name__)
def test_every_event_kind_becomes_plain_json(event: ev.Event) -> None:
    out = ev.to_json(event)
    assert list(out)[:2] == ["event", "time"]
    assert out["time"] == "2025-11-24T05:12:17.250+00:00"
    assert datetime.fromisoformat(out["time"]).timestamp() == T
    assert (out["run_id"], out["seq"]) == ("r1", 1)
    # every field but the timestamp is there, under its own name (bytes are renamed)
    names = {f.name for f in dataclasses.fields(event)} - {"time", "data"}
    assert names <= set(out)
    assert json.loads(json.dumps(out)) == out  # nothing that json cannot carry


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        (ev.RunStarted, "run_started"),
        (ev.OutputReceived, "output_received"),
        (ev.DecisionNeeded, "decision_needed"),
        (ev.RunFinished, "run_finished"),
    ],
)
def test_event_names_are_snake_case(kind: type[ev.Event], name: str) -> None:
    event = next(e for e in SAMPLES if type(e) is kind)
    assert event.name == name
    assert ev.to_json(event)["event"] == name


def test_enums_serialise_as_their_values() -> None:
    out = ev.to_json(SAMPLES[6])
    assert json.dumps(out["status"]) == '"failed"'
    output = ev.to_json(SAMPLES[5])
    assert json.dumps(output["stream"]) == '"stdout"'


def output(data: bytes) -> ev.OutputReceived:
    return ev.OutputReceived(**COMMON, **STEP, stream=Stream.STDERR, data=data)


def test_utf8_output_is_text() -> None:
    out = ev.to_json(output("héllo ✓\n".encode()))
    assert out["text"] == "héllo ✓\n"
    assert "data" not in out
    assert "data_b64" not in out


@pytest.mark.parametrize("data", [b"\xff\xfe\x00", "✓".encode()[:2], b"ok\x80"])
def test_other_bytes_are_base64_and_lossless(data: bytes) -> None:
    out = ev.to_json(output(data))
    assert "text" not in out
    assert base64.b64decode(out["data_b64"]) == data


def test_run_finished_carries_the_summary_and_iso_start() -> None:
    out = ev.to_json(SAMPLES[-1])
    assert out["started"] == "2025-11-24T05:11:17.250+00:00"
    assert out["status"] == "failed"
    assert out["tasks"] == {
        "deploy": {
            "status": "failed",
            "hosts": {
                "web1": {
                    "status": "failed",
                    "exit_code": 3,
                    "attempts": 2,
                    "duration": 1.5,
                    "reason": "exit status 3",
                    "error_kind": None,
                    "ok_steps": 0,
                    "changed_steps": 0,
                    "skipped_steps": 0,
                    "reused": False,
                }
            },
        }
    }
    assert SAMPLES[-1].exit_code == 1  # type: ignore[attr-defined]


def test_run_started_tuples_become_lists() -> None:
    assert ev.to_json(SAMPLES[0])["tasks"] == ["a", "b"]


def test_events_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SAMPLES[1].seq = 5  # type: ignore[misc]


# ---- the bus ----------------------------------------------------------------------------------


def numbered(n: int) -> list[ev.Event]:
    return [ev.TaskStarted(run_id="r", seq=i, time=T, task=f"t{i}") for i in range(1, n + 1)]


async def collect(stream: Any, delay: float = 0.0) -> list[int]:
    seen = []
    async for event in stream:
        seen.append(event.seq)
        if delay:
            await asyncio.sleep(delay)
    return seen


async def test_every_subscriber_gets_every_event_in_order() -> None:
    bus = ev.EventBus(maxsize=8)
    readers = [asyncio.create_task(collect(bus.subscribe())) for _ in range(3)]
    for event in numbered(50):
        await bus.publish(event)
    await bus.close()
    results = await asyncio.gather(*readers)
    assert results == [list(range(1, 51))] * 3


async def test_close_ends_iteration_after_what_is_queued() -> None:
    bus = ev.EventBus()
    stream = bus.subscribe()
    for event in numbered(3):
        await bus.publish(event)
    await bus.close()
    assert await collect(stream) == [1, 2, 3]


async def test_subscribing_after_close_raises() -> None:
    bus = ev.EventBus()
    await bus.close()
    with pytest.raises(RuntimeError, match="subscribe before"):
        bus.subscribe()


async def test_a_slow_subscriber_holds_the_publisher_back() -> None:
    bus = ev.EventBus(maxsize=2)
    slow = bus.subscribe()
    fast = asyncio.create_task(collect(bus.subscribe()))
    published = 0

    async def publisher() -> None:
        nonlocal published
        for event in numbered(10):
            await bus.publish(event)
            published += 1
        await bus.close()

    task = asyncio.create_task(publisher())
    await asyncio.sleep(0.05)
    # nobody read the slow queue: the publisher is stuck once it holds maxsize events
    assert published == 2
    assert not task.done()
    assert await collect(slow, delay=0.001) == list(range(1, 11))
    await task
    assert await fast == list(range(1, 11))


async def test_a_subscriber_lagging_by_output_bytes_holds_the_publisher_back() -> None:
    """Few events, but large ones: the byte budget, not the event count, stops the publisher."""
    bus = ev.EventBus(maxsize=1000, max_bytes=10_000)
    slow = bus.subscribe()
    published = 0

    async def publisher() -> None:
        nonlocal published
        for _ in range(6):
            await bus.publish(output(b"x" * 4000))
            published += 1
        await bus.close()

    task = asyncio.create_task(publisher())
    await asyncio.sleep(0.05)
    assert published == 2  # a third 4000-byte chunk would pass 10,000 bytes
    assert not task.done()
    received = [event async for event in slow]
    await task
    assert [len(event.data) for event in received] == [4000] * 6  # type: ignore[attr-defined]


async def test_a_chunk_larger_than_the_byte_budget_still_passes() -> None:
    bus = ev.EventBus(max_bytes=10)
    stream = bus.subscribe()
    await asyncio.wait_for(bus.publish(output(b"y" * 100)), 1)
    await bus.close()
    assert [event.data async for event in stream] == [b"y" * 100]  # type: ignore[attr-defined]


async def test_a_bus_without_subscribers_accepts_events() -> None:
    bus = ev.EventBus(maxsize=1)
    for event in numbered(5):
        await bus.publish(event)
    await bus.close()
