"""Starting a run that resumes a recorded one, from the dashboard.

The engine refuses a resume that would run again what may already have done its work, or run a
plan that changed since; on the command line a flag says to go on (``--yes``,
``--allow-changed``). The dashboard asks instead: such a refusal comes back as a
``ResumeQuestion`` holding the order to start if the operator says yes.
"""

from __future__ import annotations

from dataclasses import replace

from nexus_engine.config import LoadedConfig
from nexus_engine.graph import UnknownTaskError
from nexus_engine.resume.prepare import (
    NothingToResume,
    PlanChanged,
    ResumeOrder,
    ResumeRefused,
    UnsafeToRerun,
)
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.selection import SelectionError
from nexus_engine.session import RunRefused, RunRequest, open_run
from nexus_tui.source import LiveRun, StartError

#: Items of a list shown in a question; the rest are counted.
SHOWN = 8


class ResumeQuestion(StartError):
    """Resuming needs the operator's yes: ``question`` and ``detail`` ask it, ``then`` is the
    order to start on yes."""

    def __init__(self, question: str, detail: str, then: ResumeOrder) -> None:
        super().__init__(question)
        self.question = question
        self.detail = detail
        self.then = then


class NothingLeft(StartError):
    """Every unit of the run succeeded: a notice, not an error."""


def start_resumed(
    loaded: LoadedConfig, order: ResumeOrder, base: RunRequest | None = None
) -> LiveRun:
    """Plan and wire the run that carries on the one ``order`` names, as ``base`` asks for the
    rest, asking on failure as every dashboard run does. Raises ResumeQuestion, NothingLeft
    and StartError."""
    request = replace(base or RunRequest(), resume=order, policy=FailurePolicy.ASK)
    try:
        plan = request.plan(loaded)
        session = open_run(loaded, request, plan=plan)
    except UnsafeToRerun as refusal:
        raise ResumeQuestion(
            "Run these steps again?",
            f"They are marked idempotent = false, started in run {order.ref} and did not "
            f"finish, so they may have done their work already:\n{_listed(refusal.steps)}",
            replace(order, rerun_unsafe=True),
        ) from refusal
    except PlanChanged as refusal:
        raise ResumeQuestion(
            "Resume anyway?",
            f"The config or the plan changed since run {order.ref}, so resuming it could run "
            f"what was never planned:\n{_listed(refusal.changes)}",
            replace(order, allow_changed=True),
        ) from refusal
    except NothingToResume as nothing:
        raise NothingLeft(str(nothing)) from nothing
    except UnknownTaskError as error:
        raise StartError(f"run {order.ref} ran a task the config no longer has: {error}") from error
    except (ResumeRefused, RunRefused, SelectionError) as refusal:
        raise StartError(str(refusal)) from refusal
    return LiveRun(session, plan)


def _listed(items: tuple[str, ...]) -> str:
    lines = [f"  {item}" for item in items[:SHOWN]]
    if len(items) > SHOWN:
        lines.append(f"  … and {len(items) - SHOWN} more")
    return "\n".join(lines)
