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
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError, ParamValidationError

from .._aws import error_code
from ..exceptions import ConfigurationError, PoisonMessageError

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
        self._region = region
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
                    region_name=self._region,
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

    def get(self, bucket: str, key: str) -> str:
        """The stored body.

        Raises:
            PoisonMessageError: the object is gone, the pointer names no
                possible object, or it is not UTF-8 text; the message can
                never run. Other S3 errors (throttling, denied access)
                propagate, so the message is retried, not discarded.
        """
        try:
            response = self.client.get_object(Bucket=bucket, Key=key)
            data = response["Body"].read()
        except ParamValidationError as exc:  # botocore refused the bucket name
            raise PoisonMessageError(f"S3 pointer is invalid: {exc}") from exc
        except ClientError as exc:
            if error_code(exc) in MISSING_OBJECT_CODES:
                raise PoisonMessageError(f"payload s3://{bucket}/{key} does not exist") from exc
            if error_code(exc) in BAD_POINTER_CODES:
                raise PoisonMessageError(f"S3 pointer is invalid: {error_code(exc)}") from exc
            raise
        try:
            return data.decode("utf-8")
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
