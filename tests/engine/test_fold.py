"""Output folding: hosts that printed the same (but for their own name, address, timestamps and
the ``fold_ignore`` matches) and ended alike are one group; nothing of any host is lost."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine import events as ev
from nexus_engine.config import ConfigError, load_config
from nexus_engine.fold import Collector, Folder, Output, Rules, fold, unfold
from nexus_engine.status import RunStatus, UnitStatus
from nexus_engine.words import Stream
from tests.engine.render.script import Script

S = UnitStatus
ADDRESSES = {f"web{n}": f"10.0.0.{n}" for n in range(1, 7)}
RULES = Rules.of([r"req-[0-9a-f]+"], ADDRESSES)


def deploy(host: str, second: int, extra: str = "") -> bytes:
    n = host.removeprefix("web")
    return (
        f"deploying to {host} (10.0.0.{n}) at 2025-11-24T05:12:{second:02d}Z\n"
        f"req-{second:x}e7 done{extra}\n"
    ).encode()


def six() -> list[Output]:
    """Four hosts alike, one with a line more, one that failed."""
    outputs = [Output(f"web{n}", deploy(f"web{n}", 10 + n)) for n in range(1, 5)]
    outputs.append(Output("web5", deploy("web5", 20), b"warning: disk 91% full\n"))
    outputs.append(Output("web6", deploy("web6", 21), b"no space left\n", S.FAILED, 1))
    return outputs


def test_hosts_that_printed_the_same_are_one_group_largest_first() -> None:
    groups = fold(six(), RULES)

    assert [(g.folded, g.ending) for g in groups] == [
        ("web[1-4]", "exit 0"),
        ("web5", "exit 0"),
        ("web6", "exit 1"),
    ]
    assert groups[0].text(Stream.STDOUT) == (
        "deploying to {host} ({address}) at {time}\n{ignored} done\n"
    )
    assert groups[0].diff is None
    assert groups[1].diff == "\n".join(
        [
            "--- web[1-4]",
            "+++ web5",
            "@@ -1,2 +1,3 @@",
            " | deploying to {host} ({address}) at {time}",
            " | {ignored} done",
            "+! warning: disk 91% full",
        ]
    )
    assert groups[2].status is S.FAILED
    assert unfold(groups) == {output.host: output for output in six()}


def test_the_same_output_ending_differently_is_another_group_with_an_empty_diff() -> None:
    groups = fold([Output("a", b"x\n"), Output("b", b"x\n", exit_code=3, status=S.FAILED)])
    assert [(g.hosts, g.diff) for g in groups] == [(("a",), None), (("b",), "")]


def test_a_name_is_replaced_only_where_it_stands_alone() -> None:
    rules = Rules.of(addresses={"web1": "web1.example.com"})
    (group,) = fold([Output("web1", b"web1 web10 xweb1 web1.lan web1.example.com web1_x\n")], rules)
    assert group.text(Stream.STDOUT) == "{host} web10 xweb1 {host}.lan {address} web1_x\n"


def test_local_is_no_name_a_machine_prints() -> None:
    (group,) = fold([Output("local", b"/usr/local/bin\n")])
    assert group.text(Stream.STDOUT) == "/usr/local/bin\n"


@pytest.mark.parametrize(
    "stamp",
    [
        "2025-11-24",
        "2025-11-24T05:12:17Z",
        "2025-11-24 05:12:17.123+01:00",
        "2025-11-24T05:12:17,5-0800",
        "05:12:17",
        "5:12:17.250",
    ],
)
def test_timestamps_become_time(stamp: str) -> None:
    (group,) = fold([Output("h", f"at {stamp}.\n".encode())])
    assert group.text(Stream.STDOUT) == "at {time}.\n"


def test_numbers_that_only_look_like_times_stay() -> None:
    (group,) = fold([Output("h", b"v105:12:17 12:345:67 2025-11-245\n")])
    assert group.text(Stream.STDOUT) == "v105:12:17 12:345:67 2025-11-245\n"


def test_fold_ignore_matches_lines_with_caret_and_dollar() -> None:
    rules = Rules.of([r"^took .*$"])
    groups = fold([Output("a", b"ok\ntook 3s\n"), Output("b", b"ok\ntook 12s\n")], rules)
    assert [g.hosts for g in groups] == [("a", "b")]
    assert groups[0].text(Stream.STDOUT) == "ok\n{ignored}\n"


def test_an_empty_match_replaces_nothing() -> None:
    (group,) = fold([Output("a", b"abc\n")], Rules.of(["x*"]))
    assert group.text(Stream.STDOUT) == "abc\n"


def test_a_literal_placeholder_in_the_output_is_not_the_placeholder() -> None:
    groups = fold([Output("web1", b"{host}\n"), Output("web2", b"web2\n")])
    assert len(groups) == 2
    assert unfold(groups)["web1"].stdout == b"{host}\n"


def test_streams_are_compared_each_on_its_own() -> None:
    groups = fold([Output("a", b"x\n", b"y\n"), Output("b", b"x\ny\n")])
    assert len(groups) == 2


def test_bytes_that_are_not_utf8_come_back_and_show_as_replacement_characters() -> None:
    groups = fold([Output("h1", b"a\xff\n"), Output("h2", b"a\xff\n")])
    assert groups[0].text(Stream.STDOUT) == "a\N{REPLACEMENT CHARACTER}\n"
    assert unfold(groups)["h2"].stdout == b"a\xff\n"


def test_an_incomplete_output_is_a_group_of_its_own_last() -> None:
    groups = fold([Output("a", b"x"), Output("b", b"x", complete=False), Output("c", b"x")])
    assert [(g.hosts, g.complete, g.diff) for g in groups] == [
        (("a", "c"), True, None),
        (("b",), False, None),
    ]


def test_ties_go_to_the_host_that_comes_first_in_the_order_given() -> None:
    outputs = [Output("b", b"1"), Output("a", b"2")]
    assert [g.hosts for g in fold(outputs)] == [("b",), ("a",)]
    assert [g.hosts for g in fold(outputs, order=["a", "b"])] == [("a",), ("b",)]


def test_a_host_added_again_counts_with_its_last_output() -> None:
    folder = Folder()
    folder.add(Output("a", b"first"))
    folder.add(Output("b", b"second"))
    folder.add(Output("a", b"second"))
    assert [g.hosts for g in folder.groups()] == [("a", "b")]


def test_a_folder_that_keeps_no_originals_cannot_unfold() -> None:
    folder = Folder(keep_originals=False)
    folder.add(Output("a", b"at 05:12:17"))
    with pytest.raises(ValueError, match="did not keep"):
        unfold(folder.groups())


# ── from the events of a run ────────────────────────────────────────────────────────────────


def test_the_collector_folds_a_runs_output_per_task() -> None:
    s = Script()
    collector = Collector(RULES)
    units = []
    for output in six():
        unit = f"deploy@{output.host}"
        half = len(output.stdout) // 2  # chunks cut anywhere
        events = [
            s.out(unit, output.stdout[:half]),
            s.out(unit, output.stderr, Stream.STDERR),
            s.out(unit, output.stdout[half:], step=1),
        ]
        units.append(s.unit_finished(unit, output.status, output.exit_code))
        for event in [*events, units[-1]]:
            collector.take(event)
    collector.take(s.run_finished(RunStatus.FAILED, *units))

    groups = collector.groups("deploy", [f"web{n}" for n in range(1, 7)])
    assert [g.folded for g in groups] == ["web[1-4]", "web5", "web6"]
    assert groups[0].originals == {}  # a face does not need them
    assert collector.groups("nothing") == []


def test_the_collector_keeps_a_bounded_amount_per_host() -> None:
    s = Script()
    collector = Collector(limit=10)
    for event in [
        s.out("t@a", b"0123456789"),
        s.out("t@b", b"0123456789"),
        s.out("t@b", b"!"),
        s.unit_finished("t@a"),
        s.unit_finished("t@b"),
    ]:
        collector.take(event)
    groups = collector.groups("t")
    assert [(g.hosts, g.complete) for g in groups] == [(("a",), True), (("b",), False)]
    assert groups[1].keys == ("", "")  # what it printed was let go


def test_hosts_that_could_not_run_are_grouped_by_why() -> None:
    s = Script()
    collector = Collector()
    units = [
        s(ev.UnitFinished, task="t", host=host, status=S.FAILED, attempts=1, exit_code=None,
          duration=0.1, error_kind=kind)
        for host, kind in [("a1", "unreachable"), ("a2", "unreachable"), ("b", "auth_failed")]
    ]  # fmt: skip
    for event in units:
        collector.take(event)
    groups = collector.groups("t")
    assert [(g.folded, g.ending) for g in groups] == [
        ("a[1-2]", "failed: unreachable"),
        ("b", "failed: auth_failed"),
    ]


def test_units_the_run_ended_without_a_word_are_folded_from_the_summary() -> None:
    s = Script()
    collector = Collector()
    a = s.unit_finished("t@a")
    b = s.unit_finished("t@b", S.INTERRUPTED, None)
    for event in [a, s.out("t@b", b"half"), s.run_finished(RunStatus.INTERRUPTED, a, b)]:
        collector.take(event)
    groups = collector.groups("t")
    assert [(g.hosts, g.ending, g.text(Stream.STDOUT)) for g in groups] == [
        (("a",), "exit 0", ""),
        (("b",), "interrupted", "half"),
    ]


def test_a_unit_that_runs_again_counts_with_its_last_run() -> None:
    s = Script()
    collector = Collector()
    for event in [
        s.out("t@a", b"boom"),
        s.unit_finished("t@a", S.FAILED, 1),
        s.out("t@a", b"fine"),
        s.unit_finished("t@a"),
        s.out("t@b", b"fine"),
        s.unit_finished("t@b"),
    ]:
        collector.take(event)
    assert [g.hosts for g in collector.groups("t")] == [("a", "b")]


# ── fold_ignore in nexus.toml ───────────────────────────────────────────────────────────────

TASK = '[tasks.a]\ncommands = ["true"]\n'


def test_fold_ignore_is_read_from_settings(tmp_path: Path) -> None:
    path = tmp_path / "nexus.toml"
    path.write_text(f'[settings]\nfold_ignore = ["req-[0-9]+"]\n{TASK}')
    assert load_config(path).config.settings.fold_ignore == ["req-[0-9]+"]


def test_a_fold_ignore_that_is_no_regex_is_a_config_error_with_file_and_line(
    tmp_path: Path,
) -> None:
    path = tmp_path / "nexus.toml"
    path.write_text(f'[settings]\nfold_ignore = [\n  "ok",\n  "(unclosed",\n]\n{TASK}')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    (problem,) = info.value.problems
    assert (problem.line, problem.key) == (4, "settings.fold_ignore[1]")
    assert problem.render() == (
        f"{path}:4:3: settings.fold_ignore[1]: not a valid regular expression:"
        " missing ), unterminated subpattern at position 0"
    )


# ── properties ──────────────────────────────────────────────────────────────────────────────

HOSTS = [f"h{n}" for n in range(1, 6)]
ADDRESS_OF = {host: f"10.0.0.{host[1:]}" for host in HOSTS}
#: ``#…#`` no literal below can make; a whole-line one that literals can, for unfolding.
IGNORE = r"#[a-f]+#"
UNFOLD_RULES = Rules.of([IGNORE, r"^x.*;$"], ADDRESS_OF)
MERGE_RULES = Rules.of([IGNORE], ADDRESS_OF)
STAMPS = st.builds(
    lambda h, m, s, form: form.format(h=h, m=m, s=s),
    st.integers(0, 23),
    st.integers(0, 59),
    st.integers(0, 59),
    st.sampled_from(
        ["{h:02d}:{m:02d}:{s:02d}", "2025-11-24T{h:02d}:{m:02d}:{s:02d}Z", "2025-11-{h:02d}"]
    ),
)
HOLES = ("host", "address", "time", "ignored")
Template = list[tuple[str, str]]  # ("text", what it says) or (a hole's kind, "")
#: Text that is no hole and cannot become one: no digits, '#', 'h', 'T', space, '.' or ','.
CHARS = "xy:;/\n{}"
LITERALS = st.one_of(st.sampled_from(CHARS), st.text(alphabet=CHARS, min_size=2, max_size=3))
#: Text that reads like a placeholder or like half of one.
LOOKALIKES = st.sampled_from(["{host}", "{address}", "{time}", "{ignored}", "{{", "}"])
PARTS = st.one_of(
    st.one_of(LITERALS, LOOKALIKES).map(lambda text: ("text", text)),
    st.sampled_from(HOLES).map(lambda kind: (kind, "")),
)
TEMPLATES = st.lists(PARTS, max_size=4)


@st.composite
def filled(draw: st.DrawFn, template: Template, host: str) -> bytes:
    """The template with each hole filled as ``host`` would fill it."""
    pieces = []
    for kind, text in template:
        if kind == "text":
            pieces.append(text)
        elif kind == "host":
            pieces.append(host)
        elif kind == "address":
            pieces.append(ADDRESS_OF[host])
        elif kind == "time":
            pieces.append(draw(STAMPS))
        else:
            pieces.append(f"#{draw(st.text(alphabet='abcdef', min_size=1, max_size=3))}#")
    return "".join(pieces).encode()


@st.composite
def outputs(draw: st.DrawFn) -> list[Output]:
    """Each host prints bytes of any kind, or a template filled its own way."""
    templates = draw(st.lists(TEMPLATES, min_size=1, max_size=3))
    out = []
    for host in draw(st.lists(st.sampled_from(HOSTS), unique=True, min_size=1)):

        def stream(host: str) -> bytes:
            if draw(st.booleans()):
                return draw(st.binary(max_size=40))
            return draw(filled(draw(st.sampled_from(templates)), host))

        stdout, stderr = stream(host), stream(host)
        out.append(Output(host, stdout, stderr, exit_code=draw(st.sampled_from([0, 1]))))
    return out


@settings(deadline=None)
@given(outputs())
def test_folding_then_unfolding_gives_every_host_its_exact_output_back(
    given_outputs: list[Output],
) -> None:
    groups = fold(given_outputs, UNFOLD_RULES)
    assert unfold(groups) == {output.host: output for output in given_outputs}
    assert sorted(host for group in groups for host in group.hosts) == sorted(
        output.host for output in given_outputs
    )


@st.composite
def edited(draw: st.DrawFn) -> tuple[Template, Template]:
    """A template and the same with one part changed, left out or added, a hole made its
    look-alike text, or a character put right next to a hole: two outputs that differ in
    more than what normalising replaces."""
    first = draw(TEMPLATES.filter(bool))
    second = list(first)
    holes = [at for at, (kind, _) in enumerate(first) if kind != "text"]
    how = draw(st.sampled_from(["changed", "left out", "added", "look-alike", "next to"]))
    if how in ("look-alike", "next to") and holes:
        at = draw(st.sampled_from(holes))
        if how == "look-alike":
            second[at] = ("text", f"{{{first[at][0]}}}")
        else:
            second.insert(at + draw(st.integers(0, 1)), ("text", draw(st.sampled_from(CHARS))))
    elif how == "added":
        second.insert(draw(st.integers(0, len(first))), draw(PARTS))
    else:
        at = draw(st.integers(0, len(first) - 1))
        if how == "left out":
            del second[at]
        else:
            second[at] = draw(PARTS.filter(lambda part: part != first[at]))
    return first, second


@settings(max_examples=200, deadline=None)
@given(edited(), st.data())
def test_normalising_never_merges_outputs_that_differ_beyond_the_normalised_parts(
    pair: tuple[Template, Template], data: st.DataObject
) -> None:
    first, second = pair
    a = Output("h1", data.draw(filled(first, "h1")))
    b = Output("h2", data.draw(filled(second, "h2")))
    assert len(fold([a, b], MERGE_RULES)) == 2
    assert len(fold([a, dataclasses.replace(a, host="h2", exit_code=1)], MERGE_RULES)) == 2
