"""The engine and its headless path never import Textual: checked in a fresh interpreter,
because a deferred import is invisible to static tools."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import sys
from pathlib import Path
import nexus_engine, nexus_cli, nexus_cli.run, nexus_engine.session
import nexus_engine.runner, nexus_engine.journal, nexus_engine.render.text
from nexus_cli import main
code = main(["-c", sys.argv[1], "--headless", "run"])
loaded = sorted(m for m in sys.modules if m == "textual" or m.startswith(("textual.", "nexus_tui")))
print(code, loaded)
"""


def test_the_engine_and_a_headless_run_never_import_textual(tmp_path: Path) -> None:
    config = tmp_path / "nexus.toml"
    config.write_text('[tasks.hello]\ncommands = ["echo hello"]\n')
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(config)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={"NEXUS_STATE_DIR": str(tmp_path / "state"), "PATH": "/usr/bin:/bin"},
        cwd=Path(__file__).resolve().parents[2],
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "0 []"
