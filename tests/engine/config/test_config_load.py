"""load_config against the bad-input cases T-CFG-1 … T-CFG-7 of the reliability anchors."""

from __future__ import annotations

import pickle
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nexus_engine.config import (
    MAX_CONFIG_BYTES,
    MAX_PROBLEMS,
    ConfigError,
    LoadedConfig,
    NexusConfig,
    load_config,
)
from nexus_engine.config.models import Step

MINIMAL = '[tasks.build]\ncommands = ["make"]\n'
Problems = Callable[..., ConfigError]
Load = Callable[..., LoadedConfig]

GOOD = """\
[settings]
parallel_limit = 4
retries = 1
timeout = 600          # an integer is fine where a number is expected

[hosts]
web1 = "deploy@web1.example.com:2222"
web2 = { hostname = "web2.example.com", user = "deploy", identity = "~/.ssh/id_ed25519" }
v6 = "[2001:db8::1]:22"

[groups]
web = ["web1", "web2"]
everywhere = ["web", "v6", "local"]

[tasks.build]
description = "Build it"
commands = ["make"]

[tasks.test]
deps = ["build"]
commands = ["make test", { cmd = "make lint", timeout = 60, env = { CI = "1" } }]

[tasks.deploy]
deps = ["test"]
on = ["web", "v6"]
strategy = "serial"
batch = "50%"

[[tasks.deploy.commands]]
cmd = "deploy.sh"
sudo = true
"""


def _keys(error: ConfigError) -> list[str]:
    return [problem.key for problem in error.problems]


def test_a_good_file_loads(load: Load, tmp_path: Path) -> None:
    loaded = load(GOOD)
    assert loaded.path == tmp_path / "nexus.toml"
    assert isinstance(loaded.config, NexusConfig)
    assert loaded.config.tasks["deploy"].commands == [Step(cmd="deploy.sh", sudo=True)]
    assert loaded.config.settings.parallel_limit == 4
    assert loaded.secrets == frozenset()


def test_environ_defaults_to_the_process_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEXUS_TEST_WHAT", "make all")
    path = tmp_path / "nexus.toml"
    path.write_text('[tasks.a]\ndescription = "${env:NEXUS_TEST_WHAT}"\n', encoding="utf-8")
    assert load_config(path).config.tasks["a"].description == "make all"


# -- T-CFG-1: syntax errors ---------------------------------------------------------------------


def test_syntax_error_has_line_column_source_and_caret(problems: Problems) -> None:
    error = problems('[tasks.a]\ncommands = ["make"]\ndouble-comma = [1,,2]\n')
    (problem,) = error.problems
    assert (problem.line, problem.column) == (3, 19)
    lines = problem.render().splitlines()
    assert lines[0].endswith("nexus.toml:3:19: TOML syntax error")
    assert lines[2] == "3 | double-comma = [1,,2]"
    assert lines[3] == "  |                   ^"
    assert lines[4] == "Invalid value"
    assert "Traceback" not in str(error)


def test_unclosed_inline_table_at_end_of_file(problems: Problems) -> None:
    (problem,) = problems("x = { a = 1").problems
    assert problem.line == 1
    assert problem.column is not None
    assert "inline table" in problem.message.lower()


def test_syntax_error_on_a_secret_looking_line_masks_the_value(problems: Problems) -> None:
    error = problems('sudo_password = "hunter2\n')
    assert "hunter2" not in str(error)
    assert "sudo_password = " in str(error)


# -- T-CFG-2: unknown keys ----------------------------------------------------------------------


def test_unknown_key_has_full_path_position_and_suggestion(problems: Problems) -> None:
    error = problems(
        '[tasks.deploy]\ncommands = [\n  "first",\n  { cmd = "second", timout = 10 },\n]\n'
    )
    (problem,) = error.problems
    assert problem.key == "tasks.deploy.commands[1].timout"
    assert (problem.line, problem.column) == (4, 21)
    assert problem.message == "unknown key; did you mean 'timeout'?"
    assert problem.render().endswith(
        "nexus.toml:4:21: tasks.deploy.commands[1].timout: unknown key; did you mean 'timeout'?"
    )


def test_unknown_key_in_an_array_of_tables(problems: Problems) -> None:
    error = problems(
        '[[tasks.d.commands]]\ncmd = "a"\n\n[[tasks.d.commands]]\ncmd = "b"\ntimout = 3\n'
    )
    (problem,) = error.problems
    assert (problem.key, problem.line, problem.column) == ("tasks.d.commands[1].timout", 6, 1)


