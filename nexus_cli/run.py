"""``nexus run``: load, plan, then either print the plan or run it with the headless faces."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import functools
import getpass
import json
import sys
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import replace
from typing import Any, TextIO

from nexus_cli.prompt import terminal_ask
from nexus_engine import events as ev
from nexus_engine import hostrange
from nexus_engine.config import LoadedConfig
from nexus_engine.config.models import LOCAL
from nexus_engine.connections import Overrides, login_for, remote_hosts
from nexus_engine.fold import Rules
from nexus_engine.ops.execute import Mode
from nexus_engine.plan import HostReach, Plan, TaskPlan, describe
from nexus_engine.redact import Redactor
from nexus_engine.render import json as json_render
from nexus_engine.render.terminal import detach_stdout, wants_colour
from nexus_engine.render.text import TextRenderer
from nexus_engine.resume.prepare import NothingToResume, ResumeOrder, ResumeRefused
from nexus_engine.scheduler import FailurePolicy
from nexus_engine.selection import HostSelection
from nexus_engine.session import RunRefused, RunRequest, check_hosts, open_run
from nexus_engine.status import EXIT_USAGE, HANGUP, RunStatus
from nexus_engine.steps import StepPlan
from nexus_engine.transports.base import Ask


def run_command(loaded: LoadedConfig, args: argparse.Namespace) -> int:
    request = request_of(args)
    if request.resume is not None and args.tasks:
        raise ResumeRefused("--resume runs the tasks of the run it resumes: name no task")
    if args.allow_changed and request.resume is None:
        raise ResumeRefused("--allow-changed goes with --resume")
    try:
        plan = request.plan(loaded)
    except NothingToResume as nothing:
        print(f"nexus: {nothing}", file=sys.stderr)
        return 0
    if args.dry_run:  # runs nothing and connects nowhere, --preflight or not
        return print_plan(plan, args.format, sys.stdout, loaded, request.overrides)
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
        ask_sudo_password=args.ask_sudo_password,
        mode=Mode(
            checking=bool(getattr(args, "check", False)), diff=bool(getattr(args, "diff", False))
        ),
        retry_unsafe=bool(getattr(args, "yes", False)),
        resume=_resume_order(args),
    )


def _resume_order(args: argparse.Namespace) -> ResumeOrder | None:
    ref = getattr(args, "resume", None)
    if ref is None:
        return None
    return ResumeOrder(
        ref, allow_changed=args.allow_changed, rerun_unsafe=bool(getattr(args, "yes", False))
    )


async def execute(
    loaded: LoadedConfig, request: RunRequest, plan: Plan, args: argparse.Namespace
) -> int:
    consume, renderer = _face(
        args, sys.stdout, sys.stderr, Rules.for_plan(loaded.config.settings.fold_ignore, plan)
    )
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
    from nexus_engine.render.preflight import summary  # noqa: PLC0415

    reports = await check_hosts(loaded, plan, request)
    if not all_ok(reports):
        face.print_reports(reports, sys.stderr)
        print("nexus: preflight failed, so not starting the run", file=sys.stderr)
        return False
    if args.format == "text" and not args.quiet:
        print(summary(reports), file=sys.stderr)
    return True


Consume = Callable[[AsyncIterator[ev.Event]], Coroutine[Any, Any, None]]


def _face(
    args: argparse.Namespace, out: TextIO, err: TextIO, folding: Rules | None = None
) -> tuple[Consume, TextRenderer | None]:
    """How the events are shown, and the text renderer when it is text (for people, who may be
    asked for a password; JSON consumers never are). ``folding``: what output folding
    normalises beyond timestamps."""
    if args.format == "json":
        return (lambda events: json_render.write_summary(events, out, folding)), None
    if args.format == "jsonl":
        return (lambda events: json_render.write_lines(events, out)), None
    colour = wants_colour(out, args.plain)
    progress = not args.plain and not args.quiet and err.isatty() and colour
    verbosity = -1 if args.quiet else args.verbose
    renderer = TextRenderer(
        out, err, colour=colour, progress=progress, verbosity=verbosity, folding=folding
    )
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


def print_plan(
    plan: Plan,
    fmt: str,
    out: TextIO,
    loaded: LoadedConfig | None = None,
    overrides: Overrides | None = None,
) -> int:
    """The plan as text or one JSON document. Given the config, each host says how it is
    reached (read from the files, ``~/.ssh/config`` included; nothing is connected to) and
    each step as whom, where and with which variables (by name) it runs."""
    reach = hosts_reach(plan, loaded, overrides) if loaded is not None else None
    redact = Redactor(loaded.secrets).text if loaded is not None else None
    if fmt == "text":
        for line in describe(plan, _few, reach=reach, redact=redact):
            print(line, file=out)
        return 0
    document = {
        "phases": [list(phase) for phase in plan.phases],
        "parallel_limit": plan.parallel_limit,
        "tasks": [_task_document(plan, task, reach, redact) for task in plan.tasks],
        "units": len(plan.units),
    }
    if fmt == "jsonl":
        out.write(json.dumps(document, separators=(",", ":")))
    else:
        json.dump(document, out, indent=2)
    out.write("\n")
    return 0


#: A task's line names this many hosts (or ranges of them) at most; the hosts block under it
#: lists them all.
FEW_HOSTS = 10


def _few(hosts: Iterable[str]) -> str:
    """The hosts folded into ranges (``web[001-480] (480 hosts)``), the first few of many."""
    names = list(hosts)
    folded = hostrange.fold(names)
    if len(folded) <= FEW_HOSTS:
        shown = ", ".join(folded)
        return shown if len(folded) == len(names) else f"{shown} ({len(names)} hosts)"
    return f"{', '.join(folded[:3])}, … ({len(names)} hosts)"


def hosts_reach(
    plan: Plan, loaded: LoadedConfig, overrides: Overrides | None = None
) -> dict[str, HostReach]:
    """How each host of the plan is reached, as a connection would be: the host's table and
    ``-u``, then ``~/.ssh/config`` (HostName, User, Port, ProxyJump). SSH modules are loaded
    only for a plan with remote hosts."""
    reach: dict[str, HostReach] = {}
    hosts = remote_hosts(plan)
    if hosts:
        from nexus_engine.transports.ssh.connect import route  # noqa: PLC0415

        for name, host in hosts.items():
            way = route(login_for(host, loaded.config, overrides or Overrides()))
            jump = way.jump or ("a ProxyCommand" if way.proxy_command else None)
            # nexus.toml has no jump of its own: one on the way is ssh_config's
            where = "~/.ssh/config" if jump else None
            reach[name] = HostReach(way.user, way.hostname, way.port, jump, where)
    if any(unit.host is None for unit in plan.units):
        reach[LOCAL] = HostReach(getpass.getuser())
    return reach


def _task_document(
    plan: Plan,
    task: TaskPlan,
    reach: dict[str, HostReach] | None,
    redact: Callable[[str], str] | None,
) -> dict[str, Any]:
    steps = _steps_of(plan, task.name)
    document: dict[str, Any] = {
        "name": task.name,
        "deps": list(task.deps),
        "hosts": list(task.hosts),
        "strategy": task.strategy,
        "batch": task.batch_size,
        "max_failures": task.max_failures,
        "steps": [step.shown for step in steps],
        # what each step runs as, where, with which variables: the same on every host
        "step_details": [
            {
                "command": step.shown,
                "timeout": step.timeout,
                "retries": step.retries,
                "sudo": step.sudo or step.user is not None,
                "run_as": step.user or ("root" if step.sudo else None),  # None: the login user
                "cwd": step.cwd,  # None: the login's home (this machine: the current directory)
                "env": [name for name, _ in step.env],
                "secret_env": [
                    name for name, value in step.env if redact and redact(value) != value
                ],
            }
            for step in steps
        ],
    }
    if reach is not None:
        document["host_details"] = {
            host: _reach_document(reach[host]) for host in task.hosts if host in reach
        }
    return document


def _reach_document(how: HostReach) -> dict[str, Any]:
    return {
        "local": how.hostname is None,
        "login": how.login,
        "user": how.user,
        "hostname": how.hostname,
        "port": how.port,
        "jump": how.jump,
        "jump_from": how.jump_from,
    }


def _steps_of(plan: Plan, task: str) -> tuple[StepPlan, ...]:
    unit = next((u for u in plan.units if u.key.task == task), None)
    return unit.steps if unit else ()
