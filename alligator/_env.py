"""Every ``ALLIGATOR_*`` environment variable, in one place.

The precedence rule, applied by the callers: an argument (or a DSN option)
beats the environment, and the environment beats what the queue itself says
(its redrive policy). Callers pass the explicit value, and fall back to
``get`` here; nothing else in the package reads ``os.environ`` for these.
"""

from __future__ import annotations

import os

SIGNING_KEY = "ALLIGATOR_SIGNING_KEY"
IMPORT_ALLOW = "ALLIGATOR_IMPORT_ALLOW"
LOG_FORMAT = "ALLIGATOR_LOG_FORMAT"
DLQ = "ALLIGATOR_DLQ"
BACKOFF_BASE = "ALLIGATOR_BACKOFF_BASE"
BACKOFF_MAX = "ALLIGATOR_BACKOFF_MAX"
STATUS = "ALLIGATOR_STATUS"
TIME_LIMIT = "ALLIGATOR_TIME_LIMIT"
#: alligator's own additions for the Lambda handler, whose DSN comes from
#: the event source ARN: the payload bucket it may follow pointers into.
PAYLOAD_BUCKET = "ALLIGATOR_PAYLOAD_BUCKET"
#: ``emf`` prints CloudWatch EMF lines on Lambda.
METRICS = "ALLIGATOR_METRICS"
#: The role EventBridge Scheduler assumes (``alligator schedule sync``).
SCHEDULER_ROLE = "ALLIGATOR_SCHEDULER_ROLE"
#: The token the dashboard requires on any host but loopback.
DASHBOARD_TOKEN = "ALLIGATOR_DASHBOARD_TOKEN"
#: Points the test plugin's ``sqs_endpoint`` at LocalStack or real SQS.
TEST_SQS_ENDPOINT = "ALLIGATOR_TEST_SQS_ENDPOINT"

#: Every variable alligator reads.
VARIABLES = (
    SIGNING_KEY,
    IMPORT_ALLOW,
    LOG_FORMAT,
    DLQ,
    BACKOFF_BASE,
    BACKOFF_MAX,
    STATUS,
    TIME_LIMIT,
    PAYLOAD_BUCKET,
    METRICS,
    SCHEDULER_ROLE,
    DASHBOARD_TOKEN,
    TEST_SQS_ENDPOINT,
)


def get(name: str) -> str | None:
    """The variable's value, or ``None`` when it is unset or blank."""
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()
