"""Backoff between attempts: pure functions, so they are easy to test."""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass

from .exceptions import ConfigurationError

#: SQS caps a message's visibility timeout at 12 hours.
#: https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-visibility-timeout.html
MAX_VISIBILITY_SECONDS = 43200
DEFAULT_BACKOFF_BASE = 5.0
DEFAULT_BACKOFF_MAX = 3600.0


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter, in whole seconds.

    Example:
        >>> Backoff(base=5, maximum=3600).seconds(1, jitter=1.0)
        5

    Args:
        base: seconds before the first retry.
        maximum: the longest wait, in seconds.
    """

    base: float = DEFAULT_BACKOFF_BASE
    maximum: float = DEFAULT_BACKOFF_MAX

    def __post_init__(self) -> None:
        if not 0 < self.base <= self.maximum <= MAX_VISIBILITY_SECONDS:
            raise ConfigurationError(
                f"backoff must satisfy 0 < backoff_base ({self.base}) <= "
                f"backoff_max ({self.maximum}) <= {MAX_VISIBILITY_SECONDS} seconds"
            )

    def seconds(self, attempt: int, *, jitter: float | None = None) -> int:
        """Seconds to wait before attempt ``attempt + 1``.

        ``min(maximum, base * 2**(attempt-1)) * U(0.5, 1)``, rounded up,
        because SQS takes whole seconds.
        """
        factor = random.uniform(0.5, 1.0) if jitter is None else jitter
        exponent = min(max(attempt, 1) - 1, 64)
        return math.ceil(min(self.maximum, self.base * 2**exponent) * factor)

    @classmethod
    def from_options(cls, options: dict[str, str]) -> Backoff:
        """Build from DSN options, falling back to the environment, then defaults."""
        base = _number(options, "backoff_base", "ALLIGATOR_BACKOFF_BASE")
        maximum = _number(options, "backoff_max", "ALLIGATOR_BACKOFF_MAX")
        return cls(
            base=DEFAULT_BACKOFF_BASE if base is None else base,
            maximum=DEFAULT_BACKOFF_MAX if maximum is None else maximum,
        )


def _number(options: dict[str, str], key: str, env: str) -> float | None:
    raw = options.get(key, os.environ.get(env))
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{key} must be a number of seconds, not {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigurationError(f"{key} must be a finite number, not {raw!r}")
    return value
