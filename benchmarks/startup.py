"""Start-up of each build of Nexus beside the virtualenv install: the zipapp and the directory
build from dist/ (``just dist``), each run as an operator runs it, measured in turn (venv,
zipapp, directory, venv, ...):

* ``nexus version``: the interpreter's start-up and the command line's own imports;
* a headless run of nexus.toml.example (its ``sleep 0.3`` step is in every figure);
* the zipapp's first start, which unpacks it into ``SHIV_ROOT`` (``~/.shiv``) and compiles its
  bytecode: once per machine and release, so it is not in the medians.

The zipapp and the directory build should stay within 1.5x of the virtualenv; a row over that
says so. Also the size of each artefact. Without dist/ the topic says so.

Whatever dist/ holds, the virtualenv's own start-up is held to the issue's targets beside the
bare interpreter (``python -c pass``): ``nexus version`` within 60 ms, and a headless run of one
local ``true`` within 150 ms, start to exit (imports, config, plan, journal, the run).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from functools import partial
from pathlib import Path

from benchmarks.common import (
    Profile,
    Row,
    bench_env,
    median_times,
    nexus_argv,
    run_quiet,
    timed,
    write_local_config,
)

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
EXAMPLE = ROOT / "nexus.toml.example"
LIMIT = 1.5  # the most a build may cost over the virtualenv's start-up
PYTHON = Path(sys.base_prefix) / "bin" / f"python{sys.version_info[0]}.{sys.version_info[1]}"


VERSION_TARGET_MS = 60.0
LOCAL_RUN_TARGET_MS = 150.0


def run(profile: Profile, workdir: Path) -> list[Row]:
    rows = _targets(profile, workdir)
    pyz, tarball = _one("nexus-*.pyz"), _one("nexus-*-linux-*.tar.gz")
    if pyz is None or tarball is None:
        note = "dist/ holds no zipapp and directory build: `just dist` builds them"
        return [*rows, Row("start-up", "zipapp and directory build", None, "ms", note=note)]
    return rows + _builds(profile, workdir, pyz, tarball)


def _targets(profile: Profile, workdir: Path) -> list[Row]:
    """The virtualenv's ``nexus version`` and a run of one local ``true``, measured in turn
    with the bare interpreter, each against its target."""
    config = write_local_config(workdir / "true.toml", {"one": ((), "true")})
    env = bench_env(workdir / "targets-state")
    actions = [
        partial(run_quiet, [sys.executable, "-c", "pass"], env),
        partial(run_quiet, [*nexus_argv(), "version"], env),
        partial(run_quiet, [*nexus_argv(), "-c", str(config), "--headless", "run", "-q"], env),
    ]
    bare, version, local = (t * 1000 for t in median_times(actions, max(profile.repeats, 5)))
    stat = f"median of {max(profile.repeats, 5)}"
    rows = []
    for workload, value, target in (
        ("nexus version", version, VERSION_TARGET_MS),
        ("headless run of one local `true`", local, LOCAL_RUN_TARGET_MS),
    ):
        verdict = "met" if value <= target else "NOT met"
        note = f"target ≤ {target:g} ms: {verdict}"
        rows.append(Row("start-up", workload, value, "ms", bare, "python -c pass", stat, note))
    return rows


def _builds(profile: Profile, workdir: Path, pyz: Path, tarball: Path) -> list[Row]:
    (workdir / "opt").mkdir()
    subprocess.run(["tar", "-xzf", str(tarball), "-C", str(workdir / "opt")], check=True)
    (unpacked,) = (workdir / "opt").iterdir()
    (workdir / "tmp").mkdir()  # where the example works, away from other runs of it
    env = {**bench_env(workdir / "state"), "SHIV_ROOT": str(workdir / "shiv"),
           "TMPDIR": str(workdir / "tmp")}  # fmt: skip
    builds = {
        "venv": nexus_argv(),
        "zipapp": [str(PYTHON), str(pyz)],  # a plain python3: the interpreter alone
        "directory build": [str(unpacked / "nexus")],
    }
    first = timed(partial(run_quiet, [*builds["zipapp"], "version"], env))
    config = shutil.copy(EXAMPLE, workdir / "nexus.toml")
    stat = f"median of {profile.repeats}"
    rows: list[Row] = []
    for workload, args in (
        ("nexus version", ["version"]),
        ("headless run of the example", ["-c", str(config), "--headless", "run"]),
    ):
        actions = [partial(run_quiet, [*argv, *args], env) for argv in builds.values()]
        venv, *others = (t * 1000 for t in median_times(actions, profile.repeats))
        rows.append(Row("start-up", f"{workload}: venv", venv, "ms", stat=stat))
        for name, value in zip(list(builds)[1:], others, strict=True):
            over = f"over {LIMIT}x the venv" if value > LIMIT * venv else ""
            rows.append(
                Row("start-up", f"{workload}: {name}", value, "ms", venv, "venv", stat, over)
            )
    rows.append(
        Row("start-up", "zipapp's first start (unpacks, compiles)", first * 1000, "ms",
            stat="once", note="then cached in SHIV_ROOT (~/.shiv)")
    )  # fmt: skip
    sizes = [*sorted(p for p in DIST.glob("nexus*") if p.is_file()), unpacked]
    rows += [
        Row("size", path.name + ("/ (unpacked)" if path.is_dir() else ""), _mib(path), "MiB",
            ratio=False)
        for path in sizes
    ]  # fmt: skip
    return rows


def _one(pattern: str) -> Path | None:
    found = sorted(DIST.glob(pattern))
    return found[0] if len(found) == 1 else None


def _mib(path: Path) -> float:
    files = path.rglob("*") if path.is_dir() else [path]
    return sum(f.stat().st_size for f in files if f.is_file() and not f.is_symlink()) / 2**20
