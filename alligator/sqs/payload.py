"""Large payloads in S3, in the AWS extended-client format.

A body over the SQS limit is stored in S3 and the message carries a pointer
instead, written exactly as ``amazon-sqs-extended-client`` (Python) and the
Java ``amazon-sqs-java-extended-client-lib`` write it::

    ["software.amazon.payloadoffloading.PayloadS3Pointer",
     {"s3BucketName": "my-bucket", "s3Key": "5b1f…"}]

with the message attribute ``ExtendedPayloadSize`` (DataType ``Number``)
holding the original size in bytes. So either side of a fleet can be an
extended-client program.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ParamValidationError

from .._aws import error_code
from ..exceptions import ConfigurationError, PoisonMessageError
from ..limits import MAX_MESSAGE_BYTES

if TYPE_CHECKING:
    import boto3

log = logging.getLogger("alligator")

#: The pointer class the extended clients write today.
POINTER_CLASS = "software.amazon.payloadoffloading.PayloadS3Pointer"
#: The pointer class older Java extended clients wrote; still read.
LEGACY_POINTER_CLASS = "com.amazon.sqs.javamessaging.MessageS3Pointer"
POINTER_CLASSES = (POINTER_CLASS, LEGACY_POINTER_CLASS)
#: The attribute holding the original size (the extended clients' name).
SIZE_ATTRIBUTE = "ExtendedPayloadSize"
#: The name older extended clients used for it.
LEGACY_SIZE_ATTRIBUTE = "SQSLargePayloadSize"
SIZE_ATTRIBUTES = (SIZE_ATTRIBUTE, LEGACY_SIZE_ATTRIBUTE)
#: Errors meaning the object (or its bucket) is not there.
MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "NoSuchBucket", "404"})
#: Errors meaning the pointer itself names no possible object.
BAD_POINTER_CODES = frozenset({"InvalidBucketName", "KeyTooLongError"})


def make_pointer(bucket: str, key: str) -> str:
    """The message body that points at ``s3://bucket/key``."""
    return json.dumps([POINTER_CLASS, {"s3BucketName": bucket, "s3Key": key}])


def parse_pointer(body: str) -> tuple[str, str] | None:
    """``(bucket, key)`` if ``body`` is an extended-client pointer, else None.

    A task body is a JSON object, so a JSON list naming a pointer class is
    never mistaken for one.

    Raises:
        PoisonMessageError: it names a pointer class but is malformed.
    """
    if not body.startswith("[") or not any(name in body for name in POINTER_CLASSES):
        return None
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):  # not a pointer; decode says why
        return None
    if not isinstance(data, list) or not data or data[0] not in POINTER_CLASSES:
        return None
    details = data[1] if len(data) == 2 else None
    if not isinstance(details, dict):
        raise PoisonMessageError(
            f"S3 pointer must be [class, {{s3BucketName, s3Key}}], got {len(data)} element(s)"
        )
    bucket, key = details.get("s3BucketName"), details.get("s3Key")
    if not isinstance(bucket, str) or not bucket:
        raise PoisonMessageError("S3 pointer has no s3BucketName")
    if not isinstance(key, str) or not key:
        raise PoisonMessageError("S3 pointer has no s3Key")
    return bucket, key


