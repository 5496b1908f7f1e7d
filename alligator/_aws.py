"""AWS client plumbing shared by SQS, S3, DynamoDB, CloudWatch and
EventBridge Scheduler: one botocore configuration, one translation of the
errors a user must fix, and credentials for local endpoints.

Only errors a user must fix (a missing resource, missing or refused
credentials, denied access) become ``ConfigurationError``; everything else
is re-raised unchanged. Throttling, 5xx answers and connection resets never
get here uncaught: botocore's "standard" retry mode retries them first.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from .exceptions import ConfigurationError

log = logging.getLogger("alligator")

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
#: How many times botocore retries one request (throttling, 5xx, resets);
#: botocore's ``max_attempts`` option counts the retries, not the first try.
MAX_ATTEMPTS = 8
#: Seconds to open a connection; a dead endpoint should fail fast.
CONNECT_TIMEOUT_SECONDS = 5
#: The first requests to a queue (resolving its URL at start-up) are retried
#: only this often (botocore's ``max_attempts`` counts retries: one retry is
#: two attempts), with a shorter connect timeout: an unreachable endpoint or
#: a region with no endpoint is a mistake to report in seconds, not a
#: transient fault to retry for a minute. Later requests retry as usual.
PROBE_RETRIES = 1
PROBE_CONNECT_TIMEOUT_SECONDS = 2
#: HTTP connections kept per client. Worker threads ack, retry and extend
#: while others long-poll; connections open lazily, so a roomy pool costs
#: nothing until it is used.
POOL_CONNECTIONS = 50
#: The credentials a loopback endpoint (moto, LocalStack) gets when none
#: are configured: both accept any.
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def error_code(exc: Exception) -> str:
    """The AWS error code of a ``ClientError`` ("" when there is none)."""
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


def client_config(
    read_timeout_seconds: int,
    *,
    max_attempts: int = MAX_ATTEMPTS,
    connect_timeout_seconds: int = CONNECT_TIMEOUT_SECONDS,
) -> Any:
    """The botocore configuration for alligator's clients.

    ``read_timeout_seconds`` must exceed the longest long poll, or every
    idle receive would end in a timeout and a retry.
    """
    from botocore.config import Config

    return Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=connect_timeout_seconds,
        read_timeout=read_timeout_seconds,
        max_pool_connections=POOL_CONNECTIONS,
    )


def is_loopback(endpoint_url: str | None) -> bool:
    """True for ``http://localhost:…``, ``127.0.0.1`` or ``[::1]``."""
    if not endpoint_url:
        return False
    host = urlsplit(endpoint_url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def effective_endpoint(endpoint_url: str | None, service: str = "sqs") -> str | None:
    """The endpoint a client of ``service`` will use: ``endpoint_url``, else
    boto3's environment variables (``AWS_ENDPOINT_URL_SQS``, then
    ``AWS_ENDPOINT_URL``), else None (AWS's own)."""
    if endpoint_url:
        return endpoint_url
    specific = f"AWS_ENDPOINT_URL_{service.upper().replace('-', '_')}"
    return os.environ.get(specific) or os.environ.get("AWS_ENDPOINT_URL") or None


def session_for(endpoint_url: str | None, service: str = "sqs") -> Any:
    """A boto3 session; with dummy credentials for a loopback endpoint when
    none are configured (moto and LocalStack take any). No other endpoint
    ever gets them: real AWS must use the user's own credentials.

    Example:
        >>> session_for("http://127.0.0.1:5000").client("sqs", region_name="us-east-1")

    Args:
        endpoint_url: the endpoint the session's clients are given, if any.
        service: the service whose environment variable (``AWS_ENDPOINT_URL_SQS``)
            names the endpoint when ``endpoint_url`` is None.
    """
    import boto3

    session = boto3.session.Session()
    endpoint = effective_endpoint(endpoint_url, service)
    if is_loopback(endpoint) and session.get_credentials() is None:
        log.info("no AWS credentials configured: using dummy ones for %s", endpoint)
        session = boto3.session.Session(
            aws_access_key_id=DUMMY_CREDENTIALS["aws_access_key_id"],
            aws_secret_access_key=DUMMY_CREDENTIALS["aws_secret_access_key"],
        )
    return session


@contextmanager
def unreachable_is_configuration(
    client: Any, region: str, endpoint_url: str | None
) -> Iterator[None]:
    """At start-up only: a connection that cannot be opened becomes a
    one-line ``ConfigurationError`` (a wrong ``endpoint_url``, a server not
    started, a region with no endpoint). Never use it around run-time
    calls, where a connection error is transient and must not stop a worker.
    """
    from botocore.exceptions import ConnectionError as BotoConnectionError

    try:
        yield
    except BotoConnectionError as exc:
        where = getattr(getattr(client, "meta", None), "endpoint_url", None) or endpoint_url
        if endpoint_url:
            hint = "is the server running, and is endpoint_url in the DSN right?"
        elif effective_endpoint(None):
            hint = "is the server running, and is AWS_ENDPOINT_URL_SQS (or AWS_ENDPOINT_URL) right?"
        else:
            hint = f"is {region!r} the right region (sqs://REGION/QUEUE), and is the network up?"
        raise ConfigurationError(f"cannot connect to SQS at {where}: {hint}") from exc


@contextmanager
def translate_aws_errors(
    what: str,
    region: str,
    *,
    missing_codes: frozenset[str] = frozenset(),
    missing: Callable[[], str] | None = None,
) -> Iterator[None]:
    """Turn errors the user must fix into one-line ``ConfigurationError``.

    Example:
        >>> with translate_aws_errors("queue 'emails'", "us-east-1"):
        ...     client.get_queue_url(QueueName="emails")

    Args:
        what: the resource the call is about, for the message.
        region: its region, for the message.
        missing_codes: error codes meaning the resource does not exist.
        missing: the message for those.

    Raises:
        ConfigurationError: the resource is missing, or the credentials are
            missing, refused or not allowed. Anything else propagates.
    """
    from botocore.exceptions import ClientError, NoCredentialsError, NoRegionError

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
        if code in missing_codes:
            text = missing() if missing is not None else f"{what} does not exist in {region}"
            raise ConfigurationError(text) from exc
        if code in BAD_CREDENTIAL_CODES:
            raise ConfigurationError(
                f"AWS refused the credentials ({code}) for {what} in {region}; "
                "check the access key and secret"
            ) from exc
        if code in ACCESS_DENIED_CODES:
            operation = getattr(exc, "operation_name", "this call")
            raise ConfigurationError(
                f"access denied: the credentials may not call {operation} on "
                f"{what} in {region}; grant it in the IAM policy"
            ) from exc
        raise
