"""The DynamoDB status store's table: creating it (``create=true``) and the
errors a user must fix, as one-line ``ConfigurationError``s."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .._aws import translate_aws_errors

#: The attribute the table's TTL reads (Unix seconds).
TTL_ATTRIBUTE = "expires_at"
#: The table's key.
KEY = "task_id"


@contextmanager
def table_errors(table: str, region: str) -> Iterator[None]:
    """A missing table, missing or refused credentials, denied access:
    ``ConfigurationError`` naming the table."""

    def missing() -> str:
        return f"DynamoDB table {table!r} does not exist in {region}; create it or add ?create=true"

    with translate_aws_errors(
        f"DynamoDB table {table!r}",
        region,
        missing_codes=frozenset({"ResourceNotFoundException"}),
        missing=missing,
    ):
        yield


def ensure_table(client: Any, table: str) -> None:
    """Create the table (on-demand billing, TTL on) unless it exists; when
    another consumer is creating it at the same moment, wait for theirs."""
    from botocore.exceptions import ClientError

    from .._aws import error_code

    try:
        client.describe_table(TableName=table)
        return
    except ClientError as exc:
        if error_code(exc) != "ResourceNotFoundException":
            raise
    try:
        client.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": KEY, "AttributeType": "S"}],
            KeySchema=[{"AttributeName": KEY, "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    waiter = client.get_waiter("table_exists")
    waiter.wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    ttl = {"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
    try:
        client.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
    except ClientError as exc:
        # "TimeToLive is already enabled": a racing creator was first.
        if error_code(exc) != "ValidationException":
            raise
