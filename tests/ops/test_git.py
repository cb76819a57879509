"""``git`` against real repositories the tests make with ``git init`` (commits, a branch, an
annotated tag), served by path and by ``file://`` URL, cloned on this machine and over sshd.

A clone converges and a second run sends only its probe; a new upstream commit moves it, and
only then; a tag (peeled), a full and a short commit id and a branch each check out the
commit they name; local changes to tracked files fail the step (nothing changed) unless
``force`` discards them, untracked files staying; root works in a clone another user owns
(``safe.directory``); ``--check`` changes nothing and predicts the real run word for word;
a ``dest`` that is not a clone of the repo is a clear failure; a bad step is a config error on
its key and line, exit 2.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from nexus_engine.ops.git import Git
from tests.e2e.conftest import Nexus
from tests.injection import CANARY, HOSTILE
from tests.ops.support import (
    CHECK,
    PROBE_TOOLS,
    Place,
    changing_commands,
    done_words,
    probes,
    run_config,
    steps_with_only,
    write_config,
)
from tests.ops.test_config_errors import Case, assert_config_errors
from tests.ops.test_hostile import EXAMPLES, Lab, component

R = "${var:root}"
#: the tests' own git identity, and no user's or system's config; root reads every clone
GIT_ENV = {
    "PATH": os.environ["PATH"],
    "HOME": "/nonexistent",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_AUTHOR_NAME": "Nexus Test",
    "GIT_AUTHOR_EMAIL": "test@nexus.invalid",
    "GIT_COMMITTER_NAME": "Nexus Test",
    "GIT_COMMITTER_EMAIL": "test@nexus.invalid",
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "safe.directory",
    "GIT_CONFIG_VALUE_0": "*",
}


def git(where: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(where), *args], env=GIT_ENV, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


class Upstream:
    """A repository with a history: ``one`` (tagged ``v1``, annotated), ``two`` on ``main``,
    and ``dev`` branching off ``one``; owned by the place's login, who clones it."""

    def __init__(self, path: Path, give: Callable[[Path], None]) -> None:
        self.path, self.give = path, give
        path.mkdir()
        git(path, "init", "-q", "-b", "main")
        self.one = self.commit("one")
        git(path, "tag", "-a", "v1", "-m", "release 1")
        git(path, "checkout", "-q", "-b", "dev")
        self.dev = self.commit("dev work")
        git(path, "checkout", "-q", "main")
        self.two = self.commit("two")

    def commit(self, text: str) -> str:
        (self.path / "README").write_text(f"{text}\n")
        git(self.path, "add", "README")
        git(self.path, "commit", "-q", "-m", text)
        self.give(self.path)
        return git(self.path, "rev-parse", "HEAD")

    @property
    def url(self) -> str:
        return f"file://{self.path}"


@pytest.fixture
def upstream(place: Place) -> Upstream:
    return Upstream(place.root.parent / "upstream", place.give)


def step(repo: str, **keys: Any) -> dict[str, Any]:
    return {"ensure": "git", "repo": repo, "dest": f"{R}/app", **keys}


async def converge(place: Place, project: Path, state: Path, *commands: dict[str, Any]) -> Any:
    config = write_config(project / "nexus.toml", place.config(commands))
    return await run_config(config, state=state)


async def test_a_clone_converges_then_follows_its_upstream(
    place: Place, upstream: Upstream, project: Path, state: Path
) -> None:
    app, repo = place.root / "app", str(upstream.path)
    first = await converge(place, project, state, step(repo))
    assert first.succeeded, first.describe()
    assert first.summaries == [
        f"created {app} (a clone of {repo} at branch main ({upstream.two[:12]}))"
    ]
    assert git(app, "rev-parse", "HEAD") == upstream.two
    assert git(app, "symbolic-ref", "--short", "HEAD") == "main"
    assert (app / "README").read_text() == "two\n"
    assert os.stat(app).st_uid == place.uid

    second = await converge(place, project, state, step(repo))
    assert second.summaries == [f"ok: {app} is at branch main ({upstream.two[:12]})"]
    assert changing_commands(second) == []
    assert len(probes(second)) == 1

    three = upstream.commit("three")
    third = await converge(place, project, state, step(repo))
    assert third.summaries == [
        f"updated {app} (from {upstream.two[:12]} to branch main ({three[:12]}))"
    ]
    assert git(app, "rev-parse", "HEAD") == three
    assert (app / "README").read_text() == "three\n"

    fourth = await converge(place, project, state, step(repo))
    assert fourth.changes == ["ok"], fourth.describe()
    assert changing_commands(fourth) == []


