"""``${env:…}`` and ``${secret:…}`` substitution, on its own and through load_config."""

from __future__ import annotations

from collections.abc import Callable

from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine.config import ConfigError, LoadedConfig
from nexus_engine.config.interpolate import interpolate


def _one(text: str, environ: dict[str, str]) -> str:
    result = interpolate({"v": text}, environ)
    assert not result.problems, result.problems
    value = result.data["v"]
    assert isinstance(value, str)
    return value


def test_env_with_and_without_default() -> None:
    env = {"USER_NAME": "ada", "EMPTY": ""}
    assert _one("hi ${env:USER_NAME}!", env) == "hi ada!"
    assert _one("${env:MISSING:-fallback}", env) == "fallback"
    assert _one("${env:USER_NAME:-fallback}", env) == "ada"
    assert _one("[${env:MISSING:-}]", env) == "[]"
    assert _one("[${env:EMPTY}]", env) == "[]"  # set but empty is still set
    assert _one("${env:EMPTY:-x}", env) == ""


def test_other_dollar_forms_pass_through_untouched() -> None:
    for text in ("$HOME", "${HOME}", "$(whoami)", "$$", "${env}", "cost: $5", "${other:X}"):
        assert _one(text, {"HOME": "/root"}) == text


def test_secrets_are_resolved_from_the_environment_and_collected() -> None:
    result = interpolate(
        {"a": ["x ${secret:TOKEN} y", {"b": "${secret:EMPTY}"}], "c": "${secret:T2:-dflt}"},
        {"TOKEN": "s3cr3t", "EMPTY": ""},
    )
    assert result.data == {"a": ["x s3cr3t y", {"b": ""}], "c": "dflt"}
    assert result.secrets == {"s3cr3t", "dflt"}  # empty values are not secrets


def test_unset_variables_are_problems_naming_the_variable_and_path() -> None:
    result = interpolate({"t": {"cmds": ["ok", "${env:NOPE} ${secret:HIDDEN}"]}}, {})
    assert [path for path, _ in result.problems] == [("t", "cmds", 1), ("t", "cmds", 1)]
    assert "'NOPE' is not set" in result.problems[0][1]
    assert "secret 'HIDDEN' is not set" in result.problems[1][1]


def test_malformed_references_are_problems() -> None:
    result = interpolate({"a": "${env:1BAD}", "b": "${secret:}", "c": "${env:X"}, {"X": "1"})
    assert [path for path, _ in result.problems] == [("a",), ("b",), ("c",)]
    assert all("malformed" in message for _, message in result.problems)


def test_a_default_ends_at_the_first_closing_brace() -> None:
    assert _one("${env:X:-${env:Y}}", {"Y": "no"}) == "${env:Y}"  # and is not expanded again
    assert _one("${env:X:-a}b}", {}) == "ab}"


def test_keys_and_non_strings_are_never_touched() -> None:
    data = {"${env:K}": 5, "n": [1.5, True, None]}
    assert interpolate(data, {"K": "x"}).data == data


_names = st.from_regex(r"[A-Z][A-Z0-9_]{0,5}", fullmatch=True)
_values = st.one_of(
    st.text(alphabet="${}:-envsecrtAXZ_ ", max_size=30),
    _names.map(lambda name: f"${{env:{name}}}"),
    _names.map(lambda name: f"x${{secret:{name}:-d}}y"),
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_names, _values, max_size=4), st.lists(_names, max_size=4))
def test_substitution_happens_exactly_once(environ: dict[str, str], refs: list[str]) -> None:
    """A substituted value that itself looks like ``${env:X}`` stays as it is."""
    template = "|".join(f"${{env:{name}:-}}" for name in refs)
    expected = "|".join(environ.get(name, "") for name in refs)
    assert _one(template, environ) == expected


def test_load_config_substitutes_and_reports_secrets(load: Callable[..., LoadedConfig]) -> None:
    loaded = load(
        '[hosts]\nweb = "${env:WEB_USER}@${env:WEB_HOST:-web1}"\n'
        '[tasks.deploy]\non = "web"\n'
        'commands = ["deploy --token ${secret:DEPLOY_TOKEN} --home $HOME"]\n',
        {"WEB_USER": "ada", "DEPLOY_TOKEN": "tok-123456", "HOME": "/nope"},
    )
    assert loaded.config.hosts["web"] == "ada@web1"
    # a command never holds the value: it expands a variable that carries it
    assert loaded.config.tasks["deploy"].commands == [
        'deploy --token "${NEXUS_SECRET_DEPLOY_TOKEN}" --home $HOME'
    ]
    command = loaded.commands[("deploy", 0, "cmd")]
    assert command.env == (("NEXUS_SECRET_DEPLOY_TOKEN", "tok-123456"),)
    assert command.shown == "deploy --token tok-123456 --home $HOME"
    assert loaded.secrets == frozenset({"tok-123456"})


def test_a_command_names_one_variable_per_distinct_value(load: Callable[..., LoadedConfig]) -> None:
    loaded = load(
        "[tasks.a]\n[[tasks.a.commands]]\n"
        'cmd = "echo ${env:V:-x} ${env:V:-y} ${env:V:-x} ${env:W}"\n',
        {"W": "w"},
    )
    command = loaded.commands[("a", 0, "cmd")]
    assert command.text == (
        'echo "${NEXUS_ENV_V}" "${NEXUS_ENV_V_2}" "${NEXUS_ENV_V}" "${NEXUS_ENV_W}"'
    )
    assert command.env == (("NEXUS_ENV_V", "x"), ("NEXUS_ENV_V_2", "y"), ("NEXUS_ENV_W", "w"))


def test_a_step_env_may_not_reuse_a_carrying_variable(
    problems: Callable[..., ConfigError],
) -> None:
    error = problems(
        '[tasks.a]\n[[tasks.a.commands]]\ncmd = "echo ${env:HOME}"\n'
        'env = { NEXUS_ENV_HOME = "x" }\n',
        {"HOME": "/root"},
    )
    (problem,) = error.problems
    assert problem.key == "tasks.a.commands[0].env.NEXUS_ENV_HOME"
    assert "rename it" in problem.message


def test_a_reference_in_a_quoted_here_document_is_refused(
    problems: Callable[..., ConfigError],
) -> None:
    error = problems(
        '[tasks.a]\ncommands = ["""cat <<\'EOF\'\n${env:HOME}\nEOF"""]\n',
        {"HOME": "/root"},
    )
    (problem,) = error.problems
    assert problem.key == "tasks.a.commands[0]"
    assert "quoted here-document" in problem.message


def test_load_config_reports_an_unset_variable_with_its_position(
    problems: Callable[..., ConfigError],
) -> None:
    error = problems('[tasks.a]\ncommands = [\n  "ok",\n  "echo ${env:MISSING_VAR}",\n]\n')
    (problem,) = error.problems
    assert (problem.line, problem.column, problem.key) == (4, 3, "tasks.a.commands[1]")
    assert "'MISSING_VAR' is not set" in problem.message
