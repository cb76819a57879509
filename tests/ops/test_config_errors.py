"""A bad ``ensure`` step reaches the operator through the real ``nexus`` command as a config
error: exit 2, ``file:line:column: key: message``, no traceback, no run recorded, and nothing
connected: the task's host is a socket of the test's own, which must see no connection.

The loader reports every problem of a stage at once, so the steps whose problems one stage
finds share a config (one ``nexus`` run each), each on a line of its own: the schema's
(``model``), then what needs the disk or the hosts' variables (``steps``). A problem found
only when the plan is built stops the run alone, so each of those has a config of its own
(``alone``), as has a case whose stage is not the point.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Nexus, clean_env, no_traceback

pytestmark = pytest.mark.e2e

#: the config around the steps: the first step is on this line of the file (counted from 1)
FIRST_LINE = 14
HEAD = """[settings]
connect_timeout = 2

[settings.vars]
root = "/srv"
rel = "srv"

[hosts.web]
hostname = "127.0.0.1"
port = {port}
[tasks.t]
on = "web"
commands = [
"""


@dataclass(frozen=True)
class Case:
    id: str
    step: str
    key: str  # the key the message is about, after "tasks.t.commands[N]"
    message: str  # what it says (a part of it, for messages holding a library's words)
    stage: str = "model"  # model, steps, or alone: which config it is in (see the docstring)
    where: str | None = None  # the file and line it points at, when not the step's own

    def __str__(self) -> str:
        return self.id


P = 'path = "/srv/x"'
CASES = [
    Case(
        "unknown-kind",
        f'{{ ensure = "fle", {P} }}',
        ".ensure",
        "unknown kind 'fle'; expected one of dir, file, link, line, block, absent",
    ),
    Case(
        "unknown-parameter",
        f'{{ ensure = "link", {P}, to = "/y", mode = "0644" }}',
        ".mode",
        "unknown key",
    ),
    Case(
        "wrong-type",
        f'{{ ensure = "dir", {P}, mode = 755 }}',
        ".mode",
        "expected a string, got 755",
    ),
    Case(
        "wrong-type-bool",
        f'{{ ensure = "file", {P}, content = "a", backup = "yes" }}',
        ".backup",
        "expected true or false, got the string 'yes'",
    ),
    Case(
        "content-and-source",
        f'{{ ensure = "file", {P}, content = "a", source = "files/a.txt" }}',
        "",
        "give exactly one of content, source or template (got content and source)",
    ),
    Case(
        "no-content",
        f'{{ ensure = "file", {P} }}',
        "",
        "give exactly one of content, source or template (got none of them)",
    ),
    Case(
        "missing-source",
        f'{{ ensure = "file", {P}, source = "files/nope.bin" }}',
        ".source",
        "files/nope.bin does not exist (relative to the config's directory)",
        "steps",
    ),
    Case(
        "missing-template",
        f'{{ ensure = "file", {P}, template = "t/nope.j2" }}',
        ".template",
        "t/nope.j2 does not exist (relative to the config's directory)",
        "steps",
    ),
    Case(
        "relative-path",
        '{ ensure = "dir", path = "srv/x" }',
        ".path",
        "must be an absolute path on the host, such as '/srv/x'",
    ),
    Case(
        "non-octal-mode",
        f'{{ ensure = "dir", {P}, mode = "0789" }}',
        ".mode",
        "expected an octal mode of 3 or 4 digits, such as '0644'",
    ),
    Case(
        "nul-in-content",
        f'{{ ensure = "file", {P}, content = "a\\u0000b" }}',
        ".content",
        "must not contain a NUL byte",
    ),
    Case(
        "nul-in-path",
        '{ ensure = "absent", path = "/srv/a\\u0000b" }',
        ".path",
        "must not contain a NUL byte",
    ),
    Case(
        "line-with-newline",
        f'{{ ensure = "line", {P}, line = "a\\nb" }}',
        ".line",
        "must be one line; use a block step for several",
    ),
    Case(
        "bad-regexp",
        f'{{ ensure = "line", {P}, line = "a", regexp = "(" }}',
        ".regexp",
        "not a valid regular expression: missing ), unterminated subpattern",
    ),
    Case(
        "marker-without-mark",
        f'{{ ensure = "block", {P}, marker = "# x" }}',
        ".marker",
        "must be one line holding {mark}, such as '# {mark} app settings'",
    ),
    Case(
        "validate-without-file",
        f'{{ ensure = "file", {P}, content = "a", validate = "nginx -t" }}',
        ".validate",
        "must name the new file as %s, such as 'nginx -t -c %s'",
    ),
    Case(
        "template-syntax-error",
        f'{{ ensure = "file", {P}, template = "t/bad.j2" }}',
        ".template",
        "t/bad.j2:3: template syntax error: ",
        "steps",
    ),
    Case(
        "undefined-var",
        '{ ensure = "file", path = "${var:nope}/x", content = "a" }',
        ".path",
        "${var:nope} is not defined for web; set nope in the vars of the host, one of its "
        "groups, the task or [settings]",
        "steps",
    ),
    Case(
        "undefined-var-in-content",
        f'{{ ensure = "file", {P}, content = "v=${{var:nope}}" }}',
        ".content",
        "${var:nope} is not defined for web",
        "steps",
    ),
    Case(
        "undefined-in-template",
        f'{{ ensure = "file", {P}, template = "t/undef.j2" }}',
        ".template",
        "UndefinedError: 'nope' is undefined (rendering it for web)",
        "alone",
        where="t/undef.j2:2:",
    ),
    Case(
        # the path is absolute as written only once its variable is filled: the check must
        # look at it then, rather than let a deploy write relative to the login's home
        "relative-once-filled",
        '{ ensure = "dir", path = "${var:rel}/x" }',
        ".path",
        "must be an absolute path on the host",
        "alone",
    ),
]


def listener() -> socket.socket:
    """Where the config's host points: a socket that accepts, and never answers."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    return sock


def connections(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            conn, _ = sock.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


@dataclass(frozen=True)
class Reported:
    result: subprocess.CompletedProcess[str]
    connections: int
    runs: list[Path]
    #: each case's step index in its config
    index: dict[str, int]


def run_stage(where: Path, cases: list[Case]) -> Reported:
    work = where / "work"
    (work / "t").mkdir(parents=True)
    (work / "t" / "bad.j2").write_text("ok\nok\n{{ x + }}\n")
    (work / "t" / "undef.j2").write_text("root={{ root }}\nv={{ nope }}\n")
    (work / "files").mkdir()
    (work / "files" / "a.txt").write_text("a\n")
    nexus = Nexus(cwd=work, state=where / "state", env=clean_env(where / "state"))
    with listener() as sock:
        text = HEAD.format(port=sock.getsockname()[1])
        text += "".join(f"  {case.step},\n" for case in cases) + "]\n"
        (work / "nexus.toml").write_text(text)
        result = nexus("--headless", "run", "--plain")
        return Reported(
            result, connections(sock), nexus.runs(), {case.id: i for i, case in enumerate(cases)}
        )


def assert_config_errors(where: Path, cases: list[Case]) -> None:
    """Every case of one config reported on its own line and key, exit 2, nothing run or
    connected to: what each kind's test file asks of its bad steps."""
    done = run_stage(where, cases)
    result = done.result
    assert result.returncode == 2, result.stdout + result.stderr
    no_traceback(result)
    for index, case in enumerate(cases):
        at = f"nexus.toml:{FIRST_LINE + index}:"
        key = f": tasks.t.commands[{index}]{case.key}: "
        lines = [line for line in result.stderr.splitlines() if line.startswith(at)]
        assert any(key in line and case.message in line.partition(key)[2] for line in lines), (
            case.id,
            result.stderr,
        )
    assert done.runs == []
    assert done.connections == 0


@pytest.fixture(scope="module")
def reported(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Reported]:
    """Each config run once: the model's, the steps', and each case that stands alone."""
    stages: dict[str, list[Case]] = {}
    for case in CASES:
        stages.setdefault(case.id if case.stage == "alone" else case.stage, []).append(case)
    return {
        case.id: done
        for name, cases in stages.items()
        for done in [run_stage(tmp_path_factory.mktemp(name), cases)]
        for case in cases
    }


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_bad_step_is_a_config_error_before_anything_connects(
    reported: dict[str, Reported], case: Case
) -> None:
    done = reported[case.id]
    result = done.result
    assert result.returncode == 2, result.stdout + result.stderr
    no_traceback(result)
    index = done.index[case.id]
    where = case.where or f"nexus.toml:{FIRST_LINE + index}:"
    key = f": tasks.t.commands[{index}]{case.key}: "
    lines = [line for line in result.stderr.splitlines() if line.startswith(where) and key in line]
    assert any(case.message in line.partition(key)[2] for line in lines), result.stderr
    assert done.runs == []
    assert done.connections == 0
