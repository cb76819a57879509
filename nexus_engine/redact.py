"""Secrets never leave Nexus: every byte that is shown, stored or sent is masked first.

Ansible's ``no_log`` was broken again and again, each time on a new output surface (CVE-2024-0690,
CVE-2019-14864, …). So redaction is one small object that the runner applies *before* an event is
published: no face, journal or exporter ever sees the secret, and none has to remember to mask it.

Matching is one regex alternation with the longest secrets first, so at any position the longest
secret wins and overlapping or repeated secrets are all masked. Output arrives in chunks, and a
secret split across two chunks must be masked all the same: :class:`StreamRedactor` holds back
at most ``len(longest secret) - 1`` bytes that could still be the start of one. Streaming and
whole-input redaction give identical bytes: the stream only releases what no future byte can
change.

The mask must not be able to form a secret (a secret made only of ``*`` would re-appear in
``***``); secrets are values like passwords and tokens, so this is not a practical restriction.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _encode(secret: str) -> bytes:
    """The bytes a secret appears as in output. ``surrogateescape`` maps a value that came from
    ``os.environ`` with undecodable bytes back to exactly those bytes."""
    try:
        return secret.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return secret.encode("utf-8", "surrogatepass")


class Redactor:
    """Masks every occurrence of every secret, in text, in bytes and in chunked byte streams."""

    __slots__ = ("_bytes_re", "_longest", "_mask", "_mask_bytes", "_text_re")

    def __init__(self, secrets: Iterable[str], mask: str = "***") -> None:
        texts = sorted({s for s in secrets if s}, key=lambda s: (-len(s), s))
        blobs = sorted({_encode(s) for s in texts}, key=lambda b: (-len(b), b))
        self._mask = mask
        self._mask_bytes = _encode(mask)
        self._text_re = re.compile("|".join(map(re.escape, texts))) if texts else None
        self._bytes_re = re.compile(b"|".join(map(re.escape, blobs))) if blobs else None
        self._longest = len(blobs[0]) if blobs else 0

    @property
    def active(self) -> bool:
        """False for a redactor without secrets, which passes everything through untouched."""
        return self._bytes_re is not None

    def text(self, s: str) -> str:
        if self._text_re is None:
            return s
        return self._text_re.sub(lambda _: self._mask, s)

    def bytes_(self, b: bytes) -> bytes:
        if self._bytes_re is None:
            return b
        return self._bytes_re.sub(lambda _: self._mask_bytes, b)

    def stream(self) -> StreamRedactor:
        """A fresh redactor for one byte stream (one per stdout/stderr of each command)."""
        return StreamRedactor(self._bytes_re, self._mask_bytes, self._longest)


class StreamRedactor:
    """Redacts a byte stream fed in arbitrary chunks; ``flush()`` at end of stream."""

    __slots__ = ("_held", "_keep", "_mask", "_re")

    def __init__(self, pattern: re.Pattern[bytes] | None, mask: bytes, longest: int) -> None:
        self._re = pattern
        self._mask = mask
        self._keep = max(longest - 1, 0)
        self._held = b""

    @property
    def held(self) -> int:
        """How many bytes are held back waiting for the next chunk (at most longest - 1)."""
        return len(self._held)

    def feed(self, chunk: bytes) -> bytes:
        """What is safe to release now. A match is final once every secret could be compared
        in full from its start, i.e. when it starts at least ``longest`` bytes before the end;
        text before ``len(data) - (longest - 1)`` with no match starting in it is final too."""
        if self._re is None:
            return chunk
        data = self._held + chunk if self._held else chunk
        settled = len(data) - self._keep  # positions before this have all secrets' lengths
        out: list[bytes] = []
        pos = 0
        while pos < settled:
            match = self._re.search(data, pos)
            if match is None or match.start() >= settled:
                break
            out += (data[pos : match.start()], self._mask)
            pos = match.end()
        release = max(pos, settled)
        out.append(data[pos:release])
        # ``release`` is always a position a whole-input scan would reach, so scanning resumes
        # there with the next chunk exactly as it would have on the whole input.
        self._held = data[release:]
        return b"".join(out)

    def flush(self) -> bytes:
        """The held-back tail, redacted, at end of stream."""
        if self._re is None or not self._held:
            return b""
        tail, self._held = self._held, b""
        return self._re.sub(lambda _: self._mask, tail)
