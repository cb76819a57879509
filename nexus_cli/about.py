"""What is running, for ``nexus version``: which build of Nexus, on which Python, with which
asyncssh. Cheap on purpose: nothing here imports asyncssh (or ``importlib.metadata``, which pulls
in ``email`` and ``zipfile``); a version is read off the name of the ``*.dist-info`` directory
that every installer (pip, pipx, uv, shiv) leaves, and that the directory build carries."""

from __future__ import annotations

import os
import platform
import sys
import zipimport
from collections.abc import Iterable
from pathlib import Path

from nexus_engine import __version__

WHEEL = "wheel"  # pip, pipx or uv installed the wheel (or built one from the sdist or a checkout)
ZIPAPP = "zipapp"  # the single-file .pyz (shiv)
DIRECTORY = "directory"  # the PyInstaller directory build (.tar.gz)
SOURCE = "source checkout"  # an editable install, or `python -m nexus_cli` in the checkout


def build_kind(main: object = None, package: Path | None = None) -> str:
    """Which build this is. ``main`` and ``package`` stand in for ``sys.modules['__main__']`` and
    the folder holding ``nexus_cli``: PyInstaller marks its programs ``sys.frozen``; a zipapp's
    ``__main__`` comes out of the zip; only a checkout has pyproject.toml beside the packages."""
    if getattr(sys, "frozen", False):
        return DIRECTORY
    main = sys.modules.get("__main__") if main is None else main
    if isinstance(getattr(main, "__loader__", None), zipimport.zipimporter):
        return ZIPAPP
    package = Path(__file__).resolve().parents[1] if package is None else package
    return SOURCE if (package / "pyproject.toml").is_file() else WHEEL


def installed_version(name: str, path: Iterable[str] | None = None) -> str:
    """The version of the distribution ``name`` first found on ``path`` (``sys.path``), from
    its ``NAME-VERSION.dist-info`` directory; "unknown" when there is none."""
    prefix = name.lower().replace("-", "_") + "-"
    for entry in sys.path if path is None else path:
        if not entry or not os.path.isdir(entry):  # "" is the working directory: not looked at
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for found in sorted(names):
            if found.lower().startswith(prefix) and found.endswith(".dist-info"):
                return found[len(prefix) : -len(".dist-info")]
    return "unknown"


def version_line() -> str:
    """``nexus 0.1.0 (wheel; Python 3.11.2, asyncssh 2.24.1)``: one line, the version second."""
    python = platform.python_version()
    return f"nexus {__version__} ({build_kind()}; Python {python}, asyncssh {_asyncssh()})"


def _asyncssh() -> str:
    return installed_version("asyncssh")
