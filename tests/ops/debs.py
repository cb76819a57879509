"""A private apt repository for the ``package`` tests: small ``.deb`` files built here with
``dpkg-deb --build``, indexed with ``dpkg-scanpackages`` into a flat ``file:`` repository.

apt is machine-wide (and the sshd lab's hosts are this machine), so :func:`private_apt` holds
a file lock across pytest-xdist workers and points apt at that repository alone with one
drop-in under ``/etc/apt/apt.conf.d``: its own sources list, lists, state and cache
directories, so ``apt-get update`` never reaches the network and the machine's own sources
and lists are never touched. Removing the drop-in (done on the way out, even on failure, and
on the way in for one a killed run left behind) puts apt back exactly as it was; the test
packages are purged too.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

#: Every test package's name starts so: what the clean-up purges.
PREFIX = "nxt-pkg-"
DROP_IN = Path("/etc/apt/apt.conf.d/99zz-nexus-test-repository")
LOCK = Path("/tmp/nexus-test-apt.lock")
#: the lists' freshness stamp ``ops/packages`` reads, relative to apt's ``Dir::State``
STAMP = Path("periodic/update-success-stamp")


@dataclass(frozen=True)
class Repository:
    """The test's apt: ``pool`` holds the ``.deb`` files and their index; ``state`` is apt's
    ``Dir::State`` (its lists, and the stamp)."""

    pool: Path
    state: Path

    def add(self, name: str, version: str) -> None:
        """Build package ``name`` at ``version`` (its one file says the version) and index
        the pool again. apt sees it after its next ``apt-get update``."""
        self.add_all([name], version)

    def add_all(self, names: Iterable[str], version: str) -> None:
        """:meth:`add` for each of ``names``, the pool indexed once at the end."""
        for name in names:
            self._build(name, version)
        index = _run("dpkg-scanpackages", "--multiversion", ".", cwd=self.pool)
        (self.pool / "Packages").write_text(index)

    def _build(self, name: str, version: str) -> None:
        build = self.pool.parent / "build" / f"{name}_{version}"
        (build / "DEBIAN").mkdir(parents=True)
        share = build / "usr" / "share" / name
        share.mkdir(parents=True)
        (share / "version").write_text(f"{version}\n")
        (build / "DEBIAN" / "control").write_text(
            f"Package: {name}\nVersion: {version}\nArchitecture: all\n"
            "Maintainer: Nexus tests <nexus@example.invalid>\n"
            f"Description: a package of the Nexus tests\n"
        )
        deb = self.pool / f"{name}_{version}_all.deb"
        _run("dpkg-deb", "--root-owner-group", "--build", str(build), str(deb))
        shutil.rmtree(build)

    def update(self) -> None:
        """``apt-get update``, as an operator would (it does not touch the stamp)."""
        _run("apt-get", "update", "-q")

    def set_age(self, seconds: int) -> None:
        """Make the lists look refreshed ``seconds`` ago (no waiting in a test)."""
        import time  # noqa: PLC0415 - the one use

        when = time.time() - seconds
        lists = self.state / "lists"
        stamp = self.state / STAMP
        stamp.parent.mkdir(exist_ok=True)
        stamp.touch()
        for path in (lists, stamp):
            os.utime(path, (when, when))


def installed(name: str) -> str | None:
    """The version of ``name`` dpkg has installed, or None."""
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}|${Version}", name],
        capture_output=True,
        text=True,
        check=False,
    )
    status, _, version = done.stdout.partition("|")
    return version if done.returncode == 0 and status[1:2] == "i" else None


def payload(name: str) -> str | None:
    """What the installed package's one file says (its version), or None when not there."""
    path = Path("/usr/share", name, "version")
    return path.read_text().strip() if path.exists() else None


def purge_test_packages() -> None:
    done = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package}\n", f"{PREFIX}*"],
        capture_output=True,
        text=True,
        check=False,
    )
    names = done.stdout.split()
    if names:
        _run("dpkg", "--purge", *names)


@contextmanager
def private_apt(where: Path) -> Iterator[Repository]:
    """apt pointed at an empty repository under ``where`` alone, for the ``with`` block."""
    LOCK.touch()
    with LOCK.open() as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        DROP_IN.unlink(missing_ok=True)
        purge_test_packages()
        repo = Repository(where / "pool", where / "state")
        for folder in (repo.pool, repo.state / "lists" / "partial", where / "cache"):
            folder.mkdir(parents=True)
        (repo.pool / "Packages").write_text("")
        (where / "sources.list").write_text(f"deb [trusted=yes] file:{repo.pool} ./\n")
        (where / "sources.list.d").mkdir()
        where.chmod(0o755)  # apt's download user (_apt) reads the repository
        DROP_IN.write_text(
            f'Dir::Etc::SourceList "{where}/sources.list";\n'
            f'Dir::Etc::SourceParts "{where}/sources.list.d/";\n'
            f'Dir::State "{repo.state}/";\n'
            f'Dir::Cache "{where}/cache/";\n'
        )
        try:
            yield repo
        finally:
            DROP_IN.unlink(missing_ok=True)
            purge_test_packages()


def _run(*argv: str, cwd: Path | None = None) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=cwd)
    assert done.returncode == 0, (argv, done.stdout, done.stderr)
    return done.stdout
