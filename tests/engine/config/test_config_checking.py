"""Checking a config without running it (``nexus validate``): values that are not set here are
notes, not errors, and a ``[keymap]`` is checked against the dashboard's binding ids, which the
caller supplies (the engine knows nothing of the dashboard)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nexus_engine.config import ConfigError, load_config

UNSET = """\
[settings]
sudo_password = "${secret:SUDO_PW}"

[hosts]
db1 = { hostname = "${env:DB_HOST}", password = "${secret:DB_PW}" }
web1 = "deploy@${env:WEB_HOST}:2222"

[tasks.deploy]
on = ["db1", "web1"]
commands = [{ cmd = "deploy --token ${secret:TOKEN}", env = { STAGE = "${env:STAGE}" } }]
"""
IDS = frozenset({"retry", "retry-all", "skip", "quit"})


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nexus.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_unset_values_are_notes_with_their_place_when_asked(tmp_path: Path) -> None:
    path = write(tmp_path, UNSET)

    loaded = load_config(path, environ={"STAGE": "prod"}, unset_as_notes=True)

    notes = [(n.line, n.key, n.message.split(" (")[0]) for n in loaded.notes]
    assert notes == [
        (2, "settings.sudo_password", "secret 'SUDO_PW' is not set"),
        (5, "hosts.db1.hostname", "environment variable 'DB_HOST' is not set"),
        (5, "hosts.db1.password", "secret 'DB_PW' is not set"),
        (6, "hosts.web1", "environment variable 'WEB_HOST' is not set"),
        (10, "tasks.deploy.commands[0].cmd", "secret 'TOKEN' is not set"),
    ]
    assert all(note.file == str(path) and note.column for note in loaded.notes)
    # the rest of the file was checked and is what it says
    assert set(loaded.config.hosts) == {"db1", "web1"}
    assert loaded.secrets == frozenset()  # a stand-in is no secret to mask


def test_a_run_still_refuses_unset_values(tmp_path: Path) -> None:
    path = write(tmp_path, UNSET)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={"STAGE": "prod"})
    assert len(info.value.problems) == 5
    assert all("is not set" in problem.message for problem in info.value.problems)


def test_other_problems_are_still_errors_beside_the_notes(tmp_path: Path) -> None:
    path = write(tmp_path, UNSET + 'deps = ["biuld"]\ntimout = 3\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, unset_as_notes=True)
    messages = [(p.key, p.message) for p in info.value.problems]
    assert messages == [
        ("tasks.deploy.deps[0]", "unknown task 'biuld'"),
        ("tasks.deploy.timout", "unknown key; did you mean 'timeout'?"),
    ]


def test_a_placeholder_is_no_finding_of_its_own(tmp_path: Path) -> None:
    """``on`` names a host from the environment: unknown until it is set, so not an error."""
    path = write(tmp_path, '[tasks.t]\non = "${env:TARGET}"\ncommands = ["x"]\n')
    loaded = load_config(path, environ={}, unset_as_notes=True)
    assert [note.key for note in loaded.notes] == ["tasks.t.on"]
    with pytest.raises(ConfigError):
        load_config(path, environ={})


def test_a_config_with_everything_set_has_no_notes(tmp_path: Path) -> None:
    environ = dict.fromkeys(("SUDO_PW", "DB_HOST", "DB_PW", "WEB_HOST", "TOKEN", "STAGE"), "x1")
    loaded = load_config(write(tmp_path, UNSET), environ=environ, unset_as_notes=True)
    assert loaded.notes == ()


def test_a_keymap_id_the_dashboard_lacks_is_an_error_with_a_suggestion(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[tasks.t]\ncommands = ["x"]\n\n[keymap]\nretry = "ctrl+r"\nretyr_all = "R"\nzap = "z"\n',
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={}, binding_ids=lambda: IDS)
    assert [(p.line, p.column, p.key, p.message) for p in info.value.problems] == [
        (6, 1, "keymap.retyr_all", "no dashboard key binding has the id 'retyr_all';"
         " did you mean 'retry-all'?"),
        (7, 1, "keymap.zap", "no dashboard key binding has the id 'zap'"),
    ]  # fmt: skip
    assert "nexus.toml:6:1: keymap.retyr_all: no dashboard key binding" in str(info.value)


def test_binding_ids_are_asked_for_only_when_there_is_a_keymap(tmp_path: Path) -> None:
    def never() -> frozenset[str]:
        raise AssertionError("no [keymap]: the dashboard need not be loaded")

    load_config(write(tmp_path, '[tasks.t]\ncommands = ["x"]\n'), environ={}, binding_ids=never)
    loaded = load_config(
        write(tmp_path, '[tasks.t]\ncommands = ["x"]\n[keymap]\nquit = "x"\n'),
        environ={},
        binding_ids=lambda: IDS,
    )
    assert loaded.config.keymap == {"quit": "x"}
    # without binding ids (a run, the dashboard's own check) a keymap is not judged here
    load_config(write(tmp_path, '[tasks.t]\ncommands = ["x"]\n[keymap]\nzap = "x"\n'), environ={})


def test_problems_as_json_name_file_line_column_key_and_message(tmp_path: Path) -> None:
    path = write(tmp_path, '[tasks.t]\ncommands = ["x"]\ntimout = 3\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert [p.as_json() for p in info.value.problems] == [
        {
            "file": str(path),
            "line": 3,
            "column": 1,
            "key": "tasks.t.timout",
            "message": "unknown key; did you mean 'timeout'?",
        }
    ]
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nowhere.toml", environ={})
    assert info.value.problems[0].as_json()["key"] is None
