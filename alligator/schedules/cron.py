"""AWS's six-field ``cron()``, parsed into python-dateutil's ``rrule``.

EventBridge Scheduler's cron has six fields, ``minutes hours day-of-month
month day-of-week year``, with AWS's special characters: ``?`` (no value),
``L`` (last), ``W`` (nearest weekday), ``#`` (the nth weekday of the month)
and a year from 1970 to 2199. This module checks each field and turns the
date part into RFC 5545 recurrence rules (``rrule``); the calendar
arithmetic (month lengths, leap years, "last Friday", "second Tuesday") is
dateutil's. Times of day are the plain product of the hour and minute
fields. The one rule RFC 5545 has no word for is ``W``, "the weekday
nearest to day N without leaving the month" (Quartz's rule, which AWS's
cron follows); ``nearest_weekday`` applies it to the days the rule gives.

Example:
    >>> cron = parse_cron("0 2 ? * MON-FRI *")
    >>> next(cron.dates(dt.date(2026, 12, 5)))   # a Saturday
    datetime.date(2026, 12, 7)
"""

from __future__ import annotations

import calendar
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

#: Month and weekday names, as AWS spells them (1-based, SUN is 1).
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
#: AWS allows years 1970-2199.
#: https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html
FIRST_YEAR, LAST_YEAR = 1970, 2199


class CronError(ValueError):
    """A cron expression AWS would refuse; the message names the part."""


@dataclass(frozen=True)
class Field:
    """One cron field: its name, its range and its names for values."""

    name: str
    low: int
    high: int
    names: tuple[str, ...] = ()


MINUTES = Field("minutes", 0, 59)
HOURS = Field("hours", 0, 23)
DAY_OF_MONTH = Field("day-of-month", 1, 31)
MONTH = Field("month", 1, 12, MONTHS)
DAY_OF_WEEK = Field("day-of-week", 1, 7, WEEKDAYS)
YEAR = Field("year", FIRST_YEAR, LAST_YEAR)


@dataclass(frozen=True)
class Cron:
    """A parsed cron expression: times of day, and rrule arguments for days.

    ``rule`` holds ``rrule`` keyword arguments (``freq``, ``bymonth``,
    ``bymonthday``, ``byweekday``, ``bysetpos``); ``years`` the allowed years
    as sorted ``(first, last)`` runs, each run becoming the rule's
    ``dtstart``/``until``.
    """

    times: tuple[dt.time, ...]
    rule: dict[str, Any]
    years: tuple[tuple[int, int], ...]
    nearest_weekday: bool = False

    def dates(self, start: dt.date) -> Iterator[dt.date]:
        """The days the expression fires on, from ``start`` on, in order."""
        from dateutil.rrule import rrule

        # W moves a day by up to two days either way inside its month, so
        # the rule starts two days early and the result is cut at `start`.
        lead = dt.timedelta(days=2 if self.nearest_weekday else 0)
        for first, last in self.years:
            if last < start.year:
                continue
            begin = max(dt.datetime.combine(start - lead, dt.time()), dt.datetime(first, 1, 1))
            for moment in rrule(dtstart=begin, until=dt.datetime(last, 12, 31), **self.rule):
                day = moment.date()
                if self.nearest_weekday:
                    day = nearest_weekday(day)
                if day >= start:
                    yield day


def parse_cron(fields_text: str) -> Cron:
    """Check the six fields of ``cron(...)`` and build a ``Cron``.

    Raises:
        CronError: a field AWS would refuse, named in the message.
    """
    fields = fields_text.split()
    if len(fields) != 6:
        raise CronError(
            f"needs 6 fields (minutes hours day-of-month month day-of-week year), not {len(fields)}"
        )
    minute_text, hour_text, dom_text, month_text, dow_text, year_text = fields
    minutes = values(MINUTES, minute_text)
    hours = values(HOURS, hour_text)
    months = values(MONTH, month_text)
    years = _runs(values(YEAR, year_text))
    if (dom_text == "?") == (dow_text == "?"):
        raise CronError(
            "exactly one of day-of-month and day-of-week must be ? "
            f"(got {dom_text!r} and {dow_text!r})"
        )
    if dow_text == "?":
        rule, nearest = _day_of_month_rule(dom_text)
    else:
        rule, nearest = _day_of_week_rule(dow_text), False
    rule["bymonth"] = tuple(months)
    times = tuple(dt.time(hour, minute) for hour in hours for minute in minutes)
    cron = Cron(times=times, rule=rule, years=years, nearest_weekday=nearest)
    if next(cron.dates(dt.date(FIRST_YEAR, 1, 1)), None) is None:
        raise CronError("names a day that never comes (such as 30 in February)")
    return cron


def nearest_weekday(day: dt.date) -> dt.date:
    """AWS's ``W``: the weekday nearest ``day``, never leaving its month.

    A Saturday moves to the Friday before (the 1st to Monday the 3rd); a
    Sunday to the Monday after (the month's last day to Friday before).
    """
    weekday = day.weekday()  # Monday is 0
    if weekday == calendar.SATURDAY:
        return day - dt.timedelta(days=1) if day.day > 1 else day + dt.timedelta(days=2)
    if weekday == calendar.SUNDAY:
        last = calendar.monthrange(day.year, day.month)[1]
        return day + dt.timedelta(days=1) if day.day < last else day - dt.timedelta(days=2)
    return day


