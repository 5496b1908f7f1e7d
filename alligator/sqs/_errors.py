"""botocore errors -> alligator errors, in one place.

Only the errors a user must fix (a missing queue, missing or refused
credentials) become ``ConfigurationError``; everything else is re-raised
unchanged. Throttling, 5xx answers and connection resets never get here
uncaught: botocore's "standard" retry mode (see ``client_config``) retries
them first, and whatever is left is a transient failure the worker logs and
retries on its next turn.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

from ..exceptions import ConfigurationError

#: Error codes SQS uses for a queue that does not exist: the JSON protocol's
#: modelled name and the query-compatible code botocore reports instead.
MISSING_QUEUE_CODES = frozenset({"QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"})
#: Credentials that were given but refused.
BAD_CREDENTIAL_CODES = frozenset(
    {
        "InvalidClientTokenId",
        "UnrecognizedClientException",
        "SignatureDoesNotMatch",
        "InvalidSecurity",
    }
)
#: Credentials that work but may not do this.
ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "KMS.AccessDeniedException"}
)
#: Per-entry codes meaning "the message is already gone or no longer
#: ours": deleted, or its lease expired and another consumer holds it.
GONE_CODES = frozenset(
    {
        "ReceiptHandleIsInvalid",
        "MessageNotInflight",
        "AWS.SimpleQueueService.MessageNotInflight",
    }
)

#: How many times botocore tries one request (throttling, 5xx, resets).
MAX_ATTEMPTS = 8
#: Seconds to open a connection; a dead endpoint should fail fast.
CONNECT_TIMEOUT_SECONDS = 5
#: HTTP connections kept per client. Worker threads ack, retry and extend
#: while another long-polls; connections open lazily, so a roomy pool costs
#: nothing until it is used.
POOL_CONNECTIONS = 50


def error_code(exc: ClientError) -> str:
    """The AWS error code of a ``ClientError`` ("" when there is none)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def client_config(read_timeout_seconds: int) -> Config:
    """The botocore configuration for alligator's SQS and S3 clients.

    ``read_timeout_seconds`` must exceed the longest long poll, or every
    idle receive would end in a timeout and a retry.
    """
    return Config(
        retries={"mode": "standard", "max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        read_timeout=read_timeout_seconds,
        max_pool_connections=max(10, POOL_CONNECTIONS),
    )


@contextmanager
def translate_errors(queue_name: str, region: str) -> Iterator[None]:
    """Turn errors the user must fix into one-line ``ConfigurationError``.

    Example:
        >>> with translate_errors("emails", "us-east-1"):
        ...     client.get_queue_url(QueueName="emails")

    Args:
        queue_name: the queue the call is about, for the message.
        region: its region, for the message.

    Raises:
        ConfigurationError: the queue is missing, or the credentials are
            missing or refused. Anything else propagates unchanged.
    """
    try:
        yield
    except NoCredentialsError as exc:
        raise ConfigurationError(
            "no AWS credentials found; configure them as boto3 expects "
            "(environment, ~/.aws, or an instance/task role)"
        ) from exc
    except NoRegionError as exc:
        raise ConfigurationError("no AWS region; put it in the DSN: sqs://REGION/QUEUE") from exc
    except ClientError as exc:
        code = error_code(exc)
        if code in MISSING_QUEUE_CODES:
            raise ConfigurationError(
                f"queue {queue_name!r} does not exist in {region}; "
                "create it or add ?create=true to the DSN"
            ) from exc
        if code in BAD_CREDENTIAL_CODES:
            raise ConfigurationError(
                f"AWS refused the credentials ({code}) for queue "
                f"{queue_name!r} in {region}; check the access key and secret"
            ) from exc
        if code in ACCESS_DENIED_CODES:
            operation = getattr(exc, "operation_name", "this call")
            raise ConfigurationError(
                f"access denied: the credentials may not call {operation} on "
                f"{queue_name!r} in {region}; grant it in the IAM policy"
            ) from exc
        raise
