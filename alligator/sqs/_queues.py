"""Finding (or creating) a queue and its dead-letter queue, once.

Nothing here runs at construction: the first call that needs a URL resolves
it under a lock and caches it, so a ``Gator`` can be built at import time
and a worker's threads share one lookup.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from botocore.exceptions import ClientError

from .._aws import (
    PROBE_CONNECT_TIMEOUT_SECONDS,
    PROBE_RETRIES,
    client_config,
    error_code,
    unreachable_is_configuration,
)
from ..exceptions import ConfigurationError
from ..limits import MAX_RETENTION_SECONDS
from ._errors import MISSING_QUEUE_CODES, translate_errors
from ._settings import QueueRef, SQSSettings, dlq_name_for, parse_queue_ref

#: ``maxReceiveCount`` of the redrive policy ``create=true`` writes: well
#: above a task's usual ``retries + 1``, because every receive counts there.
CREATE_MAX_RECEIVE_COUNT = 10
#: Queue attributes read once and cached.
CACHED_ATTRIBUTES = [
    "VisibilityTimeout",
    "RedrivePolicy",
    "QueueArn",
    "MessageRetentionPeriod",
]


def fifo_attributes(name: str) -> dict[str, str]:
    """``CreateQueue`` attributes for a FIFO name. alligator's producers
    always send a deduplication id, which wins over content-based
    deduplication; it is on for senders that cannot send one: EventBridge
    Scheduler (``alligator schedule sync`` needs it)."""
    if not name.endswith(".fifo"):
        return {}
    return {"FifoQueue": "true", "ContentBasedDeduplication": "true"}


class QueueResolver:
    """Resolves and caches the queue URL, its attributes and its DLQ.

    Args:
        client: the boto3 SQS client.
        settings: the validated DSN.
        session: the boto3 session ``client`` came from; with it, the first
            resolution goes through a probe client that gives up on an
            unreachable endpoint in seconds (``_aws.PROBE_*``).
    """

    def __init__(self, client: Any, settings: SQSSettings, session: Any = None) -> None:
        self.client = client
        self.settings = settings
        self._session = session
        self._lock = threading.RLock()
        self._queue_url: str | None = None
        self._attributes: dict[str, str] | None = None
        self._dlq_resolved = False
        self._dlq_url: str | None = None
        self.dlq_ref: QueueRef | None = None

    def pin_without_dlq(self, queue_url: str) -> None:
        """Use a known queue URL, with no DLQ whatever the settings say
        (for a backend on a dead-letter queue itself)."""
        with self._lock:
            self._queue_url = queue_url
            self._dlq_resolved = True
            self._dlq_url, self.dlq_ref = None, None

    def queue_url(self) -> str:
        """The queue's URL; creates it (and its DLQ) with ``create=true``.

        Raises:
            ConfigurationError: it does not exist.
        """
        with self._lock:
            if self._queue_url is None:
                self._queue_url = self._first_resolution()
            return self._queue_url

    def _first_resolution(self) -> str:
        """``_find_or_create`` through the probe client first: a connection
        that cannot be opened is a ``ConfigurationError`` here, at start-up
        only. Anything else the probe meets (throttling, a 5xx, a reset) is
        transient: the queue is then resolved again with the full retries."""
        client = self.client
        if self._session is None:
            with unreachable_is_configuration(
                client, self.settings.region, self.settings.endpoint_url
            ):
                return self._find_or_create()
        self.client = self._session.client(
            "sqs",
            region_name=self.settings.region,
            endpoint_url=self.settings.endpoint_url,
            config=client_config(
                int(client.meta.config.read_timeout),
                max_attempts=PROBE_RETRIES,
                connect_timeout_seconds=PROBE_CONNECT_TIMEOUT_SECONDS,
            ),
        )
        try:
            with unreachable_is_configuration(
                self.client, self.settings.region, self.settings.endpoint_url
            ):
                return self._find_or_create()
        except ConfigurationError:
            raise
        except Exception:
            pass  # transient: try again below, with the full retries
        finally:
            self.client.close()
            self.client = client
        return self._find_or_create()

    def attributes(self) -> dict[str, str]:
        """The queue's ``VisibilityTimeout``, ``RedrivePolicy`` and ``QueueArn``."""
        with self._lock:
            if self._attributes is None:
                url = self.queue_url()
                with self._translate(self.settings.queue_name):
                    response = self.client.get_queue_attributes(
                        QueueUrl=url, AttributeNames=CACHED_ATTRIBUTES
                    )
                self._attributes = dict(response.get("Attributes", {}))
            return self._attributes

    def dlq_url(self) -> str | None:
        """The DLQ's URL: the ``dlq`` option, else ``ALLIGATOR_DLQ``, else
        the queue's ``RedrivePolicy`` target, else None."""
        with self._lock:
            if not self._dlq_resolved:
                ref = self.settings.dlq or self._redrive_target()
                url = None if ref is None else self._url_of(ref)
                self._dlq_url, self.dlq_ref = url, ref
                self._dlq_resolved = True
            return self._dlq_url

    def _redrive_target(self) -> QueueRef | None:
        policy = self.attributes().get("RedrivePolicy")
        if not policy:
            return None
        try:
            arn = json.loads(policy)["deadLetterTargetArn"]
        except (ValueError, KeyError, TypeError):
            raise ConfigurationError(
                f"queue {self.settings.queue_name!r} has an unreadable RedrivePolicy: {policy!r}"
            ) from None
        return parse_queue_ref(str(arn), "RedrivePolicy deadLetterTargetArn")

    def _url_of(self, ref: QueueRef) -> str:
        if ref.url is not None:
            return ref.url
        params = {"QueueName": ref.name}
        if ref.account is not None:
            params["QueueOwnerAWSAccountId"] = ref.account
        with self._translate(ref.name):
            return str(self.client.get_queue_url(**params)["QueueUrl"])

    def _find_or_create(self) -> str:
        main = QueueRef(name=self.settings.queue_name)
        if not self.settings.create:
            return self._url_of(main)
        return self._lookup(main) or self._create_with_dlq(main)

    def _create_with_dlq(self, main: QueueRef) -> str:
        dlq = self.settings.dlq or QueueRef(name=dlq_name_for(main.name))
        if dlq.fifo != main.fifo:
            raise ConfigurationError(
                f"cannot create {main.name!r} with dead-letter queue {dlq.name!r}: "
                "SQS requires both to be FIFO or both standard"
            )
        if dlq.url is None and dlq.account is None:
            dlq_url = self._lookup(dlq) or self._create(dlq, {})
        else:
            dlq_url = self._url_of(dlq)  # named by URL or ARN: must exist
        with self._translate(dlq.name):
            arn = self.client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
        redrive = {
            "deadLetterTargetArn": arn,
            "maxReceiveCount": CREATE_MAX_RECEIVE_COUNT,
        }
        return self._create(main, {"RedrivePolicy": json.dumps(redrive)})

    def _lookup(self, ref: QueueRef) -> str | None:
        """The queue's URL, or None when it does not exist."""
        with self._translate(ref.name):
            try:
                return str(self.client.get_queue_url(QueueName=ref.name)["QueueUrl"])
            except ClientError as exc:
                if error_code(exc) in MISSING_QUEUE_CODES:
                    return None
                raise

    def _create(self, ref: QueueRef, attributes: dict[str, str]) -> str:
        # Only ever called for a missing queue: CreateQueue on an existing
        # one with other attributes would fail, and we never modify a queue.
        with self._translate(ref.name):
            response = self.client.create_queue(
                QueueName=ref.name,
                Attributes={
                    **fifo_attributes(ref.name),
                    # The longest retention: a wait (a backoff, a deferral)
                    # never comes near it.
                    "MessageRetentionPeriod": str(MAX_RETENTION_SECONDS),
                    **attributes,
                },
            )
        return str(response["QueueUrl"])

    def _translate(self, name: str) -> Any:
        return translate_errors(name, self.settings.region)
