"""``nexus run`` in-process: exit codes, the text and JSON faces, dry runs, the journal, and the
errors a user can cause (a bad config, an unknown task, remote hosts)."""

from __future__ import annotations

import json
import socket

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


def test_a_failing_run_exits_1(project: Project) -> None:
    project.write('[tasks.bad]\ncommands = ["echo trying; exit 3"]\n')
    code, out, _ = project.nexus("run")
    assert code == 1
    assert "bad@local ✗ failed in" in out
    assert "exit status 3" in out
    assert "(exit 1)" in out.splitlines()[-1]


def test_targets_limit_the_run_to_them_and_their_dependencies(project: Project) -> None:
    code, out, _ = project.nexus("run", "test")
    assert code == 0
    assert "test@local | testing" in out
    assert "linting" not in out


def test_continue_on_error_lets_independent_tasks_run(project: Project) -> None:
    body = """
[settings]
parallel_limit = 1
[tasks.a]
commands = ["exit 1"]
[tasks.b]
deps = ["a"]
commands = ["echo b"]
[tasks.c]
commands = ["echo c"]
"""
    project.write(body)
    code, out, _ = project.nexus("run")
    assert code == 1
    assert "c@local | c" not in out
    code, out, _ = project.nexus("run", "--continue-on-error")
    assert code == 1
    assert "c@local | c" in out
    assert "b@local ↷ skipped" in out


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


def test_secrets_are_masked_in_the_output_and_the_journal(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("API_TOKEN", "s3cr3t-value")
    project.write(
        '[[tasks.leak.commands]]\ncmd = "echo token=$T; echo $T >&2"\n'
        'env = { T = "${secret:API_TOKEN}" }\n'
    )
    for fmt in ("text", "json", "jsonl"):
        code, out, err = project.nexus("run", "-v", "--format", fmt)
        assert code == 0
        assert "s3cr3t-value" not in out + err
    assert "leak@local | token=***" in project.nexus("run")[1]
    for run_dir in project.runs():
        for path in run_dir.rglob("*"):
            if path.is_file():
                assert b"s3cr3t-value" not in path.read_bytes(), path


def test_dry_run_prints_the_plan_and_runs_nothing(project: Project) -> None:
    code, out, _ = project.nexus("run", "--dry-run")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == "phase 1: build, lint"
    assert "task test (after build) on local [parallel]" in lines
    assert "  1. echo testing  (timeout 30s, retries 1)" in lines
    assert lines[-1] == "3 units, at most 10 at once"
    assert "build@local | building" not in out
    assert project.runs() == []


def test_dry_run_as_json(project: Project) -> None:
    code, out, _ = project.nexus("run", "--dry-run", "--format", "json", "-p", "2", "test")
    assert code == 0
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
    }


def test_dry_run_masks_secrets(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PW", "hunter22")
    project.write('[tasks.login]\ncommands = ["login --password ${secret:PW}"]\n')
    for fmt in ("text", "json"):
        code, out, _ = project.nexus("run", "--dry-run", "--format", fmt)
        assert code == 0
        assert "hunter22" not in out
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
    assert "task deploy on web2, web1, local [parallel]" in out


def test_an_unknown_task_is_a_usage_error(project: Project) -> None:
    code, out, err = project.nexus("run", "tset")
    assert code == EXIT_USAGE
    assert err == "nexus: no task named 'tset' in nexus.toml\n"
    assert out == ""


def test_a_config_error_is_reported_on_stderr_with_exit_2(project: Project) -> None:
    project.write('[tasks.t]\ncommands = ["x"]\ntimout = 10\n')
    for command in (["run"], ["run", "--dry-run"], ["list"], ["validate"]):
        code, out, err = project.nexus(*command)
        assert code == EXIT_USAGE, command
        assert out == ""
        assert "nexus.toml:3" in err
        assert "timout" in err
        assert "Traceback" not in err


def test_a_missing_config_file_is_reported(project: Project) -> None:
    code, _, err = project.nexus("-c", "absent.toml", "run")
    assert code == EXIT_USAGE
    assert "absent.toml" in err
    assert "file not found" in err


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
        (["run", "-p", "0"], "expected a number ≥ 1, got 0"),
        (["run", "-p", "two"], "expected a whole number, got 'two'"),
        (["run", "--format", "xml"], "invalid choice: 'xml'"),
        (["nope"], "invalid choice: 'nope'"),
        (["completion", "tcsh"], "invalid choice: 'tcsh'"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage:" in err
    assert message in err


def test_quiet_and_verbose_exclude_each_other(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["run", "-q", "-v"])
    assert "not allowed with" in capsys.readouterr().err


def test_ctrl_c_while_loading_exits_130(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("nexus_engine.config.load_config", interrupted)
    code, _, _ = project.nexus("run")
    assert code == 130