class PayloadStore:
    """Puts, gets and deletes offloaded bodies; the S3 client is made lazily,
    so a queue that never offloads never builds one.

    Example:
        >>> store = PayloadStore(session, region="us-east-1", endpoint_url=None,
        ...                      config=config)
        >>> key = store.put("my-bucket", body)

    Args:
        session: the boto3 session the SQS client came from.
        region: the AWS region.
        endpoint_url: the same override as SQS (moto serves S3 there too).
        config: the botocore ``Config`` to use.
    """

    def __init__(
        self,
        session: boto3.session.Session,
        *,
        region: str,
        endpoint_url: str | None,
        config: Any,
    ) -> None:
        self._session = session
        self.region = region
        self._endpoint_url = endpoint_url
        self._config = config
        self._client: Any = None
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 S3 client, made on first use."""
        with self._lock:
            if self._client is None:
                self._client = self._session.client(
                    "s3",
                    region_name=self.region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                )
            return self._client

    def put(self, bucket: str, body: str) -> str:
        """Store ``body`` under a fresh uuid4 key in ``bucket``; return the key.

        Raises:
            ConfigurationError: the bucket does not exist.
        """
        key = str(uuid.uuid4())
        try:
            self.client.put_object(Bucket=bucket, Key=key, Body=body.encode("utf-8"))
        except ClientError as exc:
            if error_code(exc) == "NoSuchBucket":
                raise ConfigurationError(
                    f"payload bucket {bucket!r} does not exist; create it or fix "
                    "payload_bucket= in the DSN"
                ) from exc
            raise
        return key

    def get(self, bucket: str, key: str, *, max_bytes: int | None = None) -> str:
        """The stored body.

        Raises:
            PoisonMessageError: the object is gone, larger than ``max_bytes``
                (it is not read), the pointer names no possible object, or
                it is not UTF-8 text; the message can never run. Other S3
                errors (throttling, denied access) propagate, so the message
                is retried, not discarded.
        """
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            size = int(response.get("ContentLength") or 0)
            if max_bytes is not None and size > max_bytes:
                response["Body"].close()
                raise PoisonMessageError(
                    f"payload s3://{bucket}/{key} is {size} bytes, over payload_max ({max_bytes})"
                )
            data = response["Body"].read(None if max_bytes is None else max_bytes + 1)
            if max_bytes is not None and len(data) > max_bytes:
                raise PoisonMessageError(
                    f"payload s3://{bucket}/{key} is over payload_max ({max_bytes} bytes)"
                )
        except ParamValidationError as exc:  # botocore refused the bucket name
            raise PoisonMessageError(f"S3 pointer is invalid: {exc}") from exc
        except ClientError as exc:
            if error_code(exc) in MISSING_OBJECT_CODES:
                raise PoisonMessageError(f"payload s3://{bucket}/{key} does not exist") from exc
            if error_code(exc) in BAD_POINTER_CODES:
                raise PoisonMessageError(f"S3 pointer is invalid: {error_code(exc)}") from exc
            raise
        try:
            return str(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise PoisonMessageError(f"payload s3://{bucket}/{key} is not UTF-8 text") from exc

    def delete(self, bucket: str, key: str) -> None:
        """Remove a payload whose message is gone. Never raises: the message
        is already deleted, and an orphaned object only costs storage."""
        try:
            self.client.delete_object(Bucket=bucket, Key=key)
        except Exception as exc:  # best effort: logged, never raised
            log.warning("could not delete payload s3://%s/%s: %s", bucket, key, exc)

    def close(self) -> None:
        """Close the S3 client, if one was made."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None


class SQSPayloads:
    """The ``Payloads`` of an SQS queue: offload to, and load from, its own
    ``payload_bucket`` only.

    A pointer is followed only into the consumer's own bucket: a sender
    could otherwise make the worker read (and, after the run, delete)
    whatever its role can reach. Any other bucket, or a pointer when no
    bucket is configured, is poison: never fetched, never deleted.

    Args:
        store: the S3 client wrapper.
        bucket: the queue's ``payload_bucket`` (None: nothing is offloaded).
        max_bytes: the largest payload read (``payload_max``).
        offload_above: bodies larger than this many bytes go to S3 (a
            function: the backend's limits can be lowered in tests).
    """

    def __init__(
        self,
        store: PayloadStore,
        bucket: str | None,
        *,
        max_bytes: int,
        offload_above: Callable[[], int],
    ) -> None:
        self.store = store
        self.bucket = bucket
        self.max_bytes = max_bytes
        self.offload_above = offload_above

    def offload(self, body: str) -> tuple[str, dict[str, str]]:
        """The body to send and the attributes to add (none when it fits).

        Raises:
            PayloadTooLargeError: it does not fit and no bucket is set.
        """
        size = len(body.encode("utf-8"))
        limit = self.offload_above()
        if size <= limit:
            return body, {}
        if self.bucket is None:
            from ..exceptions import PayloadTooLargeError

            raise PayloadTooLargeError(
                f"message body is {size} bytes, over the {limit} that fit in an SQS "
                f"message with its attributes (the SQS limit is {MAX_MESSAGE_BYTES}); "
                "set payload_bucket=BUCKET in the DSN to offload it to S3"
            )
        from .._aws import translate_aws_errors

        with translate_aws_errors(f"payload bucket {self.bucket!r}", self.store.region):
            key = self.store.put(self.bucket, body)
        return make_pointer(self.bucket, key), {SIZE_ATTRIBUTE: str(size)}

    def load(self, body: str) -> str:
        """The real body: fetched from the own bucket for a pointer.

        Raises:
            PoisonMessageError: a malformed pointer, another bucket, an
                object over ``payload_max``, or one that is gone.
        """
        pointer = parse_pointer(body)
        if pointer is None:
            return body
        bucket, key = self._own(pointer)
        return self.store.get(bucket, key, max_bytes=self.max_bytes)

    def is_offloaded(self, body: str) -> bool:
        try:
            return parse_pointer(body) is not None
        except PoisonMessageError:
            return False

    def delete(self, body: str) -> None:
        """Remove the object a deleted message pointed at (own bucket only)."""
        try:
            pointer = parse_pointer(body)
            if pointer is None:
                return
            bucket, key = self._own(pointer)
        except PoisonMessageError:
            return
        self.store.delete(bucket, key)

    def _own(self, pointer: tuple[str, str]) -> tuple[str, str]:
        bucket, key = pointer
        if self.bucket is None:
            raise PoisonMessageError(
                f"S3 pointer into bucket {bucket!r}, but this consumer has no payload_bucket"
            )
        if bucket != self.bucket:
            raise PoisonMessageError(
                f"S3 pointer into bucket {bucket!r}, not this consumer's payload_bucket"
            )
        return bucket, key
