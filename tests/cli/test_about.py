"""``nexus version`` says which build is running: wheel, zipapp, directory or source checkout.
The builds themselves are checked from the artefacts (tests/dist, ``just dist-check``)."""

from __future__ import annotations

import sys
import zipfile
import zipimport
from pathlib import Path
from types import SimpleNamespace

import pytest

from nexus_cli.about import (
    DIRECTORY,
    SOURCE,
    WHEEL,
    ZIPAPP,
    build_kind,
    installed_version,
)


def test_a_frozen_program_is_the_directory_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert build_kind() == DIRECTORY


def test_a_main_from_a_zip_is_the_zipapp(tmp_path: Path) -> None:
    pyz = tmp_path / "nexus.pyz"
    with zipfile.ZipFile(pyz, "w") as archive:
        archive.writestr("__main__.py", "")
    main = SimpleNamespace(__loader__=zipimport.zipimporter(str(pyz)))
    assert build_kind(main, tmp_path) == ZIPAPP


def test_beside_a_pyproject_is_a_checkout_else_a_wheel(tmp_path: Path) -> None:
    main = SimpleNamespace(__loader__=None)
    assert build_kind(main, tmp_path) == WHEEL  # site-packages: no pyproject.toml
    (tmp_path / "pyproject.toml").write_text("")
    assert build_kind(main, tmp_path) == SOURCE
    assert build_kind() == SOURCE  # these tests run from the checkout


def test_installed_version_reads_the_dist_info_name(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    (first / "asyncssh").mkdir(parents=True)  # the package itself says no version
    (first / "asyncssh_extra-9.9.dist-info").mkdir()  # another distribution
    (second / "asyncssh-2.24.1.dist-info").mkdir(parents=True)
    (tmp_path / "not-a-dir").write_text("")
    path = ["", str(tmp_path / "missing"), str(tmp_path / "not-a-dir"), str(first), str(second)]
    assert installed_version("asyncssh", path) == "2.24.1"
    assert installed_version("AsyncSSH", path) == "2.24.1"
    assert installed_version("nexus-runner", path) == "unknown"
    (first / "nexus_runner-0.1.0.dist-info").mkdir()  # a wheel's name: "-" became "_"
    assert installed_version("nexus-runner", path) == "0.1.0"


def test_an_unreadable_path_entry_is_passed_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(path: str) -> list[str]:
        raise PermissionError(path)

    monkeypatch.setattr("nexus_cli.about.os.listdir", refuse)
    assert installed_version("asyncssh", [str(tmp_path)]) == "unknown"
