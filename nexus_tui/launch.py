"""Opening the dashboard from the ``nexus`` command: the one entry point the CLI imports, lazily.

Problems the operator can fix before anything is drawn (an unknown task, a host selection that
names nothing, a journal that cannot be written) are reported on stderr as the headless path
does, so the screen never opens only to fail. With ``--preflight`` only the plan is made before
the screen opens: the run is opened (and recorded) once every host has passed.

Plain ``nexus`` (no run to start) also looks for the config's last run: if it failed or died,
the screen shows it and resumes it on a key, with the same request a run started there has.

The request from the command line carries no ``ask`` (the terminal is the dashboard's now):
the dashboard puts its own in, a dialog, so a password is typed into the screen.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from functools import partial

from nexus_engine.config import LoadedConfig
from nexus_engine.plan import build_plan
from nexus_engine.selection import SelectionError
from nexus_engine.session import RunRequest
from nexus_engine.status import EXIT_USAGE
from nexus_tui.app import NexusApp, Starter
from nexus_tui.asking import DashboardAsk
from nexus_tui.past import last_run
from nexus_tui.resuming import start_resumed
from nexus_tui.source import Checker, EventSource, StartError, check_live, start_live

STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def open_dashboard(loaded: LoadedConfig, request: RunRequest | None = None) -> int:
    """The dashboard on ``loaded``; with ``request`` (``nexus run …`` on a terminal) its run
    starts at once, with every option the headless run would have used. Returns the exit code
    the headless run would have had (0 if none ran). Raises UnknownTaskError for a task the
    config does not declare."""
    ask = DashboardAsk()
    base = replace(request or RunRequest(), ask=ask)
    start: Starter = partial(start_live, loaded, base=base)
    check: Checker | None = partial(check_live, loaded, base=base) if base.preflight else None
    view = build_plan(loaded)
    if request is not None:
        try:
            if check is None:
                start = _already(start(request.targets))
            else:
                _plan(loaded, base.with_targets(request.targets))
        except StartError as error:
            print(f"nexus: {error}", file=sys.stderr)
            return EXIT_USAGE
    app = NexusApp(
        view,
        start,
        config_name=str(loaded.path),
        autostart=None if request is None else tuple(request.targets),
        keymap=loaded.config.keymap,
        ask=ask,
        check=check,
        past=partial(last_run, view, loaded.path) if request is None else None,
        resume=partial(start_resumed, loaded, base=base),
        fold_ignore=loaded.config.settings.fold_ignore,
    )
    return asyncio.run(run_app(app))


def _plan(loaded: LoadedConfig, request: RunRequest) -> None:
    """Only the plan, to report a selection that names nothing before the screen opens."""
    try:
        request.plan(loaded)
    except SelectionError as error:
        raise StartError(str(error)) from error


def _already(source: EventSource) -> Starter:
    def start(tasks: Sequence[str]) -> EventSource:
        return source

    return start


async def run_app(app: NexusApp, *, headless: bool = False) -> int:
    """Run the app; whatever way it ends, a run still going is aborted and recorded.

    SIGTERM and SIGHUP (the terminal went away) stop the run the way a confirmed quit does,
    without asking: commands run in their own process groups, so dying on the spot would
    leave them running and the journal unfinished."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, app.stop, signum.name)
    try:
        await app.run_async(headless=headless)
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)
        await app.close_run()
    return app.return_code or 0
