"""SQS DSN validation: every mistake is a one-line ConfigurationError at
construction, naming the option, and construction never touches the network."""

from __future__ import annotations

import pytest

from alligator.dsn import parse_dsn
from alligator.exceptions import ConfigurationError
from alligator.sqs import SQSBackend

#: An endpoint nothing listens on: any request would fail (slowly, retried).
DEAD = "endpoint_url=http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("dsn", "named"),
    [
        ("sqs:///emails", "region"),
        ("sqs://US_EAST/emails", "region"),
        ("sqs://us-east-1/", "queue"),
        ("sqs://us-east-1/bad name", "queue name"),
        ("sqs://us-east-1/" + "x" * 81, "queue name"),
        ("sqs://us-east-1/q?wait_time=21", "wait_time"),
        ("sqs://us-east-1/q?wait_time=-1", "wait_time"),
        ("sqs://us-east-1/q?wait_time=soon", "wait_time"),
        ("sqs://us-east-1/q?batch_size=0", "batch_size"),
        ("sqs://us-east-1/q?batch_size=11", "batch_size"),
        ("sqs://us-east-1/q?batch_size=1.5", "batch_size"),
        ("sqs://us-east-1/q?visibility_timeout=43201", "visibility_timeout"),
        ("sqs://us-east-1/q?visibility_timeout=-5", "visibility_timeout"),
        ("sqs://us-east-1/q?visibility_timeout=long", "visibility_timeout"),
        ("sqs://us-east-1/q?create=maybe", "create"),
        ("sqs://us-east-1/q?endpoint_url=ftp://x", "endpoint_url"),
        ("sqs://us-east-1/q?endpoint_url=", "endpoint_url"),
        ("sqs://us-east-1/q?dlq=", "dlq"),
        ("sqs://us-east-1/q?dlq=not a queue", "dlq"),
        ("sqs://us-east-1/q?dlq=arn:aws:sns:us-east-1:123456789012:t", "dlq"),
        ("sqs://us-east-1/q?payload_bucket=Not_A_Bucket", "payload_bucket"),
        ("sqs://us-east-1/q?backoff_base=0", "backoff_base"),
        ("sqs://us-east-1/q?backoff_base=fast", "backoff_base"),
        ("sqs://us-east-1/q?backoff_base=10&backoff_max=5", "backoff_max"),
        ("sqs://us-east-1/q?backoff_max=50000", "backoff_max"),
        ("sqs://us-east-1/q?bogus=1", "bogus"),
        ("sqs://us-east-1/q?wait_time=1&wait_time=2", "wait_time"),
    ],
)
def test_bad_dsn_is_a_configuration_error_naming_the_problem(dsn, named):
    # When / Then
    with pytest.raises(ConfigurationError, match=named) as caught:
        SQSBackend(dsn)
    assert "\n" not in str(caught.value)


def test_bad_alligator_dlq_is_named(monkeypatch):
    monkeypatch.setenv("ALLIGATOR_DLQ", "no such/queue")
    with pytest.raises(ConfigurationError, match="ALLIGATOR_DLQ"):
        SQSBackend("sqs://us-east-1/q")


def test_defaults_and_no_network_at_construction():
    # Given an endpoint where nothing listens: construction must not care.
    backend = SQSBackend(f"sqs://eu-west-1/emails?{DEAD}")
    # Then
    assert backend.queue_name == "emails"
    assert backend.region == "eu-west-1"
    assert backend.blocking is True
    assert backend.fifo is False
    assert backend.wait_time == 20
    assert backend.batch_size == 10
    assert backend.max_delay_seconds == 900
    assert (backend.settings.backoff.base, backend.settings.backoff.maximum) == (5, 3600)
    assert backend.client.meta.region_name == "eu-west-1"
    assert backend.client.meta.endpoint_url == "http://127.0.0.1:9"
    backend.close()


def test_every_option_is_read():
    backend = SQSBackend(
        "sqs://us-east-1/jobs.fifo?wait_time=0&batch_size=3&visibility_timeout=90"
        "&dlq=jobs-dlq.fifo&create=true&payload_bucket=my-bucket"
        f"&backoff_base=2&backoff_max=60&{DEAD}"
    )
    assert backend.fifo is True
    assert backend.max_delay_seconds == 0
    assert (backend.wait_time, backend.batch_size) == (0, 3)
    # The DSN's visibility timeout needs no request.
    assert backend.visibility_timeout == 90
    assert backend.payload_bucket == "my-bucket"
    assert (backend.settings.backoff.base, backend.settings.backoff.maximum) == (2, 60)
    assert backend.settings.create is True
    assert backend.settings.dlq is not None and backend.settings.dlq.fifo


@pytest.mark.parametrize(
    ("dsn", "queue_name", "expected"),
    [
        ("sqs://us-east-1/", "emails", "emails"),  # 1.0 style
        ("sqs://us-east-1", "emails", "emails"),
        ("sqs://us-east-1/", "all", "all"),  # 1.0's ALL default counts
        ("sqs://us-east-1/orders", "all", "orders"),  # the path wins
        ("sqs://us-east-1/orders/", None, "orders"),
    ],
)
def test_queue_from_path_else_queue_name(dsn, queue_name, expected):
    assert SQSBackend(dsn, queue_name=queue_name).queue_name == expected


def test_accepts_a_parsed_dsn():
    backend = SQSBackend(parse_dsn("sqs://us-east-1/q?wait_time=3"))
    assert (backend.queue_name, backend.wait_time) == ("q", 3)


def test_dlq_forms_parse():
    url = "https://sqs.us-east-1.amazonaws.com/123456789012/dead"
    arn = "arn:aws:sqs:us-east-1:210987654321:dead"
    by_url = SQSBackend(f"sqs://us-east-1/q?dlq={url}").settings.dlq
    by_arn = SQSBackend(f"sqs://us-east-1/q?dlq={arn}").settings.dlq
    by_name = SQSBackend("sqs://us-east-1/q?dlq=dead").settings.dlq
    assert (by_url.name, by_url.url) == ("dead", url)
    assert (by_arn.name, by_arn.account) == ("dead", "210987654321")
    assert (by_name.name, by_name.url, by_name.account) == ("dead", None, None)


def test_not_an_sqs_dsn():
    with pytest.raises(ConfigurationError, match="sqs://"):
        SQSBackend(parse_dsn("locmem://"))
