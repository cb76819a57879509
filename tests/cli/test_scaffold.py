"""``nexus init`` and ``nexus completion``: what they write, and what they refuse."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from nexus_engine.status import EXIT_USAGE
from tests.cli.conftest import Project
from tests.tmux import NEXUS, Tmux

COMMANDS = ["completion", "init", "list", "logs", "preflight", "run", "runs", "validate", "version"]


def test_init_writes_a_starter_config_that_validates_and_runs(project: Project) -> None:
    target = project.root / "fresh" / "nexus.toml"
    target.parent.mkdir()
    code, out, _ = project.nexus("init", str(target))
    assert code == 0
    assert out == f"wrote {target}; try: nexus -c {target} --headless run\n"
    assert target.read_text().startswith("# Nexus tasks.")
    assert target.stat().st_mode & 0o777 == 0o644
    code, out, _ = project.nexus("-c", str(target), "validate")
    assert (code, out) == (0, f"{target}: valid: 2 tasks, 0 hosts, 0 groups\n")
    code, out, _ = project.nexus("-c", str(target), "run")
    assert code == 0
    assert "build@local | building" in out
    assert "test@local | testing" in out


def test_init_defaults_to_nexus_toml_here(project: Project) -> None:
    project.config.unlink()
    code, _, _ = project.nexus("init")
    assert code == 0
    assert project.config.exists()


def test_init_refuses_to_overwrite(project: Project) -> None:
    before, stat = project.config.read_text(), project.config.stat()
    code, out, err = project.nexus("init")
    assert code == EXIT_USAGE
    assert out == ""
    assert err == "nexus: nexus.toml already exists; not overwriting it\n"
    assert project.config.read_text() == before
    assert project.config.stat().st_mtime_ns == stat.st_mtime_ns  # not even touched


def test_init_refuses_to_write_through_a_symlink(project: Project) -> None:
    victim = project.root / "victim"
    link = project.root / "link.toml"
    link.symlink_to(victim)
    code, _, err = project.nexus("init", str(link))
    assert code == EXIT_USAGE
    assert "already exists" in err
    assert not victim.exists()


def test_init_into_a_missing_directory(project: Project) -> None:
    code, _, err = project.nexus("init", str(project.root / "no" / "such" / "nexus.toml"))
    assert code == EXIT_USAGE
    assert "cannot create" in err
    assert "No such file or directory" in err


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_names_every_command(project: Project, shell: str) -> None:
    code, out, _ = project.nexus("completion", shell)
    assert code == 0
    for command in COMMANDS:
        assert command in out
    for option in ("dry-run", "continue-on-error", "format", "stderr"):
        assert option in out, option


def test_bash_completion(project: Project, tmp_path: Path) -> None:
    _, out, _ = project.nexus("completion", "bash")
    assert out.startswith("# bash completion for nexus")
    assert "complete -o default -F _nexus nexus" in out
    assert " ".join(COMMANDS) in out
    script = tmp_path / "nexus.bash"
    script.write_text(out)
    bash = shutil.which("bash")
    assert bash is not None
    checked = subprocess.run([bash, "-n", str(script)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    registered = f"source {script}; complete -p nexus"
    sourced = subprocess.run([bash, "-c", registered], capture_output=True, text=True, check=False)
    assert sourced.stdout == "complete -o default -F _nexus nexus\n", sourced.stderr
    # and it completes: the sub-command "ru" → run, runs; options of run after "run -"
    for words, cword, expected in (
        ("nexus ru", 1, {"run", "runs"}),
        ("nexus run --dr", 2, {"--dry-run"}),
        ('nexus ""', 1, None),  # every command (and the global options)
    ):
        probe = (
            f"source {script}; COMP_WORDS=({words}); COMP_CWORD={cword}; _nexus; "
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        result = subprocess.run([bash, "-c", probe], capture_output=True, text=True, check=False)
        offered = set(result.stdout.split())
        assert offered == expected or (expected is None and set(COMMANDS) <= offered), offered


def test_zsh_completion(project: Project) -> None:
    _, out, _ = project.nexus("completion", "zsh")
    assert out.startswith("#compdef nexus")
    assert f"commands=({' '.join(COMMANDS)})" in out
    assert out.rstrip().endswith('_nexus "$@"')


def test_zsh_completion_parses(project: Project, tmp_path: Path) -> None:
    _, out, _ = project.nexus("completion", "zsh")
    zsh = shutil.which("zsh")
    assert zsh is not None, "zsh is missing: `just system-deps` installs it"
    script = tmp_path / "_nexus"
    script.write_text(out)
    checked = subprocess.run([zsh, "-n", str(script)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr


def test_fish_completion(project: Project, tmp_path: Path) -> None:
    _, out, _ = project.nexus("completion", "fish")
    lines = out.splitlines()
    assert lines[1] == f"complete -c nexus -f -n __fish_use_subcommand -a '{' '.join(COMMANDS)}'"
    assert "complete -c nexus -n '__fish_seen_subcommand_from run' -l dry-run" in lines
    assert "complete -c nexus -n '__fish_seen_subcommand_from logs' -l stderr" in lines
    fish = shutil.which("fish")
    if fish:  # parse it too where fish is installed (the system packages do not include it)
        script = tmp_path / "nexus.fish"
        script.write_text(out)
        checked = subprocess.run([fish, "-n", script], capture_output=True, text=True, check=False)
        assert checked.returncode == 0, checked.stderr


# ── completing a task name, in the real shells, installed as the README says ─────────────────────

TASKS = {"build", "lint", "test"}  # the project's nexus.toml


def completion_env(project: Project) -> dict[str, str]:
    """The shell finds this ``nexus`` first on PATH: the completion runs ``nexus list``."""
    path = f"{NEXUS.parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return {**os.environ, "PATH": path, "NEXUS_STATE_DIR": str(project.state)}


def test_bash_completes_a_task_name_from_nexus_toml(project: Project, tmp_path: Path) -> None:
    _, out, _ = project.nexus("completion", "bash")
    script = tmp_path / "nexus.bash"
    script.write_text(out)
    bash = shutil.which("bash")
    assert bash is not None
    for words, cword, expected in (
        ("nexus run bu", 2, {"build"}),
        ('nexus run ""', 2, TASKS),
        ("nexus run --dry-run l", 3, {"lint"}),
    ):
        probe = (
            f"source {script}; COMP_WORDS=({words}); COMP_CWORD={cword}; _nexus; "
            'printf "%s\\n" "${COMPREPLY[@]}"'
        )
        result = subprocess.run(
            [bash, "-c", probe], cwd=project.root, env=completion_env(project),
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
        assert set(result.stdout.split()) == expected, (words, result.stdout, result.stderr)


def test_zsh_completes_a_task_name_from_nexus_toml(project: Project, tmux: Tmux) -> None:
    """An interactive zsh, set up as the README says (the script in a directory on ``fpath``,
    then ``compinit``); Tab after ``nexus run bu`` completes ``build``, and after ``nexus run``
    offers every task."""
    _, out, _ = project.nexus("completion", "zsh")
    functions = project.root / "zfunc"
    functions.mkdir()
    (functions / "_nexus").write_text(out)
    home = project.root / "zdot"
    home.mkdir()
    (home / ".zshrc").write_text(
        f"fpath=({functions} $fpath)\nautoload -Uz compinit && compinit -u\nPS1='zsh%% '\n"
    )
    zsh = shutil.which("zsh")
    assert zsh is not None, "zsh is missing: `just system-deps` installs it"
    tmux.env = {**completion_env(project), "ZDOTDIR": str(home), "HOME": str(home)}
    tmux("new-session", "-d", "-s", "nexus", "-x", "100", "-y", "20", "-c", str(project.root), zsh)
    tmux.wait_for("zsh%")
    tmux("send-keys", "-t", "nexus", "-l", "nexus run bu")
    tmux("send-keys", "-t", "nexus", "Tab")
    tmux.wait_for("nexus run build")
    tmux("send-keys", "-t", "nexus", "C-u")
    tmux("send-keys", "-t", "nexus", "-l", "nexus run ")
    tmux("send-keys", "-t", "nexus", "Tab")
    screen = tmux.wait_for("lint")
    listed = screen.split("nexus run", 1)[1]
    assert set(listed.split()) >= TASKS, screen


def test_bash_completes_a_task_name_on_tab(project: Project, tmux: Tmux) -> None:
    """An interactive bash that sourced the script, as the README says; Tab completes."""
    _, out, _ = project.nexus("completion", "bash")
    script = project.root / "nexus.bash"
    script.write_text(out)
    rc = project.root / "bashrc"
    rc.write_text(f"source {script}\nPS1='bash$ '\n")
    tmux.env = completion_env(project)
    bash = f"bash --noprofile --rcfile {rc} -i"
    tmux("new-session", "-d", "-s", "nexus", "-x", "100", "-y", "20", "-c", str(project.root), bash)
    tmux.wait_for("bash$")
    tmux("send-keys", "-t", "nexus", "-l", "nexus run te")
    tmux("send-keys", "-t", "nexus", "Tab")
    tmux.wait_for("nexus run test")