def test_unknown_top_level_table(problems: Problems) -> None:
    error = problems('[task.a]\ncommands = ["x"]\n')
    assert _keys(error) == ["task", "tasks"]
    assert "did you mean 'tasks'?" in error.problems[0].message
    assert "declares no tasks" in error.problems[1].message


def test_unknown_key_in_a_host_table_suggests_a_host_field(problems: Problems) -> None:
    error = problems('[hosts]\ndb = { hostname = "db", prot = 5432 }\n' + MINIMAL)
    (problem,) = error.problems
    assert (problem.key, problem.line, problem.column) == ("hosts.db.prot", 2, 25)
    assert "did you mean 'port'?" in problem.message


# -- T-CFG-3: wrong types and ranges, all at once -----------------------------------------------


def test_wrong_types_and_ranges_are_all_reported_with_expectations(problems: Problems) -> None:
    error = problems(
        "[settings]\n"
        'timeout = "ten"\n'
        "retries = -1\n"
        'user = ""\n'
        'known_hosts = "stict"\n'
        "[tasks.a]\n"
        "batch = 0\n"
        'max_failures = "150%"\n'
        "timeout = 2.5e0\n"
        "on = 5\n"
        "commands = [true]\n"
    )
    messages = {p.key: (p.line, p.message) for p in error.problems}
    assert messages == {
        "settings.timeout": (2, "expected a number, got the string 'ten'"),
        "settings.retries": (3, "expected an integer ≥ 0, got -1"),
        "settings.user": (4, "expected a non-empty string, got an empty string"),
        "settings.known_hosts": (
            5,
            "expected 'strict', 'accept-new' or 'off', got the string 'stict';"
            " did you mean 'strict'?",
        ),
        "tasks.a.batch": (7, "expected an integer ≥ 1, got 0"),
        "tasks.a.max_failures": (
            8,
            "expected a percentage from 0% to 100%, such as '25%', got the string '150%'",
        ),
        "tasks.a.on": (10, "expected a string or an array, got 5"),
        "tasks.a.commands[0]": (11, "expected a string or a table, got true"),
    }


def test_range_message_says_number_for_float_fields(problems: Problems) -> None:
    error = problems("[settings]\nretry_delay = -0.5\n" + MINIMAL)
    assert error.problems[0].message == "expected a number ≥ 0, got -0.5"


def test_missing_required_key_points_at_the_enclosing_table(problems: Problems) -> None:
    error = problems('[hosts.db]\nuser = "pg"\n' + MINIMAL)
    (problem,) = error.problems
    assert (problem.key, problem.line, problem.column) == ("hosts.db.hostname", 1, 8)
    assert problem.message == "required key is missing"


def test_list_items_are_checked_one_by_one(problems: Problems) -> None:
    error = problems('[tasks.a]\non = ["", 1]\n')
    assert _keys(error) == ["tasks.a.on[0]", "tasks.a.on[1]"]


def test_model_validators_report_their_own_message(problems: Problems) -> None:
    error = problems('[tasks.a]\ncommands = [{ cmd = "x", env = { "1BAD" = "v" } }]\n')
    assert [(p.key, p.message) for p in error.problems] == [
        ("tasks.a.commands[0].env", "environment variable name '1BAD' is not a valid name")
    ]


def test_nul_bytes_in_commands_are_rejected(problems: Problems) -> None:
    error = problems('[tasks.a]\ncommands = ["echo \\u0000 x", { cmd = "\\u0000" }]\n')
    assert [(p.key, p.message) for p in error.problems] == [
        ("tasks.a.commands[0]", "must not contain a NUL byte"),
        ("tasks.a.commands[1].cmd", "must not contain a NUL byte"),
    ]


def test_dates_are_described_not_dumped(problems: Problems) -> None:
    error = problems("[settings]\ntimeout = 1979-05-27T07:32:00Z\n" + MINIMAL)
    assert error.problems[0].message == "expected a number, got a date-time"


# -- T-CFG-4: secrets never appear in messages ---------------------------------------------------


def test_a_substituted_secret_that_fails_validation_is_not_echoed(problems: Problems) -> None:
    error = problems(
        '[settings]\nuser = "${secret:SSH_USER}"\nknown_hosts = "${secret:POLICY}"\n'
        '[hosts]\nweb = "${secret:HOSTSPEC}"\n' + MINIMAL,
        {"SSH_USER": "", "POLICY": "hunter2-policy", "HOSTSPEC": "hunter2 host:1"},
    )
    text = str(error)
    assert "hunter2" not in text
    assert "settings.known_hosts" in text
    assert "(from '${secret:POLICY}')" in text
    assert "hosts.web: invalid host" in text


