"""DSN mistakes a newcomer makes, each named by a one-line
``ConfigurationError`` before any network call: a garbled scheme, a region
that is not a region's shape, a missing queue name."""

from __future__ import annotations

import pytest

from alligator import Gator
from alligator.dsn import parse_dsn
from alligator.exceptions import ConfigurationError
from alligator.sqs import SQSBackend
from alligator.sqs._settings import parse_settings


@pytest.mark.parametrize(
    ("dsn", "words"),
    [
        ("sqs:/us-east-1/q", ("scheme 'sqs'", "'://'", "not ':/'", "sqs://us-east-1/q")),
        ("sqs//us-east-1/q", ("scheme 'sqs'", "not '//'", "sqs://us-east-1/q")),
        ("sqs:us-east-1/q", ("scheme 'sqs'", "not ':'", "sqs://us-east-1/q")),
        # The '://' of an option must not be taken for the scheme's.
        (
            "sqs:/us-east-1/q?endpoint_url=http://127.0.0.1:9",
            ("scheme 'sqs'", "sqs://us-east-1/q?endpoint_url=http://127.0.0.1:9"),
        ),
        ("sqlite:/var/q.db", ("scheme 'sqlite'", "sqlite:///absolute/path.db")),
        ("not a dsn", ("malformed DSN", "expected scheme://")),
        ("", ("malformed DSN",)),
    ],
)
def test_a_garbled_scheme_is_named_with_the_fix(dsn, words):
    with pytest.raises(ConfigurationError) as caught:
        parse_dsn(dsn)
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("malformed DSN")
    for word in words:
        assert word in message


@pytest.mark.parametrize(
    "region", ["us-east-1", "eu-central-2", "us-gov-west-1", "cn-north-1", "ap-southeast-4"]
)
def test_regions_of_every_partition_are_accepted(region):
    assert parse_settings(f"sqs://{region}/emails").region == region


@pytest.mark.parametrize(
    ("dsn", "words"),
    [
        # sqs://emails is a queue with no region, not region "emails" with
        # 1.0's default queue "all".
        ("sqs://emails", ("'emails' is not an AWS region", "names no queue", "us-east-1/emails")),
        ("sqs://emails/", ("'emails' is not an AWS region", "names no queue")),
        ("sqs://useast1/emails", ("'useast1' is not an AWS region", "us-east-1")),
        ("sqs://US-EAST-1/emails", ("'US-EAST-1' is not an AWS region",)),
        ("sqs://us-east/emails", ("'us-east' is not an AWS region",)),
        ("sqs://us-east-1emails", ("is a '/' missing?", "sqs://us-east-1/emails")),
        ("sqs:///emails", ("names no region", "sqs://REGION/QUEUE")),
    ],
)
def test_a_region_that_is_not_a_region_is_named(dsn, words):
    # Through Gator, as a user meets it: queue_name defaults to "all" there.
    with pytest.raises(ConfigurationError) as caught:
        Gator(dsn)
    message = str(caught.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize("dsn", ["sqs://us-east-1", "sqs://us-east-1/"])
def test_a_missing_queue_name_is_named(dsn):
    with pytest.raises(ConfigurationError, match="names no queue: use sqs://REGION/QUEUE"):
        SQSBackend(dsn)


def test_1_0_style_queue_name_still_works():
    # Gator("sqs://us-east-1/", queue_name=...) is 1.0's spelling: no error.
    assert Gator("sqs://us-east-1/", queue_name="emails").backend.queue_name == "emails"
