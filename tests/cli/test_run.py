"""``nexus run`` in-process: exit codes, the text and JSON faces, dry runs, the journal, and the
errors a user can cause (a bad config, an unknown task, remote hosts)."""

from __future__ import annotations

import getpass
import json
import re
import socket
from pathlib import Path

import pytest

from nexus_cli import main
from nexus_engine.status import EXIT_USAGE
from tests.cli.conftest import Project


def test_a_successful_run_exits_0_and_prints_prefixed_output(project: Project) -> None:
    code, out, err = project.nexus("--headless", "run")
    assert code == 0
    lines = out.splitlines()
    assert "build@local | building" in lines
    assert "build@local ! warn" in lines
    assert "test@local | testing" in lines
    assert "lint@local | linting" in lines
    assert lines.index("build@local | building") < lines.index("test@local | testing")
    assert lines[-1].startswith("run ")
    assert " succeeded in " in lines[-1]
    assert lines[-1].endswith("(exit 0)")
    assert "\x1b" not in out  # not a terminal: no colour
    assert "nexus: run " in err
    (run_dir,) = project.runs()
    assert f"journal: {run_dir}" in err


def test_the_run_is_recorded_in_the_journal(project: Project) -> None:
    code, _, _ = project.nexus("run")
    assert code == 0
    (run_dir,) = project.runs()
    events = project.events(run_dir)
    assert events[0]["event"] == "run_started"
    assert events[-1]["event"] == "run_finished"
    assert events[-1]["status"] == "succeeded"
    summary = json.loads((run_dir / "summary.json").read_text())
    assert set(summary["tasks"]) == {"build", "test", "lint"}


def test_a_failing_run_shows_its_output_and_the_verdict(project: Project) -> None:
    project.write('[tasks.bad]\ncommands = ["echo trying; echo oops >&2; exit 3"]\n')
    code, out, _ = project.nexus("run")
    assert code == 1
    lines = out.splitlines()
    assert "bad@local | trying" in lines
    assert "bad@local ! oops" in lines
    assert re.search(r"^bad@local ✗ failed in \S+: exit status 3$", out, re.MULTILINE)
    assert re.fullmatch(r"run \S+ failed in \S+ \(exit 1\)", lines[-1])


def test_targets_limit_the_run_to_them_and_their_dependencies(project: Project) -> None:
    code, out, _ = project.nexus("run", "test")
    assert code == 0
    assert "build@local | building" in out
    assert "test@local | testing" in out
    assert "linting" not in out
    code, out, _ = project.nexus("run", "--format", "json", "test")
    assert code == 0
    tasks = json.loads(out)["tasks"]
    assert {name: task["status"] for name, task in tasks.items()} == {
        "build": "succeeded",
        "test": "succeeded",
    }


def test_quiet_prints_only_failures_and_the_summary(project: Project) -> None:
    code, out, err = project.nexus("run", "-q")
    assert code == 0
    assert "building" not in out
    assert "TASK" in out
    assert err == ""


def test_verbose_prints_step_results(project: Project) -> None:
    code, out, _ = project.nexus("run", "-v", "build")
    assert code == 0
    assert "build@local · step 1: exit status 0" in out
    assert "build@local · step 2: exit status 0" in out


def test_json_prints_one_summary_document(project: Project) -> None:
    code, out, err = project.nexus("run", "--format", "json")
    assert code == 0
    document = json.loads(out)
    assert document["status"] == "succeeded"
    assert document["exit_code"] == 0
    assert document["tasks"]["test"]["hosts"]["local"]["attempts"] == 1
    assert "journal:" not in err


def test_jsonl_prints_every_event_as_a_line(project: Project) -> None:
    code, out, _ = project.nexus("run", "--format", "jsonl", "build")
    assert code == 0
    events = [json.loads(line) for line in out.splitlines()]
    assert events[0]["event"] == "run_started"
    assert events[-1]["event"] == "run_finished"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    texts = [e["text"] for e in events if e["event"] == "output_received"]
    assert texts == ["building\n", "warn\n"]


