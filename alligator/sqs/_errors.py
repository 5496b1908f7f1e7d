"""SQS's own error codes, on top of ``alligator._aws``'s translation.

Only the errors a user must fix (a missing queue, missing or refused
credentials) become ``ConfigurationError``; everything else is re-raised
unchanged, after botocore's own retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._aws import translate_aws_errors

#: Error codes SQS uses for a queue that does not exist: the JSON protocol's
#: modelled name and the query-compatible code botocore reports instead.
MISSING_QUEUE_CODES = frozenset({"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"})
#: Per-entry codes meaning "the message is already gone or no longer
#: ours": deleted, or its lease expired and another consumer holds it.
GONE_CODES = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
    }
)
#: The error SQS gives for a visibility timeout past the 12-hour total.
TOO_LONG_CODE = "InvalidParameterValue"


@contextmanager
def translate_errors(queue_name: str, region: str) -> Iterator[None]:
    """``translate_aws_errors`` for one queue.

    Raises:
        ConfigurationError: the queue is missing, or the credentials are
            missing or refused. Anything else propagates unchanged.
    """

    def missing() -> str:
        return (
            f"queue {queue_name!r} does not exist in {region}; "
            "create it or add ?create=true to the DSN"
        )

    with translate_aws_errors(
        f"queue {queue_name!r}", region, missing_codes=MISSING_QUEUE_CODES, missing=missing
    ):
        yield
