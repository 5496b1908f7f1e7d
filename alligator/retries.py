"""Backoff between attempts: pure functions, so they are easy to test."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from . import _env
from .exceptions import ConfigurationError
from .limits import MAX_VISIBILITY_SECONDS

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
        immediate: retry at once, with no wait (``Backoff.IMMEDIATE``, for
            ``drain`` and tests).
    """

    base: float = DEFAULT_BACKOFF_BASE
    maximum: float = DEFAULT_BACKOFF_MAX
    immediate: bool = False

    #: Retries at once: ``drain`` and ``is_async=False``.
    IMMEDIATE: ClassVar[Backoff]

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
        if self.immediate:
            return 0
        factor = random.uniform(0.5, 1.0) if jitter is None else jitter
        exponent = min(max(attempt, 1) - 1, 64)
        return int(math.ceil(min(self.maximum, self.base * 2**exponent) * factor))

    def poll_seconds(self) -> int:
        """How long to wait before looking again at a task that waits on
        others (its dependencies, or another consumer's run of it)."""
        return 0 if self.immediate else math.ceil(self.base)

    @classmethod
    def from_options(cls, options: Mapping[str, str]) -> Backoff:
        """Build from DSN options, falling back to the environment, then defaults."""
        base = _number(options, "backoff_base", _env.BACKOFF_BASE)
        maximum = _number(options, "backoff_max", _env.BACKOFF_MAX)
        return cls(
            base=DEFAULT_BACKOFF_BASE if base is None else base,
            maximum=DEFAULT_BACKOFF_MAX if maximum is None else maximum,
        )


Backoff.IMMEDIATE = Backoff(immediate=True)


def _number(options: Mapping[str, str], key: str, env: str) -> float | None:
    raw = options.get(key)
    if raw is None:
        raw = _env.get(env)
    if raw is None or raw == "":
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{key} must be a number of seconds, not {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigurationError(f"{key} must be a finite number, not {raw!r}")
    return value