async def test_a_tag_a_commit_a_short_commit_and_a_branch(
    place: Place, upstream: Upstream, project: Path, state: Path
) -> None:
    app, one, dev = place.root / "app", upstream.one, upstream.dev
    versions = [
        ("v1", one, f"created {app} (a clone of {upstream.url} at tag v1 ({one[:12]}))"),
        (dev, dev, f"updated {app} (from {one[:12]} to commit {dev[:12]})"),
        (one[:8], one, f"updated {app} (from {dev[:12]} to commit {one[:12]})"),
        ("dev", dev, f"updated {app} (from {one[:12]} to branch dev ({dev[:12]}))"),
    ]
    for version, commit, words in versions:
        first = await converge(place, project, state, step(upstream.url, version=version))
        assert first.summaries == [words], (version, first.describe())
        assert git(app, "rev-parse", "HEAD") == commit
        again = await converge(place, project, state, step(upstream.url, version=version))
        assert again.changes == ["ok"], (version, again.describe())
        assert changing_commands(again) == []
    assert git(app, "symbolic-ref", "--short", "HEAD") == "dev"


async def test_local_changes_fail_the_step_unless_force_discards_them(
    place: Place, upstream: Upstream, project: Path, state: Path
) -> None:
    app, repo = place.root / "app", upstream.url
    assert (await converge(place, project, state, step(repo))).succeeded
    (app / "README").write_text("edited here\n")
    (app / "notes.txt").write_text("mine\n")
    place.give(app)
    three = upstream.commit("three")

    refused = await converge(place, project, state, step(repo))
    assert refused.changes == [None], refused.describe()
    assert refused.reasons == [
        f"{app} has local changes (README); force = true discards them; nothing was changed"
    ]
    assert git(app, "rev-parse", "HEAD") == upstream.two
    assert (app / "README").read_text() == "edited here\n"

    forced = await converge(place, project, state, step(repo, force=True))
    assert forced.summaries == [
        f"updated {app} (from {upstream.two[:12]} to branch main ({three[:12]}), "
        "its local changes discarded)"
    ]
    assert git(app, "rev-parse", "HEAD") == three
    assert (app / "README").read_text() == "three\n"
    assert (app / "notes.txt").read_text() == "mine\n"  # untracked: not a local change
    again = await converge(place, project, state, step(repo, force=True))
    assert again.changes == ["ok"], again.describe()


async def test_check_predicts_the_real_run_and_changes_nothing(
    place: Place, upstream: Upstream, project: Path, state: Path
) -> None:
    commands = [step(upstream.url), step(upstream.url, dest=f"{R}/tagged", version="v1")]
    config = write_config(project / "nexus.toml", place.config(commands))
    for round in range(2):  # from nothing, then from clones an upstream commit left behind
        before = sorted(path.name for path in place.root.iterdir())
        heads = [git(place.root / name, "rev-parse", "HEAD") for name in before]
        checked = await run_config(config, state=state, mode=CHECK)
        assert checked.succeeded, checked.describe()
        assert changing_commands(checked) == []
        assert sorted(path.name for path in place.root.iterdir()) == before
        assert [git(place.root / name, "rev-parse", "HEAD") for name in before] == heads
        real = await run_config(config, state=state)
        assert real.succeeded, real.describe()
        predicted = [(s.change, done_words(s.summary or "")) for s in checked.steps]
        assert predicted == [(s.change, s.summary) for s in real.steps]
        upstream.commit(f"next {round}")
    assert real.changes == ["changed", "ok"]


async def test_depth_makes_a_shallow_clone_that_still_follows(
    place: Place, upstream: Upstream, project: Path, state: Path
) -> None:
    app = place.root / "app"
    first = await converge(place, project, state, step(upstream.url, depth=1))
    assert first.succeeded, first.describe()
    assert git(app, "rev-parse", "--is-shallow-repository") == "true"
    assert git(app, "rev-list", "--count", "HEAD") == "1"
    three = upstream.commit("three")
    moved = await converge(place, project, state, step(upstream.url, depth=1))
    assert moved.changes == ["changed"], moved.describe()
    assert git(app, "rev-parse", "HEAD") == three
    again = await converge(place, project, state, step(upstream.url, depth=1))
    assert again.changes == ["ok"], again.describe()


async def test_root_works_in_a_clone_another_user_owns(
    place: Place, upstream: Upstream, project: Path, state: Path
) -> None:
    """``-c safe.directory=DEST``: sudo's root trusts the clone without a global config."""
    app = place.root / "app"
    assert (await converge(place, project, state, step(upstream.url))).succeeded
    if place.kind == "local":  # the login is root here: hand the clone to someone else
        nobody = 65534
        for item in [app, *app.rglob("*")]:
            os.lchown(item, nobody, nobody)
    as_root = step(upstream.url, sudo=True)
    ok = await converge(place, project, state, as_root)
    assert ok.changes == ["ok"], ok.describe()
    three = upstream.commit("three")
    moved = await converge(place, project, state, as_root)
    assert moved.changes == ["changed"], moved.describe()
    assert git(app, "rev-parse", "HEAD") == three


