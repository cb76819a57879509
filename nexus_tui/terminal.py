"""Textual's Linux driver, for a terminal that can go away under the dashboard.

When the terminal closes (its window, the SSH session it was in, a tmux server killed), writes
to it fail with EIO. Textual's writer thread dies at the first one, and from then on a screen
update blocks the event loop on the writer's full queue: no signal handler runs any more, and
the dashboard lives on with its run never stopped (seen: alive an hour later, deaf to SIGTERM).
Here a write to a terminal that went away is dropped instead, a read that fails ends the
input thread quietly, and the app is told of the hangup: it stops the run as SIGHUP does (which
only the session leader gets from the kernel; a shell passes it on to its jobs, but not every
program running a dashboard does), and exits once everything is recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import Callable
from typing import Any, TextIO, cast

from textual.app import App
from textual.drivers.linux_driver import LinuxDriver


class _Outlet:
    """The terminal's output file, which stops taking writes once the terminal is gone and
    calls ``hung_up`` (from the writer's thread) the first time it finds out."""

    def __init__(self, file: TextIO, hung_up: Callable[[], None]) -> None:
        self._file = file
        self._hung_up = hung_up
        self.gone = False

    def write(self, text: str) -> int:
        if not self.gone:
            try:
                self._file.write(text)
            except OSError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.gone:
            try:
                self._file.flush()
            except OSError:
                self._gone()

    def _gone(self) -> None:
        self.gone = True
        self._hung_up()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)


class HangupSafeDriver(LinuxDriver):
    """:class:`LinuxDriver` whose output and input survive the terminal going away."""

    def __init__(
        self,
        app: App[Any],
        *,
        debug: bool = False,
        mouse: bool = True,
        size: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(app, debug=debug, mouse=mouse, size=size)
        self._loop = asyncio.get_running_loop()
        if self._file is not None:  # stands in for the file: the driver only writes and flushes
            self._file = cast(io.TextIOWrapper, _Outlet(self._file, self._hung_up))

    def run_input_thread(self) -> None:
        try:
            super().run_input_thread()
        except OSError:
            self._hung_up()  # the terminal went away: nothing more to read

    def _hung_up(self) -> None:
        """From a driver thread: stop as on SIGHUP, on the app's own loop."""
        stop = getattr(self._app, "stop", None)
        if stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: all is over
                self._loop.call_soon_threadsafe(stop, "SIGHUP")
