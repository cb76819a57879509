"""Peak memory (and wall time) while one local command prints 100 MB.

Each measurement runs in a fresh helper interpreter that starts the real ``nexus`` CLI with
stdout to /dev/null and reads ``getrusage(RUSAGE_CHILDREN).ru_maxrss``: the largest peak RSS of
any process it waited for, directly or through its children, so the command's own ``head``,
``tr`` or ``yes`` count too. They are tiny, and a 1-byte run gives the base to subtract.

Baselines run the same command without Nexus, under the same helper: ``> file`` for
``--format json`` (the journal must store every byte anyway), and ``| tee file | sed`` adding the
``task@host |`` prefix for ``--format text``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from benchmarks.common import Profile, Row, bench_env, nexus_argv, write_local_config

FORMATS = ("json", "text")
KIB = 1024
BASE = "1 byte (base)"
MIN_EXTRA = 0.05  # seconds: less than this over the 1-byte run is start-up noise
MB = 1_000_000

#: Runs argv[1:] with output discarded; prints its exit status, wall time and peak RSS (KiB).
HELPER = """\
import json, resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
wall = time.perf_counter() - started
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
print(json.dumps({"code": code, "wall": wall, "peak_kib": peak}))
"""


@dataclass(frozen=True, slots=True)
class Sample:
    wall: float  # seconds
    peak: float  # MB


def measure(argv: list[str], env: dict[str, str]) -> Sample:
    """One run of ``argv`` in a fresh helper process."""
    result = subprocess.run(
        [sys.executable, "-c", HELPER, *argv],
        capture_output=True,
        env=env,
        check=True,
    )
    report = json.loads(result.stdout)
    if report["code"] != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {report['code']}")
    return Sample(wall=report["wall"], peak=report["peak_kib"] * KIB / MB)


def run(profile: Profile, workdir: Path) -> list[Row]:
    state = workdir / "state"
    env = bench_env(state)
    size = profile.output_bytes
    shown = f"{size / MB:g} MB"
    line = b"0123456789abcdef\n"
    workloads = [  # label, command, bytes per line (0: no newline at all)
        (BASE, "printf x", 0),
        (f"{shown} no newline", f"head -c {size} /dev/zero | tr '\\0' 'x'", 0),
        (
            f"{shown} {len(line)}-byte lines",
            f"yes {line.decode().strip()} | head -c {size}",
            len(line),
        ),
    ]
    sink = workdir / "baseline.out"
    repeats = profile.memory_repeats
    rows: list[Row] = []
    base: dict[str, Sample] = {}
    for label, command, line_bytes in workloads:
        config = write_local_config(workdir / "output.toml", {"big": ((), command)})
        baselines = {
            "json": (f"{command} > {sink}", "sh > file"),
            "text": (f"{command} | tee {sink} | sed 's/^/big@local | /'", "tee | sed"),
        }
        for fmt in FORMATS:
            argv = [*nexus_argv(), "-c", str(config), "--headless", "run", "--format", fmt]
            script, baseline_name = baselines[fmt]
            nexus, plain = _samples([argv, ["sh", "-c", script]], env, repeats, state)
            sink.unlink(missing_ok=True)
            best = Sample(wall=min(s.wall for s in nexus), peak=max(s.peak for s in nexus))
            workload = f"{label}, --format {fmt}"
            if label == BASE:
                base[fmt] = best
                note = "the base for the rows below"
            else:
                note = f"{best.peak - base[fmt].peak:+.1f} MB over the 1-byte run"
            rows.append(
                Row(
                    "peak RSS",
                    workload,
                    best.peak,
                    "MB",
                    max(s.peak for s in plain),
                    baseline_name,
                    f"max of {repeats}",
                    note=note,
                    ratio=False,
                )
            )
            if label == BASE:
                continue
            extra = best.wall - base[fmt].wall
            if extra < MIN_EXTRA:
                note = "no slower than the 1-byte run (within noise)"
            else:
                note = f"{size / MB / extra:.0f} MB/s beyond the 1-byte run"
                if line_bytes:
                    note += f", {extra / (size / line_bytes) * 1e6:.2f} µs/line"
            rows.append(
                Row(
                    "wall time",
                    workload,
                    best.wall,
                    "s",
                    min(s.wall for s in plain),
                    baseline_name,
                    f"best of {repeats}",
                    note=note,
                )
            )
    return rows


def _samples(
    argvs: list[list[str]], env: dict[str, str], repeats: int, state: Path
) -> list[list[Sample]]:
    """``repeats`` samples of each argv, taken in turn (A, B, A, B, ...)."""
    samples: list[list[Sample]] = [[] for _ in argvs]
    for _ in range(max(repeats, 1)):
        for argv, taken in zip(argvs, samples, strict=True):
            taken.append(measure(argv, env))
            shutil.rmtree(state / "runs", ignore_errors=True)  # 100 MB of journal per run
    return samples
