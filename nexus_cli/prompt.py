"""Asking the operator for a password or passphrase at the terminal, from inside a run.

Questions are put one at a time and each once (:class:`nexus_engine.asking.Asker`, which the
dashboard's dialog shares), each on a line of its own (the progress line is cleared and held
back meanwhile). The time a question waits for its answer does not count against the connect
timeout. Only a person at a terminal is asked: headless runs and CI get no ``ask`` at all and
fail fast instead of waiting for input.

The prompt is read on a daemon thread rather than the event loop's executor: a Ctrl-C at the
prompt must end the run, and the executor's worker would keep the interpreter waiting for an
answer nobody will type. The terminal's echo, which getpass turns off while reading, is turned
back on when the question is abandoned.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import getpass
import sys
import termios
import threading
from collections.abc import Callable
from typing import Any

from nexus_engine.asking import Asker
from nexus_engine.transports.base import Ask

Reader = Callable[[str], str]


class TerminalAsk(Asker):
    """An :data:`~nexus_engine.transports.base.Ask` that prompts with ``read`` (getpass by
    default). An empty answer or end of input counts as no answer."""

    def __init__(
        self, read: Reader = getpass.getpass, on_question: Callable[[bool], None] | None = None
    ) -> None:
        super().__init__(functools.partial(_on_thread, read), on_question)


def terminal_ask(on_question: Callable[[bool], None] | None = None) -> Ask | None:
    """A prompt when a person is at the terminal (stdin is one), else None: never ask CI.
    ``on_question`` is told when a question opens and closes (the progress line gives way)."""
    return TerminalAsk(on_question=on_question) if sys.stdin.isatty() else None


async def _on_thread(read: Reader, prompt: str) -> str | None:
    loop = asyncio.get_running_loop()
    answer: asyncio.Future[str | None] = loop.create_future()

    def settle(value: str | None) -> None:
        if not answer.done():
            answer.set_result(value)

    def work() -> None:
        try:
            value: str | None = read(prompt)
        except (EOFError, OSError):
            value = None
        with contextlib.suppress(RuntimeError):  # the loop closed: nobody waits any more
            loop.call_soon_threadsafe(settle, value)

    saved = _tty_state()
    threading.Thread(target=work, name="nexus-ask", daemon=True).start()
    try:
        return await answer
    except asyncio.CancelledError:
        _restore_tty(saved)
        raise


def _tty_state() -> list[Any] | None:
    """The terminal's settings before getpass changes them; None without a terminal."""
    try:
        return termios.tcgetattr(sys.stdin.fileno())
    except (termios.error, OSError, ValueError):  # not a terminal, or no stdin at all
        return None


def _restore_tty(saved: list[Any] | None) -> None:
    if saved is not None:
        with contextlib.suppress(termios.error, OSError, ValueError):
            termios.tcsetattr(sys.stdin.fileno(), termios.TCSADRAIN, saved)
