"""EventBridge Scheduler's schedule expressions, and when they fire.

One language, read the same way here and by EventBridge Scheduler, so the
local scheduler fires at the times AWS would:

- ``rate(N unit)``: every N minutes, hours or days (``minute``/``hour``/
  ``day`` when N is 1, the plural otherwise, as AWS requires). A rate is a
  fixed length of time, so daylight saving does not touch it ("a day is 24
  hours"). Firings fall on multiples of the period since the Unix epoch;
  ``schedule sync`` gives EventBridge a ``StartDate`` on the same grid, so
  both fire at the same instants.
- ``cron(min hour day-of-month month day-of-week year)``: wall-clock times
  in the schedule's time zone (see ``cron.py`` for the fields).
- ``at(yyyy-mm-ddThh:mm:ss)``: once, at that wall-clock time.

Daylight saving, as EventBridge Scheduler documents it: a wall-clock time
the clocks skip (spring forward) is skipped; a time they repeat (fall back)
fires once, at its first occurrence. An ``at()`` on a skipped time would
never fire, so it is refused.

Example:
    >>> expression = parse("cron(0 2 * * ? *)", "Europe/Paris")
    >>> expression.next_after(datetime(2026, 7, 1, tzinfo=UTC))  # 02:00 CEST
    datetime.datetime(2026, 7, 2, 0, 0, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..exceptions import ConfigurationError
from .cron import Cron, CronError, parse_cron

#: What to install for cron() schedules.
INSTALL_HINT = "pip install 'alligator[schedule]'"
RATE = re.compile(r"^rate\((\d+) ([a-z]+)\)$")
AT = re.compile(r"^at\((\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\)$")
CRON = re.compile(r"^cron\((.*)\)$")
#: Seconds per rate unit, singular and plural.
UNITS = {"minute": 60, "hour": 3600, "day": 86400}
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Expression(Protocol):
    """A parsed schedule expression."""

    text: str

    def firings(self, after: datetime) -> Iterator[datetime]:
        """Every firing strictly after ``after`` (aware), in order, in UTC."""
        ...

    def next_after(self, after: datetime) -> datetime | None:
        """The first firing strictly after ``after``, or ``None``."""
        ...


class _Firings:
    def next_after(self, after: datetime) -> datetime | None:
        return next(self.firings(after), None)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Rate(_Firings):
    """``rate(N unit)``: every ``seconds``, on multiples of it since 1970."""

    text: str
    seconds: int

    def firings(self, after: datetime) -> Iterator[datetime]:
        elapsed = int((after - EPOCH).total_seconds() // self.seconds)
        step = elapsed + 1
        while True:
            yield EPOCH + timedelta(seconds=step * self.seconds)
            step += 1

    def grid_start(self, after: datetime) -> datetime:
        """The first instant of the grid after ``after`` (a ``StartDate``)."""
        return next(self.firings(after))

    def on_grid(self, moment: datetime) -> bool:
        """True when ``moment`` is one of this rate's firings."""
        return (moment - EPOCH).total_seconds() % self.seconds == 0


@dataclass(frozen=True)
class At(_Firings):
    """``at(...)``: one firing, ``moment`` (UTC)."""

    text: str
    moment: datetime

    def firings(self, after: datetime) -> Iterator[datetime]:
        if self.moment > after:
            yield self.moment


@dataclass(frozen=True)
class CronExpression(_Firings):
    """``cron(...)`` read in the time zone ``zone``."""

    text: str
    cron: Cron
    zone: ZoneInfo

    def firings(self, after: datetime) -> Iterator[datetime]:
        # A day early: around a fall-back transition the local date of
        # `after` can be later than that of a firing still to come.
        start = after.astimezone(self.zone).date() - timedelta(days=1)
        last: datetime | None = None
        for day in self.cron.dates(start):
            for time in self.cron.times:
                moment = wall_clock_to_utc(datetime.combine(day, time), self.zone)
                if moment is not None and moment > after and (last is None or moment > last):
                    last = moment
                    yield moment