def values(field: Field, text: str, *, steps: bool = True) -> list[int]:
    """The sorted values of a field of ``,``, ``-``, ``*`` and ``/``."""
    found: set[int] = set()
    for item in text.split(","):
        if not item:
            raise CronError(f"{field.name} field {text!r} has an empty item")
        found |= _item(field, item, steps)
    return sorted(found)


def _item(field: Field, item: str, steps: bool) -> set[int]:
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        if not steps:
            raise CronError(f"{field.name} field does not take / increments ({item!r})")
        step = _number(field, step_text, what="increment", low=1, high=field.high)
    if base == "*":
        low, high = field.low, field.high
    elif "-" in base:
        first, _, last = base.partition("-")
        low, high = _value(field, first), _value(field, last)
        if low > high:
            raise CronError(f"{field.name} range {base!r} runs backwards")
    else:
        low = _value(field, base)
        high = field.high if slash else low
    return set(range(low, high + 1, step))


def _value(field: Field, text: str) -> int:
    upper = text.upper()
    if upper in field.names:
        return field.names.index(upper) + 1
    return _number(field, text, what="value", low=field.low, high=field.high)


def _number(field: Field, text: str, *, what: str, low: int, high: int) -> int:
    if not text.isdigit() or not text.isascii():
        names = f" or {field.names[0]}-{field.names[-1]}" if field.names else ""
        raise CronError(f"{field.name} {what} {text!r} is not a number {low}-{high}{names}")
    number = int(text)
    if not low <= number <= high:
        raise CronError(f"{field.name} {what} {number} is outside {low}-{high}")
    return number


def _day_of_month_rule(text: str) -> tuple[dict[str, Any], bool]:
    """rrule arguments for a day-of-month field, and whether W applies."""
    from dateutil.rrule import DAILY, FR, MO, MONTHLY, TH, TU, WE

    upper = text.upper()
    if upper == "*":
        return {"freq": DAILY}, False
    if upper == "L":
        return {"freq": MONTHLY, "bymonthday": (-1,)}, False
    if upper == "LW":
        # The last weekday: the last of the month's final three days that
        # is Monday-Friday.
        weekdays = (MO, TU, WE, TH, FR)
        return {
            "freq": MONTHLY,
            "bymonthday": (-1, -2, -3),
            "byweekday": weekdays,
            "bysetpos": -1,
        }, False
    if upper.endswith("W"):
        day = _number(DAY_OF_MONTH, upper[:-1], what="value before W", low=1, high=31)
        return {"freq": MONTHLY, "bymonthday": (day,)}, True
    if "L" in upper or "W" in upper:
        raise CronError(f"day-of-month {text!r}: L and W stand alone (L, LW or a day and W)")
    return {"freq": MONTHLY, "bymonthday": tuple(values(DAY_OF_MONTH, text))}, False


def _day_of_week_rule(text: str) -> dict[str, Any]:
    """rrule arguments for a day-of-week field."""
    from dateutil.rrule import DAILY, MONTHLY, weekdays

    upper = text.upper()
    if upper == "*":
        return {"freq": DAILY}
    if upper == "L":  # the last day of the week: Saturday
        return {"freq": DAILY, "byweekday": (weekdays[_dateutil_weekday(7)],)}
    if "L" in upper and ("," in upper or "-" in upper):
        raise CronError(f"day-of-week {text!r}: L stands alone or after one day (6L)")
    if "#" in upper:
        if "," in upper:
            raise CronError(f"day-of-week {text!r}: # takes one expression, not a list")
        day_text, _, nth_text = upper.partition("#")
        day = _dateutil_weekday(_value(DAY_OF_WEEK, day_text))
        nth = _number(DAY_OF_WEEK, nth_text, what="occurrence after #", low=1, high=5)
        return {"freq": MONTHLY, "byweekday": (weekdays[day](nth),)}
    if upper.endswith("L"):
        day = _dateutil_weekday(_value(DAY_OF_WEEK, upper[:-1]))
        return {"freq": MONTHLY, "byweekday": (weekdays[day](-1),)}
    days = values(DAY_OF_WEEK, text, steps=False)
    return {"freq": DAILY, "byweekday": tuple(weekdays[_dateutil_weekday(d)] for d in days)}


def _dateutil_weekday(aws_day: int) -> int:
    """AWS numbers SUN=1..SAT=7; dateutil MO=0..SU=6."""
    return (aws_day + 5) % 7


def _runs(years: list[int]) -> tuple[tuple[int, int], ...]:
    """Sorted years as (first, last) runs of consecutive years."""
    runs: list[tuple[int, int]] = []
    for year in years:
        if runs and runs[-1][1] == year - 1:
            runs[-1] = (runs[-1][0], year)
        else:
            runs.append((year, year))
    return tuple(runs)
