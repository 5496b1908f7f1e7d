"""Status stores: ``locmem://``, ``sqlite:///path``, ``dynamodb://REGION/TABLE``."""

from __future__ import annotations

from .. import _env
from ..dsn import parse_dsn, registered_class
from .base import (
    Claim,
    Dependencies,
    StatusStore,
    TaskState,
    Verdict,
    decode_result,
    encode_result,
    wait_for_final,
)

__all__ = [
    "Claim",
    "Dependencies",
    "StatusStore",
    "TaskState",
    "Verdict",
    "decode_result",
    "encode_result",
    "open_status",
    "wait_for_final",
]

#: scheme -> "module:Class", imported when used (DynamoDB needs boto3).
STORES = {
    "locmem": "alligator.status.local:LocmemStatusStore",
    "sqlite": "alligator.status.local:SqliteStatusStore",
    "dynamodb": "alligator.status.dynamodb:DynamoDBStatusStore",
}


def open_status(dsn: str | StatusStore | None) -> StatusStore | None:
    """A status store from a DSN (or ``ALLIGATOR_STATUS``); ``None`` if neither.

    A store instance passes through unchanged, so several gators can share
    one ``locmem://`` store.
    """
    if dsn is None:
        dsn = _env.get(_env.STATUS)
    if dsn is None or not isinstance(dsn, str):
        return dsn
    parsed = parse_dsn(dsn)
    store: StatusStore = registered_class(STORES, parsed, "status store scheme")(parsed)
    return store
