"""Each artefact of ``just dist``, run from itself: ``nexus version``, ``nexus validate`` and a
headless run of the example, wherever it was installed or unpacked; the dashboard from the
directory build, under tmux; and a wrong interpreter or machine, refused in a sentence."""

from __future__ import annotations

import ast
import json
import platform
import re
import shutil
import subprocess
import time
import tomllib
import zipfile
from pathlib import Path

import pytest

from nexus_engine import __version__
from tests.dist.conftest import EXAMPLE, PYTHON, Build, artefact
from tests.tmux import DEADLINE, Tmux

pytestmark = [pytest.mark.dist, pytest.mark.timeout(900)]  # a build's first test installs it


EXAMPLE_TOML = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A fresh working directory holding only a copy of the example."""
    shutil.copy(EXAMPLE, tmp_path / "nexus.toml")
    return tmp_path


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def test_version_says_which_build(build: Build, work: Path) -> None:
    result = build("version", cwd=work)
    assert result.returncode == 0, result.stderr
    python = re.escape(f"Python {platform.python_version()[:4]}")  # 3.11.x: the same minor
    line = rf"nexus {re.escape(__version__)} \({build.kind}; {python}[\d.]*, asyncssh \d+\.\d+\S*\)"
    assert re.fullmatch(line, result.stdout.strip()), result.stdout


def test_validate(build: Build, work: Path) -> None:
    result = build("validate", cwd=work)
    assert result.returncode == 0, result.stderr
    tasks, hosts, groups = (len(EXAMPLE_TOML.get(key, {})) for key in ("tasks", "hosts", "groups"))
    assert result.stdout == f"nexus.toml: valid: {tasks} tasks, {hosts} hosts, {groups} groups\n"


def test_headless_run_of_the_example(build: Build, work: Path) -> None:
    result = build("--headless", "run", "--format", "json", cwd=work)
    no_traceback(result)
    assert result.returncode == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["status"] == "succeeded"
    assert set(document["tasks"]) == set(EXAMPLE_TOML["tasks"])
    text = build("--headless", "run", "package", cwd=work)
    assert text.returncode == 0, text.stderr
    assert "package@local | packaged nexus-demo-1.0.tar.gz" in text.stdout


def gone(tmux: Tmux, text: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while text in tmux.screen():
        if time.monotonic() > deadline:
            pytest.fail(f"{text!r} stayed on the screen:\n{tmux.screen()}")
        time.sleep(0.1)


def test_the_dashboard_from_the_directory_build(directory: Build, tmux: Tmux, work: Path) -> None:
    """Textual imports its widgets lazily, by name: a directory build that lacked one would
    fail here. ``nexus`` opens the dashboard, its help screen and command palette, and quits;
    then ``nexus run`` runs the whole example in the dashboard."""
    tmux.env = {**directory.env, "NEXUS_STATE_DIR": str(work / "state")}
    nexus = directory.argv[0]
    command = f"'{nexus}'; echo \"EXIT=$?\"; '{nexus}' run; echo \"RUN_EXIT=$?\"; sleep 60"
    tmux("new-session", "-d", "-s", "nexus", "-x", "120", "-y", "36", "-c", str(work), command)

    tmux.wait_for("Enter runs them")
    tmux("send-keys", "-t", "nexus", "?")
    tmux.wait_for("Nexus dashboard keys")
    tmux("send-keys", "-t", "nexus", "Escape")
    gone(tmux, "Nexus dashboard keys")  # a key sent on an Escape's heels would read as Alt+key
    tmux("send-keys", "-t", "nexus", "C-p")
    tmux.wait_for("Search for commands")
    tmux("send-keys", "-t", "nexus", "Escape")
    gone(tmux, "Search for commands")
    tmux("send-keys", "-t", "nexus", "q")
    tmux.wait_for("EXIT=0")

    screen = tmux.wait_for("succeeded in")  # `nexus run`: every task of the example
    assert "journal:" in screen
    tmux("send-keys", "-t", "nexus", "q")
    screen = tmux.wait_for("RUN_EXIT=")
    assert "RUN_EXIT=0" in screen, screen
    (summary,) = (work / "state").glob("runs/*/summary.json")
    recorded = json.loads(summary.read_text())
    assert recorded["status"] == "succeeded"
    assert set(recorded["tasks"]) == set(EXAMPLE_TOML["tasks"])


# ── the wrong interpreter, the wrong machine ────────────────────────────────────────────────────


def fake_python(where: Path, version: tuple[int, int, int]) -> Path:
    """A ``sitecustomize`` that makes this Python report another version, as an older python3
    on the operator's machine would (the check reads ``sys.version_info``)."""
    where.mkdir()
    (where / "sitecustomize.py").write_text(
        f"import sys\nsys.version_info = {(*version, 'final', 0)!r}\n", encoding="utf-8"
    )
    return where