def test_dry_run_prints_the_plan_and_runs_nothing(project: Project) -> None:
    code, out, _ = project.nexus("run", "--dry-run")
    assert code == 0
    lines = out.splitlines()
    assert lines[:2] == ["phase 1: build, lint", "phase 2: test"]
    assert "task test (after build) on local [parallel]" in lines
    assert "  1. echo building  (timeout 3600s)" in lines
    assert "  1. echo testing  (timeout 30s, retries 1)" in lines
    assert lines[-1] == "3 units, at most 10 at once"
    assert "build@local | building" not in out
    assert project.runs() == []
    assert project.nexus("run", "--dry-run", "-p", "3")[1].splitlines()[-1] == (
        "3 units, at most 3 at once"
    )
    project.write(f'[tasks.t]\ncommands = ["touch {project.root}/ran"]\n')
    assert project.nexus("run", "--dry-run")[0] == 0
    assert not (project.root / "ran").exists()
    assert project.runs() == []


def test_dry_run_as_json(project: Project) -> None:
    code, out, _ = project.nexus("run", "--dry-run", "--format", "json", "-p", "2", "test")
    assert code == 0
    assert project.runs() == []
    document = json.loads(out)
    assert document["phases"] == [["build"], ["test"]]
    assert document["parallel_limit"] == 2
    assert document["units"] == 2
    build, test = document["tasks"]
    assert build["name"] == "build"
    assert build["steps"] == ["echo building", 'printf "warn\\n" >&2']
    assert test == {
        "name": "test",
        "deps": ["build"],
        "hosts": ["local"],
        "strategy": "parallel",
        "batch": 1,
        "max_failures": 0,
        "steps": ["echo testing"],
        "step_details": [
            {
                "command": "echo testing",
                "timeout": 30.0,
                "retries": 1,
                "sudo": False,
                "run_as": None,
                "cwd": None,
                "env": [],
                "secret_env": [],
            }
        ],
        "host_details": {
            "local": {
                "local": True,
                "login": None,
                "user": getpass.getuser(),
                "hostname": None,
                "port": None,
                "jump": None,
                "jump_from": None,
            }
        },
    }


def test_dry_run_masks_secrets(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "hunter22")
    project.write('[tasks.login]\ncommands = ["login --password ${secret:PW}"]\n')
    for fmt in ("text", "json"):
        code, out, err = project.nexus("run", "--dry-run", "--format", fmt)
        assert code == 0
        assert "hunter22" not in out + err
        assert "login --password ***" in out


REMOTE = """
[hosts]
web1 = "deploy@web1.example"
web2 = "web2.example"
[tasks.deploy]
on = ["web2", "web1", "local"]
commands = ["ship"]
"""


def test_an_unreachable_host_fails_on_its_own_and_the_run_says_why(project: Project) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project.write(
        f'[hosts]\nweb1 = "127.0.0.1:{port}"\n'
        '[tasks.deploy]\non = ["web1", "local"]\ncommands = ["true"]\n'
    )
    code, out, _ = project.nexus("run", "--continue-on-error", "--format", "json")
    assert code == 1
    hosts = json.loads(out)["tasks"]["deploy"]["hosts"]
    assert hosts["local"]["status"] == "succeeded"
    assert hosts["web1"]["status"] == "failed"
    assert hosts["web1"]["error"] == "unreachable"
    assert f"connection refused by 127.0.0.1:{port}" in hosts["web1"]["reason"]


def test_a_plan_with_remote_hosts_can_still_be_reviewed(project: Project) -> None:
    project.write(REMOTE)
    code, out, _ = project.nexus("run", "--dry-run")
    assert code == 0
    assert "task deploy on web[1-2], local (3 hosts) [parallel]" in out


DETAILED = """
[hosts]
web1 = "deploy@web1.example"
web2 = { hostname = "10.0.0.2", user = "deploy", port = 22 }
web3 = { hostname = "10.0.0.3", user = "deploy" }
db1 = { hostname = "inner", port = 2222 }
[tasks.deploy]
on = ["web1", "web2", "web3", "db1"]
[[tasks.deploy.commands]]
cmd = "systemctl restart app"
sudo = true
env = { TOKEN = "${secret:NEXUS_TEST_TOKEN}", STAGE = "prod" }
[[tasks.deploy.commands]]
cmd = "./check"
user = "www"
cwd = "/srv/app"
"""


