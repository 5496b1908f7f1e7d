"""Backoff and DSN parsing: pure functions."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alligator.dsn import parse_dsn
from alligator.exceptions import ConfigurationError
from alligator.retries import Backoff


def test_backoff_doubles_and_caps_with_jitter_in_half_to_one():
    backoff = Backoff(base=5, maximum=60)
    assert [backoff.seconds(n, jitter=1.0) for n in range(1, 7)] == [
        5,
        10,
        20,
        40,
        60,
        60,
    ]
    assert backoff.seconds(1, jitter=0.5) == 3  # 2.5 rounded up for SQS
    for attempt in range(1, 20):
        assert 1 <= backoff.seconds(attempt) <= 60


@pytest.mark.parametrize(("base", "maximum"), [(0, 5), (10, 5), (1, 50000), (-1, 5)])
def test_backoff_bounds(base, maximum):
    with pytest.raises(ConfigurationError, match="backoff"):
        Backoff(base=base, maximum=maximum)


def test_backoff_from_options_then_environment(monkeypatch):
    monkeypatch.setenv("ALLIGATOR_BACKOFF_BASE", "2")
    monkeypatch.setenv("ALLIGATOR_BACKOFF_MAX", "30")
    assert Backoff.from_options({}) == Backoff(2, 30)
    assert Backoff.from_options({"backoff_base": "1"}) == Backoff(1, 30)
    with pytest.raises(ConfigurationError, match="backoff_max"):
        Backoff.from_options({"backoff_max": "soon"})


def test_sqlite_paths_are_as_written():
    assert parse_dsn("sqlite:///var/q.db").path == "/var/q.db"
    assert parse_dsn("sqlite://q.db?visibility_timeout=5").path == "q.db"
    assert parse_dsn("sqs://us-east-1/emails?wait_time=5").host == "us-east-1"


def test_repeated_option_is_an_error():
    with pytest.raises(ConfigurationError, match="twice"):
        parse_dsn("locmem://?a=1&a=2")


@given(
    region=st.from_regex(r"[a-z]{2}-[a-z]+-[1-9]", fullmatch=True),
    queue=st.from_regex(r"[A-Za-z0-9_-]{1,60}(\.fifo)?", fullmatch=True),
    wait=st.integers(0, 20),
)
def test_sqs_dsn_round_trip(region, queue, wait):
    dsn = parse_dsn(f"sqs://{region}/{queue}?wait_time={wait}")
    assert (dsn.scheme, dsn.host, dsn.path, dsn.options) == (
        "sqs",
        region,
        queue,
        {"wait_time": str(wait)},
    )
