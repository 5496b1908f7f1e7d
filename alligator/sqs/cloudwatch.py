"""The age of a queue's oldest message, which SQS tells only CloudWatch.

The SQS API counts messages but never says how old the oldest is; SQS
publishes that as the CloudWatch metric ``ApproximateAgeOfOldestMessage``
(namespace ``AWS/SQS``, one datapoint a minute, only while the queue is
active). ``alligator stats`` reads the newest datapoint of the last 15
minutes; any failure (no permission, no datapoint, an endpoint that serves
SQS only) is an answer of "unknown, because ...", never an error.
"""

from __future__ import annotations

import datetime
from typing import Any

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .._aws import ACCESS_DENIED_CODES, error_code, session_for
from ._settings import SQSSettings

NAMESPACE = "AWS/SQS"
METRIC = "ApproximateAgeOfOldestMessage"
#: How far back to look for a datapoint; SQS publishes one a minute, a few
#: minutes late, and none at all for a queue idle for hours.
LOOKBACK = datetime.timedelta(minutes=15)
#: Seconds per datapoint asked for: SQS's own resolution.
PERIOD_SECONDS = 60


class OldestAge:
    """Reads ``ApproximateAgeOfOldestMessage`` for one queue.

    Example:
        >>> age, note = OldestAge(backend.settings).read()
        >>> age, note
        (42.0, 'CloudWatch ApproximateAgeOfOldestMessage at 12:03 UTC')

    Args:
        settings: the queue's settings (region, endpoint, name). A DSN's
            ``endpoint_url`` is used for CloudWatch too, as moto and
            LocalStack serve every service on one endpoint.
    """

    def __init__(self, settings: SQSSettings) -> None:
        self.queue_name = settings.queue_name
        # Few retries and short timeouts: this is a nicety on a status
        # display, not worth a stall when CloudWatch is unreachable.
        config = Config(
            retries={"mode": "standard", "max_attempts": 2},
            connect_timeout=3,
            read_timeout=10,
        )
        self.client: Any = session_for(settings.endpoint_url, "cloudwatch").client(
            "cloudwatch",
            region_name=settings.region,
            endpoint_url=settings.endpoint_url,
            config=config,
        )
        # Set once CloudWatch refused us or could not be reached: asking
        # again on every refresh of ``stats --watch`` would only stall it.
        self._given_up: str | None = None

    def read(self) -> tuple[float | None, str]:
        """The newest age in seconds (``None`` when unknown) and where it
        came from, or why it is unknown."""
        if self._given_up is not None:
            return None, self._given_up
        age, note, final = self._read()
        if final:
            self._given_up = note
        return age, note

    def _read(self) -> tuple[float | None, str, bool]:
        now = datetime.datetime.now(datetime.UTC)
        try:
            response = self.client.get_metric_statistics(
                Namespace=NAMESPACE,
                MetricName=METRIC,
                Dimensions=[{"Name": "QueueName", "Value": self.queue_name}],
                StartTime=now - LOOKBACK,
                EndTime=now,
                Period=PERIOD_SECONDS,
                Statistics=["Maximum"],
            )
        except ClientError as exc:
            code = error_code(exc)
            if code in ACCESS_DENIED_CODES:
                return None, "no permission for cloudwatch:GetMetricStatistics", True
            return None, f"CloudWatch refused: {code or exc}", True
        except BotoCoreError as exc:
            return None, f"CloudWatch unreachable: {exc}", True
        points = response.get("Datapoints", [])
        if not points:
            minutes = int(LOOKBACK.total_seconds() // 60)
            note = (
                f"SQS reports it only to CloudWatch, which has no {METRIC} "
                f"datapoint from the last {minutes} minutes"
            )
            return None, note, False
        newest = max(points, key=lambda point: point["Timestamp"])
        at = newest["Timestamp"].astimezone(datetime.UTC)
        return float(newest["Maximum"]), f"CloudWatch {METRIC} at {at:%H:%M} UTC", False

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()
