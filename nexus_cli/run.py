"""``nexus run``: load, plan, then either print the plan or run it with the headless faces."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import replace
from typing import Any, TextIO

from nexus_cli.prompt import terminal_ask
from nexus_engine import events as ev
from nexus_engine.config import LoadedConfig
from nexus_engine.connections import Overrides
from nexus_engine.plan import Plan, describe
from nexus_engine.render import json as json_render
from nexus_engine.render.terminal import detach_stdout, wants_colour
from nexus_engine.render.text import TextRenderer
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.selection import HostSelection
from nexus_engine.session import RunRefused, RunRequest, check_hosts, open_run
from nexus_engine.status import EXIT_USAGE, HANGUP, RunStatus
from nexus_engine.transports.base import Ask


def run_command(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    request = request_of(args)
    plan = request.plan(loaded)
    if args.dry_run:  # runs nothing and connects nowhere, --preflight or not
        return print_plan(plan, args.format, sys.stdout)
    return asyncio.run(execute(loaded, request, plan, args))


def request_of(args: argparse.Namespace, ask: Ask | None = None) -> RunRequest:
    """What the command line asks for, as the engine's :class:`RunRequest`: the same request
    opens the dashboard or runs headless. Shared by ``run`` and ``preflight``, so preflight
    checks exactly the hosts the same flags would run on."""
    return RunRequest(
        targets=tuple(args.tasks),
        selection=HostSelection.from_flags(args.hosts, args.exclude),
        overrides=Overrides(user=args.user, identity=args.identity),
        policy=FailurePolicy.CONTINUE if getattr(args, "continue_on_error", False) else None,
        parallel_limit=getattr(args, "parallel", None),
        preflight=bool(getattr(args, "preflight", False)),
        ask=ask,
    )


async def execute(
    loaded: LoadedConfig, request: RunRequest, plan: Plan, args: argparse.Namespace
) -> int:
    consume, renderer = _face(args, sys.stdout, sys.stderr)
    # A person at a terminal is asked for passwords; a pipe or CI never waits for one.
    request = replace(request, ask=terminal_ask(renderer.question) if renderer else None)
    if request.preflight and not await _preflight_passes(loaded, request, plan, args):
        return RunStatus.FAILED.exit_code
    try:
        session = open_run(loaded, request, plan=plan)
    except RunRefused as refusal:
        print(f"nexus: {refusal}", file=sys.stderr)
        return EXIT_USAGE
    face = _keep_draining(
        session.runner.bus.subscribe(),
        consume,
        on_hangup=functools.partial(session.runner.abort, HANGUP),
    )
    showing = asyncio.create_task(face)
    finished = await session.run()
    await showing
    with contextlib.suppress(OSError):  # a terminal gone (SIGHUP) takes nothing more
        for problem in session.journal_errors:
            print(f"nexus: {problem}", file=sys.stderr)
        if args.format == "text" and not args.quiet:
            print(f"journal: {session.run_dir}", file=sys.stderr)
    return session.exit_code(finished)


async def _preflight_passes(
    loaded: LoadedConfig, request: RunRequest, plan: Plan, args: argparse.Namespace
) -> bool:
    """Check every host first; on a failure print the table to stderr (stdout may be a JSON
    consumer's) and start nothing: no run is recorded for a run that never began. Its
    connections are closed before the run opens its own."""
    from nexus_cli import preflight as face  # noqa: PLC0415
    from nexus_engine.preflight import all_ok  # noqa: PLC0415 - only with --preflight

    reports = await check_hosts(loaded, plan, request)
    if not all_ok(reports):
        face.print_reports(reports, sys.stderr)
        print("nexus: preflight failed, so not starting the run", file=sys.stderr)
        return False
    if args.format == "text" and not args.quiet:
        said = face.summary(reports) if reports else f"preflight: {face.NOTHING_TO_CHECK}"
        print(said, file=sys.stderr)
    return True


Consume = Callable[[AsyncIterator[ev.Event]], Coroutine[Any, Any, None]]


def _face(
    args: argparse.Namespace, out: TextIO, err: TextIO
) -> tuple[Consume, TextRenderer | None]:
    """How the events are shown, and the text renderer when it is text (for people, who may be
    asked for a password; JSON consumers never are)."""
    if args.format == "json":
        return (lambda events: json_render.write_summary(events, out)), None
    if args.format == "jsonl":
        return (lambda events: json_render.write_lines(events, out)), None
    colour = wants_colour(out, args.plain)
    progress = not args.plain and not args.quiet and err.isatty() and colour
    verbosity = -1 if args.quiet else args.verbose
    renderer = TextRenderer(out, err, colour=colour, progress=progress, verbosity=verbosity)
    return renderer.consume, renderer


async def _keep_draining(
    events: AsyncIterator[ev.Event], consume: Consume, on_hangup: Callable[[], None]
) -> None:
    """A face whose reader went away (``nexus run | head``) stops printing, but its events are
    still drained: a subscriber that stops reading would stall the run through back-pressure,
    and the run itself goes on, the journal keeping everything. A terminal that went away
    (EIO) is a hangup even when no SIGHUP came with it: the run stops as on SIGHUP."""
    try:
        await consume(events)
    except OSError as error:
        detach_stdout()
        if error.errno == errno.EIO:
            on_hangup()
        async for _ in events:
            pass


def print_plan(plan: Plan, fmt: str, out: TextIO) -> int:
    if fmt == "text":
        for line in describe(plan):
            print(line, file=out)
        return 0
    document = {
        "phases": [list(phase) for phase in plan.phases],
        "parallel_limit": plan.parallel_limit,
        "tasks": [
            {
                "name": task.name,
                "deps": list(task.deps),
                "hosts": list(task.hosts),
                "strategy": task.strategy,
                "batch": task.batch_size,
                "max_failures": task.max_failures,
                "steps": [step.shown for step in _steps_of(plan, task.name)],
            }
            for task in plan.tasks
        ],
        "units": len(plan.units),
    }
    json.dump(document, out, indent=2)
    out.write("\n")
    return 0


def _steps_of(plan: Plan, task: str) -> tuple[Any, ...]:
    unit = next((u for u in plan.units if u.key.task == task), None)
    return unit.steps if unit else ()
