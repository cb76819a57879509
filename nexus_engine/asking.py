"""Asking the operator for a secret from inside a run, whichever face puts the question.

Hosts connect concurrently, so several may want a password at once. Whatever the face (a
prompt on the terminal, a dialog on the dashboard), the questions are put one at a time (two
at once would garble a terminal and stack dialogs on a screen) and an answer is remembered for
the same question, so twenty connections to one host ask once. An empty answer, or none at all
(Escape, end of input), counts as no answer: the connection that asked then fails as
``auth_failed``, and the same question is not put again.

Answers are kept in memory only, for the run that asked: never in an event, a log or the
journal. A face knows nothing of this: it only supplies how to put *one* question.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

#: How a face puts one question to the operator: the prompt in, the answer out (None: none).
Put = Callable[[str], Awaitable[str | None]]


class Asker:
    """An :data:`~nexus_engine.transports.base.Ask` made from a face's ``put``: one question
    at a time, each asked once. ``on_question`` is told when a question opens (``True``) and
    closes (``False``), so a face can make room for it (the progress line gives way)."""

    def __init__(self, put: Put, on_question: Callable[[bool], None] | None = None) -> None:
        self._put = put
        self._on_question = on_question or (lambda _open: None)
        self._lock = asyncio.Lock()
        self._answers: dict[str, str | None] = {}

    async def __call__(self, prompt: str) -> str | None:
        async with self._lock:
            if prompt not in self._answers:
                self._on_question(True)
                try:
                    answer = await self._put(prompt)
                finally:
                    self._on_question(False)
                self._answers[prompt] = answer or None
            return self._answers[prompt]

    def forget(self) -> None:
        """Forget every answer: the next connection that needs one asks again. For when the
        operator retries (an answer may have been mistyped); connections already open are not
        affected, so they do not ask."""
        self._answers.clear()
