"""The Nexus dashboard app: owns the run (its event source, model and bridge) and one worker.

One exclusive worker pumps the engine's events on the app's own event loop (no threads) into
the bridge, which posts messages to the dashboard screen; a timer flushes batched output every
~50 ms, or as seldom as the screen needs to keep up (``pacing``). The app itself never touches
widgets; its screens do, in their message handlers.

The app also owns how the run asks the operator for a secret (``ask``: a dialog, one question
at a time) and, when the run was asked for with ``--preflight``, the check before it starts
(``check``: the preflight screen comes first, and the run starts only if every host passes).

Opened without a run to start, it looks for the config's last run (``past``, read in a thread:
a journal can be big); if that run failed or died, the screen shows how it ended until a run
starts, and offers to resume it (``resume`` starts the run that carries it on).
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING

from textual import work
from textual.app import App
from textual.timer import Timer

from nexus_engine import events as ev
from nexus_engine.fold import Rules
from nexus_engine.graph import UnknownTaskError
from nexus_engine.plan import Plan, UnitKey
from nexus_engine.resume.prepare import ResumeOrder
from nexus_engine.status import EXIT_HANGUP, EXIT_USAGE, HANGUP, RunStatus
from nexus_tui import pacing
from nexus_tui.asking import DashboardAsk
from nexus_tui.bindings import unknown_ids
from nexus_tui.bridge import Bridge
from nexus_tui.commands import NexusCommands
from nexus_tui.grouping import Folding
from nexus_tui.messages import RunEnded
from nexus_tui.model import RunModel
from nexus_tui.past import PastRun
from nexus_tui.resuming import NothingLeft, ResumeQuestion
from nexus_tui.screens.confirm import ConfirmScreen
from nexus_tui.screens.dashboard import DashboardScreen
from nexus_tui.source import Checker, EventSource, StartError
from nexus_tui.terminal import HangupSafeDriver

if TYPE_CHECKING:
    from nexus_tui.screens.preflight import PreflightScreen

Starter = Callable[[Sequence[str]], EventSource]
#: Plans and wires the run that resumes a recorded one. Raises StartError.
Resumer = Callable[[ResumeOrder], EventSource]
#: The config's last run if it can be resumed (blocking: it reads the journal).
Finder = Callable[[], PastRun | None]
#: Seconds the pump works through queued events before it lets the rest of the app run (keys,
#: frames), however busy the engine is: by time, not by count, since an event that ends a unit
#: costs far more than a line of output.
SLICE = 0.01


class NexusApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "nexus"
    COMMANDS = App.COMMANDS | {NexusCommands}

    def __init__(
        self,
        view: Plan,
        start: Starter,
        *,
        config_name: str = "nexus.toml",
        autostart: Sequence[str] | None = None,
        keymap: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
        tick: float = 1.0,
        ask: DashboardAsk | None = None,
        check: Checker | None = None,
        past: Finder | None = None,
        resume: Resumer | None = None,
        fold_ignore: Sequence[str] = (),
    ) -> None:
        """``view`` is the plan of every task (the idle DAG); ``start`` plans and wires a run
        of the chosen tasks; ``clock`` gives wall-clock seconds (frozen in snapshot tests).
        ``ask``: the dialog the run's connections ask through (``start`` must wire the same
        one into the run); ``check``: preflight, to pass before a run starts (None: none).
        ``past`` finds the last run to offer, ``resume`` starts the run that resumes it.
        ``fold_ignore``: the settings' regexes the grouped view's folding ignores."""
        super().__init__(driver_class=HangupSafeDriver)
        self.model = RunModel(view)
        self._view = view
        self.config_name = config_name
        self.keymap = dict(keymap or {})
        self.now = clock
        self.tick = tick
        self.source: EventSource | None = None
        self.bridge: Bridge | None = None
        self.ended: RunEnded | None = None
        self.quitting = False
        self.ask = ask or DashboardAsk()
        #: Preflight is checking hosts, before the run; ``refused``: it failed (the exit code).
        self.checking = False
        self.refused: int | None = None
        self._check = check
        self._start = start
        self._autostart = autostart
        #: The last run, shown until a run starts: the run the resume key carries on.
        self.past: PastRun | None = None
        self.looked_back = past is None  # the last run has been looked for (if it is to be)
        self._find_past = past
        self._resume = resume
        self._flusher: Timer | None = None
        #: Seconds the next flush of the run's changes waits (``pacing``).
        self.flush_wait = pacing.LEAST
        self._fold_ignore = tuple(fold_ignore)
        #: The run's output folded per task, for the grouped view; None until a run starts.
        self.folding: Folding | None = None
        self._showing: list[UnitKey] = []
        self.dashboard = DashboardScreen()

    def get_default_screen(self) -> DashboardScreen:
        return self.dashboard

    def on_mount(self) -> None:
        self.ask.attach(self)
        self.set_keymap(self.keymap)
        if unknown := unknown_ids(self.keymap):
            self.notify(
                f"[keymap] names no such key binding: {', '.join(unknown)}",
                severity="warning",
                markup=False,
            )
        if self._autostart is not None:
            self.call_after_refresh(self.start_run, self._autostart)
        elif self._find_past is not None:  # once the screen is up: it shows what is found
            self.call_after_refresh(self.look_back, self._find_past)

    def on_unmount(self) -> None:
        self.ask.detach()  # nobody can see a question any more: none waits for an answer

    @property
    def running(self) -> bool:
        """A run has started and has not yet ended (and been recorded)."""
        return self.source is not None and self.ended is None

    def history(self, key: UnitKey) -> list[str]:
        return self.bridge.lines(key) if self.bridge else []

    def showing(self, keys: Sequence[UnitKey]) -> None:
        """The screen shows these hosts' logs: only their output is decoded as it comes."""
        self._showing = list(keys)
        if self.bridge is not None:
            self.bridge.show(keys)

    # -- the run --

    def start_run(self, tasks: Sequence[str]) -> bool:
        """Start a run of ``tasks``; one per dashboard. Says why on screen when it cannot.
        With preflight, the preflight screen comes first and starts the run if all pass."""
        if self.source is not None or self.checking or self.refused is not None:
            return False
        if self._check is not None:
            from nexus_tui.screens.preflight import PreflightScreen  # noqa: PLC0415 - asyncssh

            self.checking = True
            self.push_screen(PreflightScreen(tasks, self._check))
            return True
        return self._launch(tasks)

    def _launch(self, tasks: Sequence[str]) -> bool:
        try:
            source = self._start(tasks)
        except (StartError, UnknownTaskError) as error:
            message = str(error) if isinstance(error, StartError) else f"no task {error}"
            self.notify(message, title="Cannot run", severity="error", markup=False)
            return False
        return self._started(source)

    def _started(self, source: EventSource) -> bool:
        if self.past is not None:  # the last run's state gives way to this run's
            self.past = None
            self.model = RunModel(self._view)
        self.source = source
        self.model.begin(source.plan)
        self.folding = Folding(Rules.for_plan(self._fold_ignore, source.plan))
        self.bridge = Bridge(self.model, self.dashboard.post_message, self.folding.take)
        self.bridge.show(self._showing)
        self.dashboard.run_began()
        # The footer rebuilds now (Enter and Space change meaning); that takes several turns
        # of the event loop, which a flood of output would stretch to seconds. So the engine
        # starts once the screen has refreshed.
        self.call_after_refresh(self._begin, source, self.bridge)
        return True

    def _begin(self, source: EventSource, bridge: Bridge) -> None:
        # Everything alive now (Textual, the screen, the plan: most of the process's objects)
        # lives as long as the app: kept out of the garbage collector's full passes, which
        # would otherwise walk it all and stop the screen for 100 ms and more, again and again.
        gc.freeze()
        self._flush_run(bridge)
        self.pump(source, bridge)

    def _flush_run(self, bridge: Bridge) -> None:
        """Post what the run changed; the next flush comes once the screen has shown it, and
        waits as long again (``pacing``)."""
        self._flusher = None
        if self.ended is not None:
            return
        flushed_at = time.monotonic()
        bridge.flush()
        self.dashboard.call_after_refresh(self._run_flushed, bridge, flushed_at)

    def _run_flushed(self, bridge: Bridge, flushed_at: float) -> None:
        self.flush_wait = pacing.wait_after(time.monotonic() - flushed_at)
        if self.ended is None:
            self._flusher = self.set_timer(self.flush_wait, partial(self._flush_run, bridge))

    @work(exclusive=True, group="engine")
    async def pump(self, source: EventSource, bridge: Bridge) -> None:
        finished: ev.RunFinished | None = None
        until = time.monotonic() + SLICE
        async for event in source.events():
            bridge.accept(event)
            if isinstance(event, ev.RunFinished):
                finished = event
            if time.monotonic() >= until:
                await asyncio.sleep(0)  # a queue with events never waits: let keys through
                until = time.monotonic() + SLICE
        if finished is None:  # a replay that ends early: nothing to summarise
            return
        code, problems = await source.finish()
        if self._flusher is not None:
            self._flusher.stop()
        bridge.flush()
        self.ended = RunEnded(finished, code, self.model.totals.journal, problems)
        self.dashboard.post_message(self.ended)

    # -- the last run: shown until a run starts, and resumed on a key --

    @work(exclusive=True, group="past")
    async def look_back(self, find: Finder) -> None:
        past = await asyncio.to_thread(find)
        self.looked_back = True
        if past is not None and self.source is None and not self.checking:
            self.past = past
            self.model = past.model
            self.dashboard.show_past(past)

    def resume_run(self, order: ResumeOrder | None = None) -> bool:
        """Start the run that resumes the last one (``order``: as the operator has allowed
        so far). Asks first when the engine wants a yes; says why on screen when it cannot."""
        if self.past is None or self._resume is None or self.source is not None:
            return False
        try:
            source = self._resume(order or ResumeOrder(self.past.run_id))
        except ResumeQuestion as question:
            then = question.then  # the name ``question`` is gone once the handler ends

            def answered(yes: bool | None) -> None:
                if yes:
                    self.resume_run(then)

            self.push_screen(ConfirmScreen(question.question, question.detail), answered)
            return False
        except NothingLeft as nothing:
            self.notify(str(nothing), title="Nothing to resume", markup=False)
            return False
        except StartError as error:
            self.notify(str(error), title="Cannot resume", severity="error", markup=False)
            return False
        return self._started(source)

    # -- preflight: what the preflight screen found --

    def preflight_passed(self, screen: PreflightScreen, said: str) -> None:
        """Every host passed: say so, and start the run at once (as the headless run does)."""
        self.checking = False
        self.notify(f"{said}; starting the run", title="Preflight passed", markup=False)
        if self.screen is screen:
            self.pop_screen()
        if not self._launch(screen.tasks):  # said why on screen; quitting says it too
            self.refused = EXIT_USAGE

    def preflight_failed(self, exit_code: int) -> None:
        """Nothing starts; quitting now exits with ``exit_code``."""
        self.checking = False
        self.refused = exit_code

    def preflight_again(self) -> None:
        """The operator checks again: what they typed is asked for again (it may have been
        wrong)."""
        self.ask.forget()
        self.checking = True
        self.refused = None

    # -- decisions: passed to the engine, never shown before the engine acts on them --

    def decide(self, decision: str, key: UnitKey) -> bool:
        if self.source is None:
            return False
        if decision == "retry":
            self.ask.forget()  # a password that was mistyped is asked for again
            return self.source.retry(key)
        return self.source.skip(key)

    def abort(self, stopped_by: str | None = None) -> None:
        if self.source is not None and self.running:
            self.source.abort(stopped_by)

    def request_quit(self) -> None:
        """Quit: at once when nothing runs; else after confirmation, by aborting and exiting
        once the run has ended and been recorded (exit code as the headless run's)."""
        if not self.running:
            self.exit(return_code=self.idle_exit_code())
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self.quitting = True
                self.abort()

        detail = "Everything running is cancelled and recorded in the journal."
        self.push_screen(ConfirmScreen("Quit and cancel the run?", detail), answered)

    def stop(self, stopped_by: str | None = None) -> None:
        """Quit without asking (a signal): the run is aborted, recorded, then the app exits
        with the code the headless run would have had (129 for a hangup, 130 otherwise)."""
        if self.running:
            self.quitting = True
            self.abort(stopped_by)
        else:
            self.exit(return_code=self.idle_exit_code(stopped_by))

    def idle_exit_code(self, stopped_by: str | None = None) -> int:
        """The exit code when no run is going: the ended run's; preflight's refusal (1); an
        interrupted preflight's (130, or 129 for a hangup), since the run asked for never
        happened; else 0 (nothing was asked to run)."""
        if self.ended is not None:
            return self.ended.exit_code
        if self.refused is not None:
            return self.refused
        if self.checking:
            return EXIT_HANGUP if stopped_by == HANGUP else RunStatus.INTERRUPTED.exit_code
        return 0

    async def action_quit(self) -> None:
        self.request_quit()

    async def close_run(self) -> None:
        """After the app has exited: a run still going is aborted, drained and recorded."""
        self.ask.detach()
        if self.source is not None:
            await self.source.close()
