"""How the journal makes its files and directories: private to the user whatever the umask
(directories 0700, files 0600), a new file never over an existing one, never through a symlink.

Logs hold secrets if anything does (openshift/openshift-ansible#7141 made them 0664), and a
symlink planted in a run's directory must not redirect a write: files are created with
O_EXCL|O_NOFOLLOW, and directories are checked to be plain, ours, and closed to others.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from urllib.parse import quote

#: a new file: created here, never an existing one, never through a symlink
NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
#: a file of ours that exists: appended to, never through a symlink
OLD_FILE = os.O_WRONLY | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
#: a file of ours, opened to read it back; never through a symlink
READ_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
#: a directory, opened to check it or to sync it; never through a symlink
DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


class JournalError(Exception):
    """The journal cannot be written where or how it must be."""


def safe_name(name: str) -> str:
    """A task or host name as one path component, reversibly (``urllib.parse.unquote``):
    everything but letters, digits and ``_.-~`` is percent-encoded, ``%`` included, and so is a
    leading dot, so no result is ``.``, ``..`` or hidden, or holds ``/`` or NUL."""
    if not name:
        raise ValueError("an empty name has no file name")
    encoded = quote(name, safe="")
    return "%2E" + encoded[1:] if encoded.startswith(".") else encoded


def ensure_dir(path: Path, *, new: bool = False, strict: bool = True) -> None:
    """Make ``path`` a directory of ours, mode 0700. ``new``: it must not exist yet. ``strict``
    (for everything under ``runs/``): refuse a symlink, and fix the mode of an existing one. The
    state dir itself may be a symlink and keep the mode the user gave it, but not one that lets
    other users write in it: that is refused, with the command that fixes it."""
    try:
        os.mkdir(path, 0o700)
        created = True
    except FileExistsError:
        if new:
            raise JournalError(f"{path} already exists; refusing to reuse it") from None
        created = False
    try:
        fd = os.open(path, DIR if strict else DIR & ~os.O_NOFOLLOW)
    except OSError as exc:
        raise JournalError(f"{path} is not a plain directory (a symlink?): refusing it") from exc
    try:
        info = os.fstat(fd)
        if info.st_uid != os.getuid():
            raise JournalError(f"{path} belongs to another user: refusing it")
        if not (created or strict) and stat.S_IMODE(info.st_mode) & 0o022:
            raise JournalError(
                f"{path} is writable by other users, who could then plant or remove run "
                f"records; make it yours alone: chmod go-w {path}"
            )
        if (created or strict) and stat.S_IMODE(info.st_mode) != 0o700:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def make_parents(path: Path) -> None:
    """Create the missing directories of ``path``, each 0700 whatever the umask: on the way to
    the state dir they hold nothing but it, and a umask of 0 would leave them open to all.
    Directories that exist are the user's and are left as they are."""
    missing = []
    while not path.exists():
        missing.append(path)
        if path.parent == path:
            break
        path = path.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, 0o700)
        except FileExistsError:
            continue  # made meanwhile by someone else: theirs
        os.chmod(directory, 0o700)


def create(path: Path) -> int:
    """A new file, 0600 whatever the umask; never an existing file, never through a symlink."""
    try:
        fd = os.open(path, NEW_FILE, 0o600)
    except FileExistsError:
        raise JournalError(f"{path} already exists: refusing to overwrite or follow it") from None
    os.fchmod(fd, 0o600)
    return fd


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(path: Path) -> None:
    fd = os.open(path, DIR)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
