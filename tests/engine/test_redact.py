"""Redaction: whole values, chunked streams, overlapping and repeated secrets (T-SEC-1, T-SEC-2)."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from nexus_engine.redact import Redactor

# Secrets are drawn from a small alphabet (so they overlap, repeat and straddle chunk boundaries
# often) that excludes the mask's ``*``; the data adds multibyte characters and raw bytes.
ALPHABET = "abcé€"
secret_sets = st.lists(st.text(ALPHABET, min_size=1, max_size=6), min_size=0, max_size=4)


def _blobs(secrets: list[str]) -> list[bytes]:
    return [s.encode() for s in secrets]


@st.composite
def input_and_splits(draw: st.DrawFn, secrets: list[str]) -> tuple[bytes, list[bytes]]:
    """A byte string built from secrets, noise and raw bytes, and a split of it into chunks."""
    pieces = draw(
        st.lists(
            st.one_of(
                st.sampled_from(_blobs(secrets)) if secrets else st.just(b"x"),
                st.text(ALPHABET + "xy\n", max_size=5).map(str.encode),
                st.binary(max_size=4),
            ),
            max_size=12,
        )
    )
    data = b"".join(pieces)
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=8)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in itertools.pairwise(bounds)]


def _through_stream(redactor: Redactor, chunks: list[bytes]) -> bytes:
    stream = redactor.stream()
    return b"".join(stream.feed(c) for c in chunks) + stream.flush()


@settings(max_examples=400, deadline=None)
@given(data=st.data(), secrets=secret_sets)
def test_stream_equals_whole_input_and_never_leaks(data: st.DataObject, secrets: list[str]) -> None:
    redactor = Redactor(secrets)
    whole, chunks = data.draw(input_and_splits(secrets))
    out = _through_stream(redactor, chunks)
    assert out == redactor.bytes_(whole)
    for secret in _blobs(secrets):
        assert secret not in out


@settings(max_examples=200, deadline=None)
@given(data=st.data(), secrets=secret_sets.filter(bool))
def test_stream_holds_back_less_than_the_longest_secret(
    data: st.DataObject, secrets: list[str]
) -> None:
    redactor = Redactor(secrets)
    longest = max(len(b) for b in _blobs(secrets))
    _, chunks = data.draw(input_and_splits(secrets))
    stream = redactor.stream()
    for chunk in chunks:
        stream.feed(chunk)
        assert stream.held <= longest - 1


@settings(max_examples=200, deadline=None)
@given(secrets=secret_sets, text=st.text(ALPHABET + "xy \n", max_size=40))
def test_text_never_leaks_and_agrees_with_bytes(secrets: list[str], text: str) -> None:
    redactor = Redactor(secrets)
    out = redactor.text(text)
    assert all(s not in out for s in secrets)
    assert out.encode() == redactor.bytes_(text.encode())


def test_longest_secret_wins_and_repeats_are_all_masked() -> None:
    redactor = Redactor(["abc", "abcdef", "cde"])
    assert redactor.text("xabcdefy abc abcabc") == "x***y *** ******"
    assert redactor.bytes_(b"abcde") == b"***de"


def test_secret_straddling_chunks_byte_by_byte() -> None:
    redactor = Redactor(["hunter2"], mask="[redacted]")
    data = b"password=hunter2\nagain hunter2 and hunter"
    out = _through_stream(redactor, [bytes([b]) for b in data])
    assert out == b"password=[redacted]\nagain [redacted] and hunter"


def test_partial_secret_at_eof_is_released_unmasked() -> None:
    stream = Redactor(["secret"]).stream()
    assert stream.feed(b"sec") == b""
    assert stream.held == 3
    assert stream.flush() == b"sec"
    assert stream.flush() == b""


def test_no_secrets_is_a_pass_through_without_copies() -> None:
    redactor = Redactor(["", ""])
    assert not redactor.active
    chunk = b"x" * 1000
    stream = redactor.stream()
    assert stream.feed(chunk) is chunk
    assert stream.held == 0
    assert stream.flush() == b""
    assert redactor.bytes_(chunk) is chunk
    text = "unchanged"
    assert redactor.text(text) is text


def test_mask_with_backslashes_is_literal() -> None:
    assert Redactor(["tok"], mask=r"\1\g<0>").text("a tok b") == r"a \1\g<0> b"


def test_undecodable_env_value_matches_its_original_bytes() -> None:
    # os.environ decodes b"\xff\xfe" as surrogateescape; the secret must match the raw bytes.
    secret = b"pw\xff\xfe".decode("utf-8", "surrogateescape")
    assert Redactor([secret]).bytes_(b"<pw\xff\xfe>") == b"<***>"
    lone = "\ud800x"  # not surrogateescape-able: still usable, matched as its surrogatepass form
    assert Redactor([lone]).text(f"a{lone}b") == "a***b"


def test_multibyte_secret_split_inside_a_character() -> None:
    redactor = Redactor(["mötley€"])
    data = "say mötley€ twice: mötley€".encode()
    for cut in range(1, len(data)):
        assert _through_stream(redactor, [data[:cut], data[cut:]]) == b"say *** twice: ***"