def test_a_secret_inside_a_host_string_is_not_echoed_by_the_host_parser(
    problems: Problems,
) -> None:
    error = problems('[hosts]\nweb = "web1:${secret:P}"\n' + MINIMAL, {"P": "hunter2"})
    assert "hunter2" not in str(error)
    assert "hosts.web: invalid host: port must be a number from 1 to 65535" in str(error)


def test_env_values_are_not_echoed_either(problems: Problems) -> None:
    error = problems(
        '[settings]\nknown_hosts = "${env:KH}"\n' + MINIMAL, {"KH": "private-value-123"}
    )
    assert "private-value-123" not in str(error)
    assert "got a string (from '${env:KH}')" in str(error)


def test_values_under_secret_looking_keys_are_not_echoed(problems: Problems) -> None:
    error = problems(
        '[tasks.a]\ncommands = [{ cmd = "x", env = { API_TOKEN = 12345678 } }]\n'
        '[tasks.b]\ncommands = ["y"]\nsudo_password = "hunter2"\n'
    )
    text = str(error)
    assert "12345678" not in text
    assert "hunter2" not in text
    assert "tasks.a.commands[0].env.API_TOKEN" in text
    assert "tasks.b.sudo_password: unknown key" in text


def test_a_literal_containing_a_resolved_secret_is_not_echoed(problems: Problems) -> None:
    error = problems(
        '[settings]\nknown_hosts = "topsecret"\n[tasks.a]\ncommands = ["${secret:S}"]\n',
        {"S": "topsecret"},
    )
    assert "topsecret" not in str(error)


def test_long_strings_are_not_echoed(problems: Problems) -> None:
    value = "x" * 200
    error = problems(f'[settings]\nknown_hosts = "{value}"\n' + MINIMAL)
    assert value not in str(error)
    assert "got a string" in str(error)


# -- T-CFG-5: the DAG and references -------------------------------------------------------------


def test_task_cycle_is_printed_as_a_path(problems: Problems) -> None:
    error = problems(
        '[tasks.a]\ndeps = ["c"]\n[tasks.b]\ndeps = ["a"]\n[tasks.c]\ndeps = ["b"]\n'
        '[tasks.solo]\ndeps = ["solo"]\n'
    )
    messages = [(p.key, p.message) for p in error.problems]
    assert messages == [
        ("tasks.a.deps[0]", "tasks depend on each other: a → c → b → a"),
        ("tasks.solo.deps[0]", "tasks depend on each other: solo → solo"),
    ]
    assert error.problems[0].line == 2


def test_unknown_dependency_has_suggestion_and_position(problems: Problems) -> None:
    error = problems('[tasks.test]\n[tasks.deploy]\ndeps = ["build", "tset"]\n')
    assert [(p.key, p.line, p.column, p.message) for p in error.problems] == [
        ("tasks.deploy.deps[0]", 3, 9, "unknown task 'build'"),
        ("tasks.deploy.deps[1]", 3, 18, "unknown task 'tset'; did you mean 'test'?"),
    ]


def test_unknown_hosts_and_groups_are_reported_everywhere(problems: Problems) -> None:
    error = problems(
        '[hosts]\nweb1 = "web1"\n[groups]\nweb = ["web1", "wbe2"]\n'
        '[tasks.a]\non = "wbe"\n[tasks.b]\non = ["web", "web11"]\n'
    )
    assert [(p.key, p.message) for p in error.problems] == [
        ("groups.web[1]", "unknown host or group 'wbe2'"),  # nothing close enough
        ("tasks.a.on", "unknown host or group 'wbe'; did you mean 'web'?"),
        ("tasks.b.on[1]", "unknown host or group 'web11'; did you mean 'web1'?"),
    ]


def test_group_cycles_are_named(problems: Problems) -> None:
    error = problems('[groups]\na = ["b"]\nb = ["c"]\nc = ["a"]\n' + MINIMAL)
    assert [(p.key, p.message) for p in error.problems] == [
        ("groups.a[0]", "groups include each other: a → b → c → a"),
    ]


