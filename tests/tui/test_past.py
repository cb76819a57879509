"""Reading a run back from its journal: every event the screen folds comes back as it was
recorded, and what cannot be read is skipped rather than failing the screen."""

from __future__ import annotations

import dataclasses
import json

import pytest

from nexus_engine import events as ev
from nexus_tui.past import KINDS, decode
from tests.tui.scripts import finished


def test_every_folded_event_comes_back_from_its_json() -> None:
    script = finished().events
    kinds = {type(event) for event in script}
    assert kinds >= set(KINDS.values()) - {ev.RetryScheduled}
    for event in script:
        record = json.loads(json.dumps(ev.to_json(event)))
        back = decode(record)
        if type(event) not in KINDS.values():
            assert back is None
            continue
        assert back is not None
        assert back.time == pytest.approx(event.time, abs=1e-3)  # recorded to the millisecond
        same: dict[str, object] = {"time": event.time}
        if isinstance(event, ev.RunFinished):
            same |= {"started": event.started, "tasks": {}}
        assert back == dataclasses.replace(event, **same)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "record",
    [
        {"event": "unit_finished", "time": "yesterday", "run_id": "r", "seq": 1},
        {"event": "task_finished", "time": "2026-01-01T00:00:00+00:00", "status": "fine"},
        {"event": "step_started", "time": 5},
        {"event": "run_launched", "time": "2026-01-01T00:00:00+00:00"},
    ],
)
def test_a_record_this_version_cannot_read_is_skipped(record: dict[str, object]) -> None:
    assert decode(record) is None