@pytest.fixture
def ssh_config(project: Project, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME whose ~/.ssh/config sends two hosts through a jump host."""
    home = project.root / "home"
    (home / ".ssh").mkdir(parents=True)
    config = home / ".ssh" / "config"
    config.write_text(
        "Host inner\n  HostName 10.0.9.9\n  User dbadmin\n  ProxyJump ops@bastion:2200\n"
        "Host 10.0.0.*\n  ProxyJump bastion\n"
    )
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("NEXUS_TEST_TOKEN", "tok-s3cret")
    return config


@pytest.mark.usefixtures("ssh_config")
def test_a_dry_run_says_how_each_host_is_reached_and_as_whom_each_step_runs(
    project: Project,
) -> None:
    project.write(DETAILED)
    code, out, _ = project.nexus("run", "--dry-run", "-u", "ci")
    assert code == 0
    lines = out.splitlines()
    step = lines.index("  1. systemctl restart app  (timeout 3600s)")
    assert lines[step + 1] == (
        "     as root (sudo) · in the login's home directory · env STAGE, TOKEN (secret)"
    )
    assert lines[step + 3] == "     as www (sudo) · in /srv/app"
    hosts = lines[lines.index("  hosts:") + 1 : lines.index("", step)]
    # -u overrides every user; ssh_config gives the address, port and jump it knows
    assert hosts == [
        "    web1: ci@web1.example:22",
        "    ci@*:22 via jump bastion (~/.ssh/config), 2 hosts:",
        "      web2 (10.0.0.2), web3 (10.0.0.3)",
        "    db1: ci@10.0.9.9:2222 via jump ops@bastion:2200 (~/.ssh/config)",
    ]
    assert "tok-s3cret" not in out


@pytest.mark.usefixtures("ssh_config")
def test_a_json_dry_run_has_each_hosts_login_and_each_steps_details(project: Project) -> None:
    project.write(DETAILED)
    code, out, _ = project.nexus("run", "--dry-run", "--format", "json")
    assert code == 0
    (task,) = json.loads(out)["tasks"]
    assert task["host_details"]["db1"] == {
        "local": False,
        "login": "dbadmin@10.0.9.9:2222",
        "user": "dbadmin",
        "hostname": "10.0.9.9",
        "port": 2222,
        "jump": "ops@bastion:2200",
        "jump_from": "~/.ssh/config",
    }
    assert task["host_details"]["web1"]["login"] == "deploy@web1.example:22"
    assert task["host_details"]["web1"]["jump"] is None
    restart, check = task["step_details"]
    assert restart["run_as"] == "root"
    assert restart["env"] == ["STAGE", "TOKEN"]
    assert restart["secret_env"] == ["TOKEN"]
    assert (check["run_as"], check["cwd"], check["sudo"]) == ("www", "/srv/app", True)
    assert "tok-s3cret" not in out


def test_a_config_error_stops_a_dry_run_too(project: Project) -> None:
    """As it stops run, list and validate (``tests/e2e/test_config_errors.py``, every kind of
    error with its place)."""
    project.write('[tasks.t]\ncommands = ["x"]\ntimout = 10\n')
    code, out, err = project.nexus("run", "--dry-run")
    assert code == EXIT_USAGE
    assert out == ""
    assert "nexus.toml:3" in err
    assert "timout" in err
    assert "Traceback" not in err


def test_the_config_option_works_before_and_after_the_command(project: Project) -> None:
    other = project.write('[tasks.other]\ncommands = ["echo other"]\n', "other.toml")
    for argv in (["-c", str(other), "run"], ["run", "-c", str(other)]):
        code, out, _ = project.nexus(*argv)
        assert code == 0
        assert "other@local | other" in out


def test_an_unrecordable_run_does_not_start(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = project.root / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("NEXUS_STATE_DIR", str(blocker))
    project.write(f'[tasks.t]\ncommands = ["touch {project.root}/ran"]\n')
    code, _, err = project.nexus("run")
    assert code == EXIT_USAGE
    assert "cannot record the run" in err
    assert not (project.root / "ran").exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "-p", "0"], "argument -p/--parallel: expected a number ≥ 1, got 0"),
        (["run", "-p", "two"], "argument -p/--parallel: expected a whole number, got 'two'"),
        (["run", "--format", "xml"], "argument --format: invalid choice: 'xml'"),
        (["run", "-q", "-v"], "argument -v/--verbose: not allowed with argument -q/--quiet"),
        (["run", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["nope"], "argument COMMAND: invalid choice: 'nope'"),
        (["completion", "tcsh"], "argument shell: invalid choice: 'tcsh'"),
    ],
)
def test_bad_arguments_exit_2(
    project: Project, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    with pytest.raises(SystemExit) as info:
        main(["--headless", *argv])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: nexus" in err
    assert message in err
    assert "Traceback" not in err
    assert project.runs() == []


def test_ctrl_c_while_loading_exits_130(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("nexus_engine.config.load_config", interrupted)
    code, _, _ = project.nexus("run")
    assert code == 130


def test_a_config_error_under_json_is_a_json_document(project: Project) -> None:
    project.write('[tasks.t]\ncommands = ["x"]\ndeps = ["biuld"]\ntimout = 10\n')
    code, out, err = project.nexus("run", "--format", "json")
    assert code == EXIT_USAGE
    assert json.loads(out) == {
        "status": "config_error",
        "exit_code": 2,
        "run_id": None,
        "error": "2 problems in the config",
        "errors": [
            {
                "file": "nexus.toml",
                "line": 3,
                "column": 9,
                "key": "tasks.t.deps[0]",
                "message": "unknown task 'biuld'",
            },
            {
                "file": "nexus.toml",
                "line": 4,
                "column": 1,
                "key": "tasks.t.timout",
                "message": "unknown key; did you mean 'timeout'?",
            },
        ],
    }
    assert "nexus.toml:4:1: tasks.t.timout" in err  # people reading the log still see it
    code, out, _ = project.nexus("run", "--format", "jsonl")
    assert code == EXIT_USAGE
    (line,) = out.splitlines()
    assert json.loads(line)["event"] == "config_error"
    assert json.loads(line)["errors"][1]["key"] == "tasks.t.timout"
    assert project.runs() == []


def test_a_usage_error_under_json_is_a_json_document(project: Project) -> None:
    code, out, _ = project.nexus("run", "tset", "--format", "json")
    assert code == EXIT_USAGE
    document = json.loads(out)
    assert (document["status"], document["exit_code"]) == ("usage_error", 2)
    assert document["errors"][0]["message"] == "no task named 'tset' in nexus.toml"


BUDGET = """
[hosts]
web1 = "127.0.0.1:{port}"
[tasks.deploy]
on = ["web1", "local"]
max_failures = 1
commands = ["true"]
[tasks.probe]
on = "web1"
max_failures = 1
commands = ["true"]
[tasks.report]
deps = ["deploy", "probe"]
commands = ["echo reported"]
"""


def test_failures_within_the_budget_make_the_task_partial(project: Project) -> None:
    with socket.socket() as probe:  # a port nothing listens on: web1 fails
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project.write(BUDGET.format(port=port))

    code, out, _ = project.nexus("run", "--format", "json")

    document = json.loads(out)
    deploy = document["tasks"]["deploy"]
    assert deploy["status"] == "partial"
    assert deploy["hosts"]["web1"]["status"] == "failed"
    assert deploy["hosts"]["local"]["status"] == "succeeded"
    assert document["tasks"]["probe"]["status"] == "partial"  # its one host, within budget
    assert document["tasks"]["report"]["status"] == "succeeded"  # its dependents went on
    # a host failed: the run is failed, exit 1, as before (the task alone says partial)
    assert (document["status"], code) == ("failed", 1)
    (run_dir,) = project.runs()
    finished = [e for e in project.events(run_dir) if e["event"] == "task_finished"]
    assert {e["task"]: e["status"] for e in finished} == {
        "deploy": "partial",
        "probe": "partial",
        "report": "succeeded",
    }

    code, out, _ = project.nexus("run")
    assert code == 1
    assert "task deploy ◐ partial: 1 of 2 hosts failed (web1), within its max_failures" in out
    assert "task probe ◐ partial: 1 of 1 host failed (web1), within its max_failures" in out


def test_failures_beyond_the_budget_still_fail_the_task(project: Project) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    project.write(BUDGET.format(port=port).replace("max_failures = 1", "max_failures = 0"))
    code, out, _ = project.nexus("run", "--format", "json")
    document = json.loads(out)
    assert document["tasks"]["probe"]["status"] == "failed"
    assert document["tasks"]["report"]["status"] == "not_run"
    assert code == 1