def test_names_are_checked(problems: Problems) -> None:
    error = problems(
        '[hosts]\nlocal = "x"\nweb = "web"\n"bad name" = "y"\n'
        '[groups]\nweb = ["local"]\nlocal = []\n' + MINIMAL
    )
    assert [(p.key, p.message.split(";")[0]) for p in error.problems] == [
        ("hosts.local", "'local' is reserved for the controller machine"),
        (
            'hosts."bad name"',
            "name 'bad name' may contain only letters, digits, '_', '.' and '-',"
            " and must not start with '.' or '-'",
        ),
        ("groups.web", "'web' is both a host and a group"),
        ("groups.local", "'local' is reserved for the controller machine"),
    ]


def test_bad_host_strings_are_reported(problems: Problems) -> None:
    error = problems(
        '[hosts]\na = "web:0"\nb = "2001:db8::1:99999"\nc = { hostname = "[::1]" }\n' + MINIMAL
    )
    assert [(p.key, p.line) for p in error.problems] == [
        ("hosts.a", 2),
        ("hosts.b", 3),
        ("hosts.c.hostname", 4),
    ]
    assert all(p.message.startswith("invalid host: ") for p in error.problems)


def test_every_kind_of_problem_is_reported_in_one_error(problems: Problems) -> None:
    error = problems(
        '[settings]\nretries = "x"\n[hosts]\nweb = "w:0"\n'
        '[tasks.a]\ndeps = ["b", "nope"]\ntimout = 1\n[tasks.b]\ndeps = ["a"]\n'
        'commands = ["${env:UNSET}"]\n'
    )
    assert _keys(error) == [
        "settings.retries",
        "hosts.web",
        "tasks.a.deps[0]",
        "tasks.a.deps[1]",
        "tasks.a.timout",
        "tasks.b.commands[0]",
    ]
    assert len(str(error).splitlines()) == 6


def test_one_mistake_is_reported_once(problems: Problems) -> None:
    """An empty host string fails both pydantic and the host parser; the user sees one line."""
    error = problems('[hosts]\nweb = ""\n' + MINIMAL)
    assert [(p.key, p.message) for p in error.problems] == [
        ("hosts.web", "expected a non-empty string, got an empty string")
    ]


# -- T-CFG-7: nothing selected is an error -------------------------------------------------------


def test_zero_host_group_and_selection(problems: Problems) -> None:
    error = problems(
        '[groups]\nempty = []\nouter = ["empty"]\n'
        '[tasks.a]\non = "outer"\ncommands = ["x"]\n[tasks.b]\non = []\n'
    )
    assert [(p.key, p.message) for p in error.problems] == [
        ("groups.empty", "group 'empty' resolves to zero hosts"),
        ("groups.outer", "group 'outer' resolves to zero hosts"),
        ("tasks.a.on", "`on` selects zero hosts: 'outer'"),
        ("tasks.b.on", "`on` lists no hosts; name a host, a group or 'local'"),
    ]


def test_no_tasks_is_an_error(problems: Problems) -> None:
    (problem,) = problems("[settings]\nretries = 1\n").problems
    assert problem.message.startswith("nexus.toml declares no tasks")
    assert problem.line is None
    (problem,) = problems("tasks = {}\n").problems
    assert (problem.key, problem.line) == ("tasks", 1)


# -- T-CFG-6: files that are not config files at all ---------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found") as info:
        load_config(tmp_path / "nope.toml", {})
    assert info.value.problems[0].file == str(tmp_path / "nope.toml")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_config(tmp_path, {})


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Path, "open", refuse)
    with pytest.raises(ConfigError, match="cannot read: Permission denied"):
        load_config(tmp_path / "nexus.toml", {})


def test_a_50_mb_file_is_rejected_quickly_by_the_size_cap(tmp_path: Path) -> None:
    path = tmp_path / "nexus.toml"
    with path.open("wb") as handle:
        handle.write(b"# " + b"x" * (50 * 1024 * 1024) + b"\n")
    started = time.monotonic()
    with pytest.raises(ConfigError, match="larger than 10 MiB"):
        load_config(path, {})
    assert time.monotonic() - started < 2


def test_a_file_just_under_the_cap_is_parsed(load: Load) -> None:
    padding = "#" * (MAX_CONFIG_BYTES - len(MINIMAL) - 1) + "\n"
    assert "build" in load(padding + MINIMAL).config.tasks


def test_non_utf8_bytes_report_line_and_offset(problems: Problems) -> None:
    error = problems(b'[tasks.a]\ncommands = ["caf\xe9"]\n')
    (problem,) = error.problems
    assert (problem.line, problem.column) == (2, 17)
    assert problem.message == "not valid UTF-8: byte 0xe9 at offset 26"


