"""``python -m benchmarks [--quick] [--json FILE]``: run every benchmark, print one table."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import (
    durability,
    ensure,
    fleet,
    local_runs,
    memory,
    planning,
    ssh,
    startup,
    system,
    tui,
)
from benchmarks.common import Profile, Row
from tests.ssh.harness import MAX_HOSTS

Topic = Callable[[Profile, Path], list[Row]]
TOPICS: dict[str, Topic] = {
    "planning": planning.run,
    "local_runs": local_runs.run,
    "memory": memory.run,
    "tui": tui.run,
    "ssh": ssh.run,
    "startup": startup.run,
    "ensure": ensure.run,
    "durability": durability.run,
    "system": system.run,
    "fleet": fleet.run,
}
HEADERS = ("benchmark", "workload", "Nexus", "baseline", "ratio / note")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a fast smoke run, fewer repeats")
    parser.add_argument("--json", type=Path, metavar="FILE", help="also save the results here")
    parser.add_argument(
        "--only", choices=sorted(TOPICS), action="append", help="run only this topic (repeatable)"
    )
    parser.add_argument(
        "--hosts",
        type=int,
        metavar="N",
        help=f"lab hosts of the system topic (1..{MAX_HOSTS}; default {system.N_HOSTS}, "
        f"--quick {system.QUICK_HOSTS})",
    )
    args = parser.parse_args(argv)
    if args.hosts is not None and not 1 <= args.hosts <= MAX_HOSTS:
        parser.error(f"--hosts {args.hosts}: the sshd lab has room for 1 to {MAX_HOSTS} hosts")
    profile = Profile.smoke() if args.quick else Profile.full()
    profile = dataclasses.replace(profile, hosts=args.hosts)

    load_before = _load()
    started = time.perf_counter()
    rows: list[Row] = []
    for name, topic in TOPICS.items():
        if args.only and name not in args.only:
            continue
        print(f"running {name} ...", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory(prefix=f"nexus-bench-{name}-") as workdir:
            rows += topic(profile, Path(workdir))
    elapsed = time.perf_counter() - started

    for line in render_table(rows):
        print(line)
    print()
    print("notes:")
    for line in notes(rows, profile, elapsed, (load_before, _load())):
        print(f"- {line}")
    if args.json:
        save_json(args.json, rows, profile, elapsed)
        print(f"- results saved to {args.json}")
    return 0


def render_table(rows: Sequence[Row]) -> list[str]:
    cells = [HEADERS, *(_cells(row) for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    rule = tuple("-" * width for width in widths)
    lines = []
    for line in (cells[0], rule, *cells[1:]):
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        # numbers read best right-aligned
        padded[2] = line[2].rjust(widths[2])
        lines.append(" | ".join(padded).rstrip())
    return lines


def _cells(row: Row) -> tuple[str, str, str, str, str]:
    nexus = _amount(row.nexus, row.unit)
    baseline = ""
    if row.baseline is not None:
        baseline = f"{_amount(row.baseline, row.unit)} ({row.baseline_name})"
    ratio = row.ratio_value
    extra = [f"x{ratio:.2f}" if ratio < 10 else f"x{ratio:.0f}"] if ratio is not None else []
    if row.note:
        extra.append(row.note)
    return (row.benchmark, row.workload, nexus, baseline, "; ".join(extra))


def _amount(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ms":
        return f"{value:.3f} ms" if value < 1 else f"{value:.1f} ms"
    return f"{value:.1f} {unit}"


def notes(
    rows: Sequence[Row], profile: Profile, elapsed: float, load: tuple[float, float]
) -> list[str]:
    stats: dict[str, list[str]] = {}
    for row in rows:
        benches = stats.setdefault(row.stat, [])
        if row.benchmark not in benches:
            benches.append(row.benchmark)
    return [
        "statistics (times with time.perf_counter): "
        + "; ".join(f"{stat}: {', '.join(benches)}" for stat, benches in stats.items() if stat),
        f"machine: {_cores()} cores, {_memory_gib():.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}; "
        f"1-min load average {load[0]:.2f} before, {load[1]:.2f} after (anything else "
        "running on the machine shows up in the times)",
        "ratio = Nexus / baseline (lower is better); CLI rows include interpreter start-up; "
        "Nexus and its baseline are measured in turn (A, B, A, B, ...); ms/unit beyond a 1-task "
        "run is the median of (100-task run - 1-task run) over paired runs, / 99",
        "peak RSS: ru_maxrss of RUSAGE_CHILDREN in a fresh helper process per run; it is the "
        "largest process of the tree (Nexus itself here), not a sum",
        "journals went to a temporary NEXUS_STATE_DIR, deleted afterwards",
        f"profile: {'--quick' if profile.quick else 'full'}; whole run {elapsed:.0f} s",
    ]


def save_json(path: Path, rows: Sequence[Row], profile: Profile, elapsed: float) -> None:
    document = {
        "machine": {
            "cores": _cores(),
            "memory_gib": round(_memory_gib(), 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "profile": dataclasses.asdict(profile),
        "elapsed_s": round(elapsed, 1),
        "rows": [{**dataclasses.asdict(row), "ratio_value": row.ratio_value} for row in rows],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


def _load() -> float:
    try:
        return os.getloadavg()[0]
    except OSError:
        return 0.0


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _memory_gib() -> float:
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0.0
    return pages * size / 2**30


if __name__ == "__main__":
    sys.exit(main())
