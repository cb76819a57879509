"""``check``: the operator's own test (``check``, exit 0: the state holds) and fix
(``apply``), on this machine and over real sshd, with marker files. The first run applies and
reports ``changed``; the second runs only the check, inside its probe, and reports ``ok``;
``--check`` runs the check alone and predicts the real run; a failing ``apply`` fails the step;
a ``${var:…}`` value reaches the commands through the environment, never pasted in."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from nexus_engine.config.interpolate import interpolate
from nexus_engine.config.models import NexusConfig
from nexus_engine.ops import resolve
from nexus_engine.ops.custom import Check
from nexus_engine.ops.probe import ProbeReport, batch
from tests.ops.support import (
    CHECK,
    Place,
    changing_commands,
    done_words,
    probes,
    run_config,
    write_config,
)


def step(root: Path, name: str) -> dict[str, Any]:
    flag = shlex.quote(str(root / name))
    return {"ensure": "check", "check": f"test -e {flag}", "apply": f"touch {flag}"}


async def test_check_converges_then_a_second_run_only_checks(
    place: Place, project: Path, state: Path
) -> None:
    root = place.root
    (root / "there").touch()
    place.give(root / "there")
    commands = [step(root, "flag one"), step(root, "there")]
    config = write_config(project / "nexus.toml", place.config(commands))

    first = await run_config(config, state=state)
    assert first.succeeded, first.describe()
    assert first.changes == ["changed", "ok"], first.describe()
    flag = shlex.quote(str(root / "flag one"))
    assert first.summaries[0] == f"applied (its check `test -e {flag}` exited 1)"
    assert (root / "flag one").is_file()
    assert (root / "flag one").stat().st_uid == place.uid  # applied as the login

    second = await run_config(config, state=state)
    assert second.succeeded, second.describe()
    assert second.changes == ["ok", "ok"], second.describe()
    assert second.summaries[0] == f"ok: `test -e {flag}` succeeded"
    assert changing_commands(second) == []
    assert len(probes(second)) == 1


async def test_check_mode_runs_only_the_check_and_predicts(
    place: Place, project: Path, state: Path
) -> None:
    root = place.root
    commands = [
        {
            "ensure": "check",
            "check": f"touch {root}/checked; test -e {root}/flag",
            "apply": f"touch {root}/flag {root}/applied",
        }
    ]
    config = write_config(project / "nexus.toml", place.config(commands))
    checked = await run_config(config, state=state, mode=CHECK)
    assert checked.succeeded, checked.describe()
    assert checked.changes == ["changed"]
    assert (checked.summaries[0] or "").startswith("would apply (its check")
    assert (root / "checked").exists()  # the check ran…
    assert not (root / "applied").exists()  # …and nothing else
    assert changing_commands(checked) == []

    real = await run_config(config, state=state)
    assert real.succeeded, real.describe()
    assert [(s.change, done_words(s.summary or "")) for s in checked.steps] == [
        (s.change, s.summary) for s in real.steps
    ]
    assert (root / "applied").exists()


async def test_a_failing_apply_fails_the_step(place: Place, project: Path, state: Path) -> None:
    commands = [{"ensure": "check", "check": "false", "apply": "echo nope >&2; exit 3"}]
    config = write_config(project / "nexus.toml", place.config(commands))
    outcome = await run_config(config, state=state)
    assert not outcome.succeeded
    assert outcome.changes == [None], outcome.describe()


async def test_a_check_that_is_not_shell_fails_only_itself(
    here: Place, project: Path, state: Path
) -> None:
    """Unbalanced quotes in ``check`` cannot break the probe of the other steps."""
    root = here.root
    commands = [
        {"ensure": "check", "check": "test -e 'unterminated", "apply": f"touch {root}/a"},
        {"ensure": "dir", "path": "${var:root}/made"},
    ]
    config = write_config(project / "nexus.toml", here.config(commands))
    outcome = await run_config(config, state=state)
    assert outcome.changes == ["changed", "changed"], outcome.describe()
    assert (root / "a").exists()
    assert (root / "made").is_dir()


def test_references_travel_in_the_environment(tmp_path: Path) -> None:
    """A hostile value is one word of the environment, not shell text."""
    hostile = "x'; touch pwned; echo '"
    data = {
        "settings": {"vars": {"v": hostile}},
        "tasks": {
            "t": {
                "commands": [
                    {
                        "ensure": "check",
                        "check": 'test "${var:v}" = "$EXPECTED"',
                        "apply": "printf %s ${var:v}",
                    }
                ]
            }
        },
    }
    done = interpolate(data, {})
    assert not done.problems
    parsed = NexusConfig.model_validate(done.data)
    commands = {key: done.commands[("t", 0, key)] for key in ("check", "apply")}
    op = resolve.resolve(
        parsed.tasks["t"].commands[0],  # type: ignore[arg-type]
        {"v": hostile},
        tmp_path,
        commands=commands,
    )
    assert isinstance(op, Check)
    assert hostile not in op.check
    assert hostile not in op.apply
    assert hostile in dict(op.apply_env).values()
    assert op.describe() == f'check `test "{hostile}" = "$EXPECTED"`'
    script = batch({0: op.probe()})
    assert "pwned" not in script.replace(shlex.quote(hostile), "")


def test_a_check_probe_parses_its_status() -> None:
    op = Check("true", "true")
    report = ProbeReport(b"@@tools\nme=0 0 0022\n@@step 3\nstatus=1\n", {3: op.probe()})
    assessment = op.assess(report.facts[3])
    assert assessment.verb == "apply"
    assert op.assess({}).failure == "could not run its check command `true`"