def parse(text: str, timezone: str = "UTC") -> Rate | At | CronExpression:
    """Parse a schedule expression; it fires in ``timezone`` (IANA name).

    Raises:
        ConfigurationError: a bad expression (naming the part that is
            wrong), an unknown time zone, or python-dateutil missing.
    """
    zone = time_zone(timezone)
    if not isinstance(text, str):
        raise ConfigurationError(f"a schedule expression is a string, not {type(text).__name__}")
    try:
        if text.startswith("rate("):
            return _rate(text)
        if text.startswith("at("):
            return _at(text, zone)
        if text.startswith("cron("):
            return _cron(text, zone)
    except CronError as exc:
        raise ConfigurationError(f"bad schedule expression {text!r}: {exc}") from None
    raise ConfigurationError(
        f"bad schedule expression {text!r}: use rate(5 minutes), "
        "cron(0 2 * * ? *) or at(2026-12-24T09:00:00)"
    )


def time_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``UTC``, ``Europe/Paris``).

    Raises:
        ConfigurationError: not a time zone this machine knows.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ConfigurationError(
            f"unknown time zone {name!r}: use an IANA name such as UTC or "
            "Europe/Paris (where the system has no time zone data: pip install tzdata)"
        ) from None


def wall_clock_to_utc(local: datetime, zone: ZoneInfo) -> datetime | None:
    """The UTC instant of a naive wall-clock time in ``zone``, as
    EventBridge Scheduler reads it: ``None`` for a time the clocks skip,
    the first of the two instants for a time they repeat."""
    instant = local.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != local:
        return None  # in the gap of a spring-forward change
    return instant


def format_time(moment: datetime) -> str:
    """ISO 8601 in UTC, to the second, as EventBridge's
    ``<aws.scheduler.scheduled-time>`` prints it: ``2026-12-02T02:00:00Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rate(text: str) -> Rate:
    match = RATE.match(text)
    if not match:
        raise CronError("write rate(VALUE UNIT), for example rate(5 minutes)")
    value_text, unit = match.groups()
    value = int(value_text)
    singular = unit.removesuffix("s")
    if singular not in UNITS:
        raise CronError(f"unknown unit {unit!r}: use minute(s), hour(s) or day(s)")
    if value < 1:
        raise CronError("the value must be a whole number of 1 or more")
    if value == 1 and unit != singular:
        raise CronError(f"with the value 1 the unit is singular: rate(1 {singular})")
    if value > 1 and unit == singular:
        raise CronError(f"with a value above 1 the unit is plural: rate({value} {singular}s)")
    seconds = value * UNITS[singular]
    if seconds > 100 * 366 * 86400:
        raise CronError("the period is longer than 100 years")
    return Rate(text=text, seconds=seconds)


def _at(text: str, zone: ZoneInfo) -> At:
    match = AT.match(text)
    if not match:
        raise CronError("write at(yyyy-mm-ddThh:mm:ss), for example at(2026-12-24T09:00:00)")
    try:
        year, month, day, hour, minute, second = (int(part) for part in match.groups())
        local = datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        raise CronError(f"not a real date and time ({exc})") from None
    moment = wall_clock_to_utc(local, zone)
    if moment is None:
        raise CronError(
            f"{local.isoformat()} does not exist in {zone.key}: the clocks skip it "
            "for daylight saving, so it would never fire"
        )
    return At(text=text, moment=moment)


def _cron(text: str, zone: ZoneInfo) -> CronExpression:
    match = CRON.match(text)
    if not match:
        raise CronError("write cron(minutes hours day-of-month month day-of-week year)")
    try:
        import dateutil.rrule  # noqa: F401
    except ImportError:
        raise ConfigurationError(f"cron() schedules need python-dateutil: {INSTALL_HINT}") from None
    return CronExpression(text=text, cron=parse_cron(match.group(1)), zone=zone)
