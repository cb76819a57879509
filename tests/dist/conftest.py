"""The release artefacts in dist/, each installed or unpacked into a directory of its own and run
from there, with no source checkout on the path (no PYTHONPATH, no virtualenv, a fresh working
directory). ``just dist-check`` builds them (``just dist``) and runs this folder.

``just test`` never collects this folder: pytest's default ``norecursedirs`` leaves out every
directory named ``dist``; its tests are marked ``dist`` as well (``-m dist``). A missing artefact
fails, never skips: a check that did not run is a gap.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
EXAMPLE = ROOT / "nexus.toml.example"
TIMEOUT = 60  # seconds for one command; every one takes a few
INSTALL_TIMEOUT = 600  # pipx and uv resolve and download the dependencies
PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"


def artefact(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    if len(found) != 1:
        pytest.fail(f"want one dist/{pattern}, found {[p.name for p in found]}: run `just dist`")
    return found[0]


def clean_env(home: Path) -> dict[str, str]:
    """This environment less what would reach the checkout or the virtualenv the tests run in;
    the journal, shiv's unpacked files and the installed tools go under ``home``."""
    venv_bin = str(Path(sys.executable).parent)
    path = [
        entry
        for entry in os.environ.get("PATH", "").split(os.pathsep)
        if entry and entry != venv_bin and not entry.startswith(str(ROOT))
    ]
    dropped = ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "NO_COLOR", "FORCE_COLOR")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in dropped and not key.startswith(("NEXUS_", "SHIV_"))
    }
    env.update(
        PATH=os.pathsep.join(path),
        NEXUS_STATE_DIR=str(home / "state"),
        SHIV_ROOT=str(home / "shiv"),
        TMPDIR=str(home / "tmp"),  # where the example works, away from other runs of it
        TERM="xterm-256color",
    )
    return env


@dataclass(frozen=True)
class Build:
    """One way of having ``nexus``: ``argv`` starts it, in ``env``."""

    name: str  # how it got here: "pipx ← wheel", "zipapp", ...
    kind: str  # what `nexus version` should call it: wheel, zipapp, directory
    argv: tuple[str, ...]
    env: Mapping[str, str]

    def __call__(
        self, *args: str | Path, cwd: Path, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.argv, *map(str, args)],
            cwd=cwd,
            env=dict(env or self.env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )


def install(argv: list[str], env: Mapping[str, str], cwd: Path) -> None:
    done = subprocess.run(
        argv, cwd=cwd, env=dict(env), capture_output=True, text=True,
        timeout=INSTALL_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"


@pytest.fixture(scope="session")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="session")
def env(home: Path) -> dict[str, str]:
    (home / "tmp").mkdir()
    return clean_env(home)


@pytest.fixture(scope="session")
def pipx_wheel(home: Path, env: dict[str, str]) -> Build:
    """``pipx install`` the wheel, as an operator does with the one from the release page."""
    where = {"PIPX_HOME": str(home / "pipx"), "PIPX_BIN_DIR": str(home / "pipx-bin")}
    argv = [sys.executable, "-m", "pipx", "install", "--python", str(PYTHON)]
    install([*argv, str(artefact("nexus_runner-*.whl"))], {**env, **where}, home)
    return Build("pipx ← wheel", "wheel", (str(home / "pipx-bin" / "nexus"),), env)


def uv_tool(home: Path, env: dict[str, str], source: Path, name: str) -> Build:
    """``uv tool install SOURCE``, into tools and bin directories of its own under ``home``."""
    where = {"UV_TOOL_DIR": str(home / name), "UV_TOOL_BIN_DIR": str(home / f"{name}-bin")}
    argv = [str(Path(sys.executable).with_name("uv")), "tool", "install", "--python", str(PYTHON)]
    install([*argv, str(source)], {**env, **where}, home)
    return Build(f"uv tool ← {name}", "wheel", (str(home / f"{name}-bin" / "nexus"),), env)


@pytest.fixture(scope="session")
def uv_sdist(home: Path, env: dict[str, str]) -> Build:
    """``uv tool install`` the sdist: it builds the wheel itself, so the sdist must be whole."""
    return uv_tool(home, env, artefact("nexus_runner-*.tar.gz"), "sdist")


@pytest.fixture(scope="session")
def uv_checkout(home: Path, env: dict[str, str]) -> Build:
    """``uv tool install .``, the README's line, in the checkout (what it installs runs from
    its own directory, not from here)."""
    return uv_tool(home, env, ROOT, "checkout")


@pytest.fixture(scope="session")
def zipapp(env: dict[str, str]) -> Build:
    """The .pyz under a plain python3: the interpreter alone, no packages of its own."""
    return Build("zipapp", "zipapp", (str(PYTHON), str(artefact("nexus-*.pyz"))), env)


@pytest.fixture(scope="session")
def directory(home: Path, env: dict[str, str]) -> Build:
    """The directory build, unpacked as an operator would: ``tar xzf``, then its ``nexus``."""
    tarball = artefact("nexus-*-linux-*.tar.gz")
    (home / "opt").mkdir()
    install(["tar", "-xzf", str(tarball), "-C", str(home / "opt")], env, home)
    (top,) = (home / "opt").iterdir()
    return Build("directory", "directory", (str(top / "nexus"),), env)


BUILDS = ("pipx_wheel", "uv_sdist", "uv_checkout", "zipapp", "directory")


@pytest.fixture(params=BUILDS)
def build(request: pytest.FixtureRequest) -> Build:
    built: Build = request.getfixturevalue(request.param)
    return built
