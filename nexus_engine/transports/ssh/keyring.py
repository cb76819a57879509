"""Client key pairs read once per run, not once per connection.

Left to itself, ``asyncssh.connect`` reads and parses the client's keys for every connection it
makes: the named ``identity``, or each default key in ``~/.ssh`` with its certificate. At 50
hosts that was a tenth of a run's CPU, spent reading the same files fifty times. A run's keys
do not change while it runs, so they are read once (in a thread, as asyncssh reads them) and
handed to every connection that would have read the same files.

Only logins whose keys depend on nothing else are served from here: when ssh_config names an
``IdentityFile``, a ``CertificateFile`` or ``IdentitiesOnly`` for the host, asyncssh reads
the keys as it always has, since what it reads then depends on the host.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence

import asyncssh
from asyncssh.public_key import load_default_keypairs

#: ssh_config options that change which keys asyncssh reads, or how, for one host.
_PER_HOST = ("IdentityFile", "CertificateFile", "IdentitiesOnly")


class KeyRing:
    """The key pairs of one run, by the identity file they come from (None: the defaults)."""

    def __init__(self) -> None:
        self._pairs: dict[tuple[str | None, str | None], Sequence[asyncssh.SSHKeyPair]] = {}
        self._reading: dict[tuple[str | None, str | None], asyncio.Lock] = {}
        self.reads = 0  # times the files were read, for tests

    @staticmethod
    def serves(config: asyncssh.config.SSHConfig | None, identity: str | None) -> bool:
        """Whether the keys for a login are the same for every host: ssh_config (already
        applied for this host, None when there is none) names nothing about keys for it."""
        if config is None:
            return True
        named = [option for option in _PER_HOST if config.get(option)]
        return not named or (identity is not None and named == ["IdentityFile"])

    async def pairs(
        self, identity: str | None, passphrase: str | None
    ) -> Sequence[asyncssh.SSHKeyPair]:
        """The key pairs asyncssh would read: the ``identity`` file (``~`` expanded), else the
        default keys in ``~/.ssh``, skipping those that are encrypted unless ``passphrase``
        opens them. A file that cannot be read raises as ``asyncssh.connect`` would have."""
        key = (identity, passphrase)
        if (pairs := self._pairs.get(key)) is not None:
            return pairs
        async with self._reading.setdefault(key, asyncio.Lock()):  # one read, not one per host
            if (pairs := self._pairs.get(key)) is None:
                pairs = await asyncio.to_thread(_read, identity, passphrase)
                self.reads += 1
                self._pairs[key] = pairs
        return pairs


def _read(identity: str | None, passphrase: str | None) -> Sequence[asyncssh.SSHKeyPair]:
    if identity is None:
        return load_default_keypairs(passphrase)
    return asyncssh.load_keypairs([os.path.expanduser(identity)], passphrase)
