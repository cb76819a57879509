"""``python release/build.py``: every artefact of a Nexus release, into ``dist/`` (``just dist``).

- the wheel and the sdist (``uv build``: the wheel is built from the sdist, which proves it whole);
- a zipapp, ``nexus-VERSION-pyXY-PLATFORM.pyz``: shiv, with bytecode compiled when it first
  unpacks (into ``~/.shiv``), for this Python and platform; its ``__main__`` first checks the
  interpreter (release/zipapp_guard.py);
- a directory build, ``nexus-VERSION-PLATFORM.tar.gz``: PyInstaller ``--onedir`` (``--onefile``
  would unpack itself on every start), with every Textual module, since Textual imports its
  widgets lazily; ``nexus`` at its top is a launcher that checks the machine (release/launcher.sh).

Both bundles are made from what the wheel installs, with nothing of the checkout or of the
developer's virtualenv: the zipapp from ``uv pip install --target``, the directory build in a
virtualenv of its own. Work files go to ``build/release/``.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
WORK = ROOT / "build" / "release"
HERE = Path(__file__).resolve().parent
# Modules the analysis finds (cffi's build helpers import setuptools; concurrent.futures names
# multiprocessing) but Nexus never imports: left in, PyInstaller's runtime hooks would import
# them at every start, 100 ms and more.
UNUSED = ("setuptools", "pkg_resources", "_distutils_hack", "distutils", "multiprocessing")


def main() -> int:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    for old in DIST.glob("*") if DIST.is_dir() else ():
        if old.is_file() and old.name != ".gitignore":
            old.unlink()
    wheel = python_packages()
    release = wheel.name.split("-")[1]
    plat = sysconfig.get_platform()  # linux-x86_64
    zipapp(wheel, DIST / f"nexus-{release}-py{_python_tag()}-{plat.replace('-', '_')}.pyz")
    directory(wheel, release, f"nexus-{release}-{plat}")
    for artefact in sorted(DIST.iterdir()):
        if artefact.name != ".gitignore":
            print(f"{artefact.stat().st_size / 2**20:8.1f} MiB  {artefact.relative_to(ROOT)}")
    return 0


def python_packages() -> Path:
    """The sdist, then the wheel built from it; the wheel's path."""
    _run([_uv(), "build", "--out-dir", str(DIST), str(ROOT)])
    (wheel,) = DIST.glob("nexus_runner-*.whl")
    return wheel


def zipapp(wheel: Path, target: Path) -> None:
    site_packages = WORK / "site-packages"
    _run([_uv(), "pip", "install", "--python", sys.executable, "--target", str(site_packages),
          str(wheel)])  # fmt: skip
    _run([sys.executable, "-m", "shiv", "--site-packages", str(site_packages), "--console-script",
          "nexus", "--compile-pyc", "--python", "/usr/bin/env python3", "--output-file",
          str(target)])  # fmt: skip
    guard_interpreter(target)


def guard_interpreter(pyz: Path) -> None:
    """Put the interpreter check (release/zipapp_guard.py) at the head of the zipapp's
    ``__main__.py``, before shiv's bootstrap: rewrite the archive, shebang and all."""
    needs = (sys.version_info[:2], sys.platform, platform.machine())
    guard = (HERE / "zipapp_guard.py").read_text(encoding="utf-8")
    check = f"nexus_check_interpreter{needs!r}\n"
    data = pyz.read_bytes()
    shebang, _, _ = data.partition(b"\n")
    rewritten = pyz.with_suffix(".tmp")
    with zipfile.ZipFile(pyz) as old, rewritten.open("wb") as out:
        out.write(shebang + b"\n")
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as new:
            for info in old.infolist():
                content = old.read(info)
                if info.filename == "__main__.py":
                    content = f"{guard}\n{check}\n".encode() + content
                new.writestr(info, content)
    rewritten.chmod(0o755)
    rewritten.replace(pyz)


def directory(wheel: Path, release: str, name: str) -> None:
    """PyInstaller's ``--onedir`` build of the wheel, in a virtualenv of its own, as
    ``NAME/lib/{nexus,_internal}`` under the launcher ``NAME/nexus``, tarred."""
    venv = WORK / "venv"
    _run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)])
    python = venv / "bin" / "python"
    _run([_uv(), "pip", "install", "--quiet", "--python", str(python), str(wheel),
          f"pyinstaller=={version('pyinstaller')}"])  # fmt: skip
    frozen = WORK / "pyinstaller"
    _run([str(python), "-m", "PyInstaller", "--noconfirm", "--clean", "--log-level", "WARN",
          "--onedir", "--name", "nexus", "--distpath", str(frozen), "--workpath",
          str(WORK / "pyinstaller-work"), "--specpath", str(WORK),
          "--collect-submodules", "textual",  # widgets are imported lazily, by name
          "--collect-data", "textual", "--collect-data", "nexus_tui",  # app.tcss
          "--copy-metadata", "asyncssh",  # `nexus version` reads its dist-info
          *(arg for module in UNUSED for arg in ("--exclude-module", module)),
          "--strip",  # symbols: a Python built from source carries 20 MB of them in libpython
          str(HERE / "frozen_main.py")])  # fmt: skip
    top = WORK / name
    shutil.move(frozen / "nexus", top / "lib")
    launcher = (HERE / "launcher.sh").read_text(encoding="utf-8")
    libc_major, libc_minor = platform.libc_ver()[1].split(".")[:2]
    for key, value in {
        "SYSTEM": platform.system(),  # as `uname -s` says it
        "MACHINE": platform.machine(),
        "GLIBC": f"{libc_major}.{libc_minor}",
        "GLIBC_MAJOR": libc_major,
        "GLIBC_MINOR": libc_minor,
        "VERSION": release,
    }.items():
        launcher = launcher.replace(f"@{key}@", value)
    (top / "nexus").write_text(launcher, encoding="utf-8")
    (top / "nexus").chmod(0o755)
    with tarfile.open(DIST / f"{name}.tar.gz", "w:gz") as tar:
        tar.add(top, arcname=name)


def _python_tag() -> str:
    return f"{sys.version_info[0]}{sys.version_info[1]}"


def _uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent))
    if found is None:
        raise SystemExit("uv is missing: `just dist` installs it (pip install -e '.[dist]')")
    return found


def _run(argv: list[str]) -> None:
    print("+", " ".join(argv), flush=True)
    subprocess.run(argv, check=True)


if __name__ == "__main__":
    sys.exit(main())
