"""A file's bytes as ``ensure`` sends them: inline (``content``, a rendered template, a file
edited by ``line``/``block``) or streamed from a local ``source`` in bounded chunks.

The digest is known before anything connects, so an unchanged file is recognised from the
host's ``sha256`` alone and sends nothing; the host checks it again on arrival, so a torn
transfer or a source edited mid-run never replaces a good file.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

#: Bytes read from a local source at a time: the most of it held in memory per transfer.
CHUNK = 256 * 1024
#: Content larger than this is not shown in a diff.
DIFF_LIMIT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Content:
    """File content by digest, with the bytes kept only while they are small or needed."""

    sha256: str
    size: int
    data: bytes | None = field(default=None, repr=False)
    source: Path | None = None

    @classmethod
    def of(cls, data: bytes) -> Content:
        return cls(hashlib.sha256(data).hexdigest(), len(data), data=data)

    @classmethod
    def from_file(cls, path: Path) -> Content:
        digest = hashlib.sha256()
        size = 0
        with path.open("rb") as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        return cls(digest.hexdigest(), size, source=path)

    async def chunks(self) -> AsyncIterator[bytes]:
        if self.data is not None:
            for start in range(0, len(self.data), CHUNK):
                yield self.data[start : start + CHUNK]
            return
        if self.source is None:  # pragma: no cover - one of the two is always set
            return
        with self.source.open("rb") as handle:
            while chunk := await asyncio.to_thread(handle.read, CHUNK):
                yield chunk

    def text(self) -> str | None:
        """The content as text for a diff, or None (from a file, binary, or too big)."""
        if self.data is None or self.size > DIFF_LIMIT:
            return None
        return as_text(self.data)


def as_text(data: bytes) -> str | None:
    if b"\x00" in data:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None