def test_utf16_gets_a_hint(problems: Problems) -> None:
    error = problems(MINIMAL.encode("utf-16"))
    assert "looks like UTF-16" in str(error)


def test_a_bom_is_skipped(load: Load) -> None:
    assert "build" in load(b"\xef\xbb\xbf" + MINIMAL.encode()).config.tasks


def test_ten_thousand_deep_arrays_are_a_config_error(problems: Problems) -> None:
    error = problems("a = " + "[" * 10_000 + "]" * 10_000 + "\n")
    assert "nested too deeply" in str(error)


def test_deep_inline_tables_are_a_config_error(problems: Problems) -> None:
    error = problems("a = " + "{b=" * 10_000 + "1" + "}" * 10_000 + "\n")
    assert "nested too deeply" in str(error)


def test_running_out_of_stack_after_parsing_is_a_config_error(
    problems: Problems, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tomllib's depth limit depends on how deep the caller's stack already is, so the stages
    after it must handle RecursionError too."""

    def too_deep(*_args: object, **_kwargs: object) -> None:
        raise RecursionError

    monkeypatch.setattr("nexus_engine.config.load.interpolate", too_deep)
    assert "nested too deeply" in str(problems(MINIMAL))


def test_config_error_pickles(problems: Problems) -> None:
    error = problems('[tasks.a]\ndeps = ["b"]\n')
    copy = pickle.loads(pickle.dumps(error))  # noqa: S301 - our own object
    assert copy.problems == error.problems
    assert str(copy) == str(error)


def test_moderately_deep_data_that_parses_is_validated_normally(problems: Problems) -> None:
    error = problems("[settings]\ntimeout = " + "[" * 200 + "]" * 200 + "\n" + MINIMAL)
    assert error.problems[0].message == "expected a number, got an array"


def test_a_large_generated_file_full_of_mistakes_is_judged_in_linear_time(
    problems: Problems,
) -> None:
    """Thousands of unknown names, a long chain of groups: every check is linear, and the
    report is capped at a readable length."""
    size = 3000
    lines = [
        "[groups]",
        *(f'g{i} = ["g{i + 1}", "g{i + 1}"]' for i in range(size)),
        f"g{size} = []",
    ]
    for i in range(size):
        lines += [f"[tasks.t{i}]", f'deps = ["missing{i}"]', f'on = ["g{i}", "nohost{i}"]']
    started = time.monotonic()
    error = problems("\n".join(lines) + "\n")
    assert time.monotonic() - started < 10
    assert len(error.problems) == MAX_PROBLEMS + 1
    assert error.problems[-1].message.startswith("… and ")
    assert error.problems[0].message == "group 'g0' resolves to zero hosts"


# -- bounds: only values a run can honour ---------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "key", "expected"),
    [
        ("[settings]\nretry_delay = 1e308", "settings.retry_delay", "≤ 604800 (a week"),
        ("[settings]\ntimeout = inf", "settings.timeout", "a finite number"),
        ("[settings]\nquiet_after = nan", "settings.quiet_after", "a finite number"),
        ("[settings]\nconnect_timeout = 604800.5", "settings.connect_timeout", "≤ 604800"),
        ("[settings]\nkeepalive_interval = 1e9", "settings.keepalive_interval", "≤ 604800"),
        ("[settings]\nkeepalive_count = 1001", "settings.keepalive_count", "integer ≤ 1000"),
        ("[settings]\nretries = 100000", "settings.retries", "integer ≤ 1000"),
        ("[tasks.b]\ntimeout = 1e12", "tasks.b.timeout", "≤ 604800"),
        (
            '[tasks.b]\ncommands = [{ cmd = "x", retry_delay = -inf }]',
            "tasks.b.commands[0].retry_delay",
            "a finite number",
        ),
    ],
)
def test_a_time_a_run_cannot_honour_is_a_config_error(
    problems: Problems, line: str, key: str, expected: str
) -> None:
    error = problems(f"{MINIMAL}{line}\n")
    (problem,) = error.problems
    assert problem.key == key
    assert expected in problem.message
    assert problem.line is not None


def test_a_week_is_still_accepted(load: Callable[..., LoadedConfig]) -> None:
    loaded = load(
        MINIMAL + "[settings]\ntimeout = 604800\nretry_delay = 604800\nquiet_after = 604800\n"
    )
    assert loaded.config.settings.timeout == 604800
