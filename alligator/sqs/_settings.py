"""The SQS DSN, validated once: every mistake is a one-line
``ConfigurationError`` at construction, before any network call.

``sqs://REGION/QUEUE?endpoint_url=…&wait_time=…&batch_size=…&
visibility_timeout=…&dlq=…&create=…&payload_bucket=…&backoff_base=…&
backoff_max=…``
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .. import _env
from ..dsn import DSN, bool_option, int_option, parse_dsn
from ..exceptions import ConfigurationError
from ..limits import MAX_BATCH_ENTRIES, MAX_VISIBILITY_SECONDS, MAX_WAIT_SECONDS
from ..retries import Backoff

#: The largest offloaded payload a consumer reads unless ``payload_max`` says.
DEFAULT_PAYLOAD_MAX_BYTES = 64 * 1_048_576
#: The largest ``payload_max`` (S3 objects go to 5 TB; a task body must not).
MAX_PAYLOAD_MAX_BYTES = 2**31 - 1

KNOWN_OPTIONS = frozenset(
    {
        "endpoint_url",
        "wait_time",
        "batch_size",
        "visibility_timeout",
        "dlq",
        "create",
        "payload_bucket",
        "backoff_base",
        "backoff_max",
        "payload_max",
    }
)
#: Queue names: 1-80 characters, alphanumerics, hyphens and underscores,
#: plus the ``.fifo`` suffix for FIFO queues.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_CreateQueue.html
QUEUE_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$|^[A-Za-z0-9_-]{1,75}\.fifo$")
#: The shape of an AWS region: a partition prefix, one or more words, a
#: number (us-east-1, eu-central-2, us-gov-west-1, cn-north-1,
#: us-isob-east-1). A shape, not a list: new regions need no release.
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$")
#: A region with the queue name glued on: ``us-east-1emails``.
GLUED_REGION = re.compile(r"^([a-z]{2}(-[a-z]+)+-[0-9])([A-Za-z_-][A-Za-z0-9_.-]*)$")
QUEUE_ARN = re.compile(r"^arn:aws[a-z-]*:sqs:([a-z0-9-]+):(\d{12}):([^:/]+)$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


@dataclass(frozen=True)
class QueueRef:
    """A queue named by name, URL or ARN (the ``dlq`` option's three forms)."""

    name: str
    url: str | None = None
    account: str | None = None

    @property
    def fifo(self) -> bool:
        return self.name.endswith(".fifo")


@dataclass(frozen=True)
class SQSSettings:
    """Everything an ``SQSBackend`` is configured with."""

    dsn: DSN
    region: str
    queue_name: str
    endpoint_url: str | None
    wait_time: int
    batch_size: int
    visibility_timeout: int | None
    dlq: QueueRef | None  # the DSN option, else ALLIGATOR_DLQ
    create: bool
    payload_bucket: str | None
    backoff: Backoff
    payload_max: int = DEFAULT_PAYLOAD_MAX_BYTES

    @property
    def fifo(self) -> bool:
        return self.queue_name.endswith(".fifo")


def parse_settings(dsn: str | DSN, queue_name: str | None = None) -> SQSSettings:
    """Validate an ``sqs://`` DSN.

    The queue comes from the path, else from ``queue_name`` (1.0's
    ``Gator("sqs://us-east-1/", queue_name="emails")``).

    Raises:
        ConfigurationError: naming the first problem found.
    """
    parsed = parse_dsn(dsn) if isinstance(dsn, str) else dsn
    if parsed.scheme != "sqs":
        raise ConfigurationError(f"not an sqs:// DSN: {parsed.scheme}://")
    parsed.reject_unknown(set(KNOWN_OPTIONS))
    region = _region(parsed)
    return SQSSettings(
        dsn=parsed,
        region=region,
        queue_name=_queue_name(parsed.path.strip("/") or queue_name or ""),
        endpoint_url=_endpoint_url(parsed.options.get("endpoint_url")),
        wait_time=_int(parsed, "wait_time", MAX_WAIT_SECONDS, 0, MAX_WAIT_SECONDS),
        batch_size=_int(parsed, "batch_size", MAX_BATCH_ENTRIES, 1, MAX_BATCH_ENTRIES),
        visibility_timeout=int_option(
            parsed, "visibility_timeout", None, 1, MAX_VISIBILITY_SECONDS
        ),
        dlq=_dlq(parsed.options.get("dlq"), _env.get(_env.DLQ)),
        create=bool_option(parsed, "create"),
        payload_bucket=_bucket(parsed.options.get("payload_bucket")),
        backoff=Backoff.from_options(parsed.options),
        payload_max=_int(
            parsed, "payload_max", DEFAULT_PAYLOAD_MAX_BYTES, 1, MAX_PAYLOAD_MAX_BYTES
        ),
    )


def parse_queue_ref(value: str, what: str = "dlq") -> QueueRef:
    """A queue name, URL or ARN.

    Raises:
        ConfigurationError: none of the three.
    """
    if value.startswith(("https://", "http://")):
        name = value.rstrip("/").rsplit("/", 1)[-1]
        if not QUEUE_NAME.match(name):
            raise ConfigurationError(f"{what}: {value!r} is not an SQS queue URL")
        return QueueRef(name=name, url=value)
    arn = QUEUE_ARN.match(value)
    if arn:
        return QueueRef(name=_queue_name(arn.group(3), what), account=arn.group(2))
    if value.startswith("arn:"):
        raise ConfigurationError(f"{what}: {value!r} is not an SQS queue ARN")
    return QueueRef(name=_queue_name(value, what))


def dlq_name_for(queue_name: str) -> str:
    """The DLQ ``create=true`` makes: ``NAME-dlq``, or ``NAME-dlq.fifo``."""
    if queue_name.endswith(".fifo"):
        return queue_name[: -len(".fifo")] + "-dlq.fifo"
    return queue_name + "-dlq"


def _region(dsn: DSN) -> str:
    """The region, which must have a region's shape: ``sqs://emails`` is a
    queue name without a region, not region "emails" with queue "all"."""
    region, path = dsn.host, dsn.path.strip("/")
    if not region:
        raise ConfigurationError(
            "the SQS DSN names no region: use sqs://REGION/QUEUE, e.g. sqs://us-east-1/emails"
        )
    if REGION.match(region):
        return region
    glued = GLUED_REGION.match(region)
    if glued and not path:
        raise ConfigurationError(
            f"{region!r} is not an AWS region: is a '/' missing? "
            f"sqs://{glued.group(1)}/{glued.group(3)}"
        )
    if not path and QUEUE_NAME.match(region):
        raise ConfigurationError(
            f"{region!r} is not an AWS region, and the SQS DSN names no queue: "
            f"use sqs://REGION/QUEUE, e.g. sqs://us-east-1/{region}"
        )
    raise ConfigurationError(
        f"{region!r} is not an AWS region: expected one like us-east-1, eu-central-2 "
        "or us-gov-west-1 (sqs://REGION/QUEUE)"
    )


def _int(dsn: DSN, key: str, default: int, low: int, high: int) -> int:
    value = int_option(dsn, key, default, low, high)
    assert value is not None
    return value


def _queue_name(name: str, what: str = "queue") -> str:
    if not name:
        raise ConfigurationError(
            "the SQS DSN names no queue: use sqs://REGION/QUEUE or pass queue_name="
        )
    if not QUEUE_NAME.match(name):
        raise ConfigurationError(
            f"{what} name {name!r} is not a valid SQS queue name: 1-80 letters, "
            "digits, hyphens or underscores (FIFO names end in .fifo)"
        )
    return name


def _endpoint_url(value: str | None) -> str | None:
    if value is None:
        return None
    if not re.match(r"^https?://[^/\s]+", value):
        raise ConfigurationError(f"endpoint_url must be an http:// or https:// URL, not {value!r}")
    return value


def _dlq(option: str | None, environ: str | None) -> QueueRef | None:
    if option is not None:
        if not option:
            raise ConfigurationError("dlq must name a queue (name, URL or ARN)")
        return parse_queue_ref(option, "dlq")
    if environ:
        return parse_queue_ref(environ, "ALLIGATOR_DLQ")
    return None


def _bucket(value: str | None) -> str | None:
    if value is None:
        return None
    if not BUCKET.match(value):
        raise ConfigurationError(f"payload_bucket {value!r} is not a valid S3 bucket name")
    return value