async def test_what_is_not_a_clone_of_the_repo_fails_and_stays(
    here: Place, project: Path, state: Path
) -> None:
    up = Upstream(here.root.parent / "upstream", here.give)
    other = Upstream(here.root.parent / "other", here.give)
    root = here.root
    (root / "plain").mkdir()
    (root / "plain" / "keep").write_text("x")
    (root / "file").write_text("x")
    git(root, "clone", "-q", str(other.path), "elsewhere")
    cases = [
        (step(str(up.path), dest=f"{R}/plain"), f"{root}/plain is not a git clone (no .git)"),
        (step(str(up.path), dest=f"{R}/file"), f"{root}/file is not a directory"),
        (
            step(str(up.path), dest=f"{R}/elsewhere"),
            f"{root}/elsewhere is a clone of {str(other.path)!r}, not of {str(up.path)!r}",
        ),
        (step(str(up.path), version="nope"), f"{up.path} has no branch or tag 'nope'"),
        (step(f"{root}/missing"), f"cannot read {root}/missing: fatal: "),
    ]
    for command, reason in cases:
        done = await converge(here, project, state, command)
        assert done.changes == [None], done.describe()
        (said,) = done.reasons
        assert said is not None
        assert said.startswith(reason), said
        assert said.endswith("; nothing was changed"), said
    assert (root / "plain" / "keep").read_text() == "x"
    assert not (root / "app").exists()


GIT = 'ensure = "git", repo = "/srv/repo.git"'
BAD = [
    Case("dest-relative", f'{{ {GIT}, dest = "srv/app" }}', ".dest", "must be an absolute path"),
    Case("depth-zero", f'{{ {GIT}, dest = "/srv/app", depth = 0 }}', ".depth",
         "expected an integer ≥ 1, got 0"),
    Case("depth-type", f'{{ {GIT}, dest = "/srv/app", depth = "1" }}', ".depth",
         "expected an integer"),
    Case("version-option", f'{{ {GIT}, dest = "/srv/app", version = "-x" }}', ".version",
         "must not start with '-'"),
    Case("unknown-key", f'{{ {GIT}, dest = "/srv/app", branch = "main" }}', ".branch", ""),
    Case("no-dest", f"{{ {GIT} }}", ".dest", ""),
]  # fmt: skip


@pytest.mark.e2e
def test_bad_git_steps_are_config_errors(tmp_path: Path) -> None:
    assert_config_errors(tmp_path, BAD)


#: branch names git takes that hold shell syntax (``git check-ref-format --branch`` agrees)
HOSTILE_BRANCHES = [
    f"$(touch{CANARY})",
    f"`touch{CANARY}`",
    f";touch{CANARY}",
    '\'q"d"',
    "a|b&&c>d<e",
    "$V${V}}",
    "é☃",
]


@pytest.mark.sshd
@pytest.mark.usefixtures("in_ssh_home")
@EXAMPLES
@example(folder="\n", dest="-n", branch=HOSTILE_BRANCHES[0])
@given(folder=HOSTILE, dest=HOSTILE, branch=st.sampled_from(HOSTILE_BRANCHES))
async def test_hostile_repo_dest_and_version_are_taken_literally(
    host: Lab, folder: str, dest: str, branch: str
) -> None:
    root = host.fresh_root()
    up = Upstream(root / component("up", folder), host.give)
    git(up.path, "branch", branch, up.dev)
    host.give(up.path)
    clone = component("d", dest)
    command = {"ensure": "git", "repo": "${var:repo}", "dest": f"{R}/{clone}"}
    command["version"] = "${var:v}"
    done = await host.run(root, [command], repo=str(up.path), v=branch)
    assert done.changes == ["changed"]
    assert git(root / clone, "rev-parse", "HEAD") == up.dev
    assert git(root / clone, "symbolic-ref", "--short", "HEAD") == branch
    again = await host.run(root, [command], repo=str(up.path), v=branch)
    assert again.changes == ["ok"]


@pytest.mark.e2e
def test_a_host_without_git_fails_the_step_naming_it(nexus: Nexus, tmp_path: Path) -> None:
    commands = '[{ ensure = "git", repo = "/srv/r", dest = "/srv/app" }]'
    steps = steps_with_only(nexus, tmp_path, commands, (*PROBE_TOOLS, "ls"))
    assert steps == [("failed", "the host lacks git, which git steps need; nothing was changed")]


def test_a_variable_that_makes_dest_relative_fails_the_step() -> None:
    assessment = Git("/srv/repo", "srv/app").assess({"dest": "absent"})
    assert assessment.action is None
    assert assessment.failure == (
        "dest 'srv/app' is not an absolute path on the host; nothing was changed"
    )