def test_the_zipapp_on_an_older_python_says_what_it_needs(
    zipapp: Build, work: Path, home: Path
) -> None:
    fake = fake_python(work / "py310", (3, 10, 12))
    env = {**zipapp.env, "PYTHONPATH": str(fake), "SHIV_ROOT": str(work / "shiv")}
    result = zipapp("version", cwd=work, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith(
        f"nexus: this zipapp needs Python {PYTHON.name[6:]} on linux {platform.machine()}"
    )
    assert "this is Python 3.10.12 on linux" in result.stderr
    assert "pipx install nexus_runner-" in result.stderr
    no_traceback(result)
    assert not (work / "shiv").exists()  # refused at once: nothing was unpacked


def test_the_zipapp_guard_reads_as_old_python() -> None:
    """The check is the first thing the zipapp runs, in words an old python3 can parse."""
    with zipfile.ZipFile(artefact("nexus-*.pyz")) as pyz:
        main = pyz.read("__main__.py").decode()
    assert main.index("nexus_check_interpreter((3, ") < main.index("import _bootstrap")
    ast.parse(main, feature_version=(3, 4))  # no f-strings, no walrus, no match


def fake_command(where: Path, name: str, output: str) -> None:
    where.mkdir(exist_ok=True)
    (where / name).write_text(f"#!/bin/sh\necho '{output}'\n", encoding="utf-8")
    (where / name).chmod(0o755)


@pytest.mark.parametrize(
    ("command", "output", "said"),
    [
        ("uname", "Darwin arm64", "this machine is Darwin arm64"),
        ("uname", "Linux aarch64", "this machine is Linux aarch64"),
        ("getconf", "glibc 2.17", "this machine has glibc 2.17"),
    ],
    ids=["macos", "arm", "old-glibc"],
)
def test_the_directory_build_elsewhere_says_what_it_needs(
    directory: Build, work: Path, command: str, output: str, said: str
) -> None:
    bin_dir = work / "bin"
    fake_command(bin_dir, command, output)
    env = {**directory.env, "PATH": f"{bin_dir}:{directory.env['PATH']}"}
    result = directory("version", cwd=work, env=env)
    assert result.returncode == 2
    assert result.stdout == ""
    needs = f"nexus: this build is for Linux {platform.machine()} with glibc "
    assert result.stderr.startswith(needs), result.stderr
    assert said in result.stderr
    assert "pipx install nexus_runner-" in result.stderr
    no_traceback(result)


def test_the_directory_build_through_a_symlink(directory: Build, work: Path) -> None:
    """Operators link it into ~/.local/bin: the launcher finds its program through the link."""
    link = work / "bin" / "nexus"
    link.parent.mkdir()
    link.symlink_to(directory.argv[0])
    result = subprocess.run(
        [str(link), "version"], cwd=work, env=dict(directory.env), capture_output=True,
        text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(directory;" in result.stdout


def test_the_zipapp_installed_as_a_command(zipapp: Build, work: Path) -> None:
    """As the README installs it: the file on PATH, named ``nexus``, started by its shebang
    (``/usr/bin/env python3``; python3 here is the Python it was built for)."""
    bin_dir = work / "bin"
    bin_dir.mkdir()
    shutil.copy(artefact("nexus-*.pyz"), bin_dir / "nexus")
    (bin_dir / "python3").symlink_to(PYTHON)
    env = {**zipapp.env, "PATH": f"{bin_dir}:{zipapp.env['PATH']}"}
    result = subprocess.run(
        ["nexus", "version"], cwd=work, env=env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "(zipapp;" in result.stdout
