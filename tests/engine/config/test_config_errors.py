"""Rendering problems, and turning pydantic errors into them, including the awkward shapes."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from nexus_engine.config import ConfigError, ConfigProblem
from nexus_engine.config.errors import format_path
from nexus_engine.config.explain import explain


def test_render_with_and_without_position() -> None:
    assert ConfigProblem("n.toml", 12, 3, "tasks.a.timout", "unknown key").render() == (
        "n.toml:12:3: tasks.a.timout: unknown key"
    )
    assert ConfigProblem("n.toml", 12, None, "k", "m").render() == "n.toml:12: k: m"
    assert ConfigProblem("n.toml", None, None, "", "file not found").render() == (
        "n.toml: file not found"
    )


def test_config_error_lists_every_problem() -> None:
    error = ConfigError(
        [ConfigProblem("f", 1, 1, "a", "one"), ConfigProblem("f", 2, 1, "b", "two")]
    )
    assert str(error) == "f:1:1: a: one\nf:2:1: b: two"
    assert len(error.problems) == 2
    assert isinstance(error, Exception)


def test_caret_follows_tabs_and_control_characters_are_neutralised() -> None:
    problem = ConfigProblem("f", 1, 4, "", "Invalid value", source="\ta\x1b[2J= [1,,2]")
    lines = problem.render().splitlines()
    assert "\x1b" not in problem.render()
    assert lines[2] == "1 | \ta\ufffd[2J= [1,,2]"
    assert lines[3] == "  | \t  ^"


def test_long_source_lines_are_cut_around_the_caret() -> None:
    source = "a = [" + "1," * 5000 + ",]"
    column = len(source) - 1
    lines = ConfigProblem("f", 7, column, "", "Invalid value", source=source).render().splitlines()
    assert len(lines[2]) < 250
    assert lines[2].startswith("7 | …")
    shown = lines[2].removeprefix("7 | ")
    caret = lines[3].index("^") - len("  | ")
    assert shown[caret] == ","


def test_format_path_quotes_keys_that_are_not_bare() -> None:
    assert format_path(("tasks", "deploy", "commands", 1, "timout")) == (
        "tasks.deploy.commands[1].timout"
    )
    assert format_path(("hosts", "web.1", "a b", "\x1b")) == 'hosts."web.1"."a b"."\\u001b"'
    assert format_path(()) == ""


class _Pair(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)
    low: int = 0
    high: int = 0

    @model_validator(mode="after")
    def _ordered(self) -> _Pair:
        if self.low > self.high:
            raise ValueError("low must not exceed high")
        return self


class _Outer(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, hide_input_in_errors=True)
    pair: _Pair = _Pair()


def test_a_model_validator_error_points_at_the_enclosing_table() -> None:
    data = {"pair": {"low": 3, "high": 1}}
    with pytest.raises(ValidationError) as info:
        _Outer.model_validate(data)
    assert explain(info.value, data, {}, set(), model=_Outer) == [
        (("pair",), "low must not exceed high")
    ]


def test_an_empty_loc_does_not_break_the_formatter() -> None:
    data = {"low": 3, "high": 1}
    with pytest.raises(ValidationError) as info:
        _Pair.model_validate(data)
    assert explain(info.value, data, {}, set(), model=_Pair) == [((), "low must not exceed high")]


class _Bounded(BaseModel):
    model_config = ConfigDict(strict=True, hide_input_in_errors=True)
    items: list[int] = Field(default_factory=list, max_length=2)


def test_unknown_error_types_fall_back_to_pydantics_text() -> None:
    data = {"items": [1, 2, 3]}
    with pytest.raises(ValidationError) as info:
        _Bounded.model_validate(data)
    ((path, message),) = explain(info.value, data, {}, set(), model=_Bounded)
    assert path == ("items",)
    assert message.startswith("List should have at most 2 items")
