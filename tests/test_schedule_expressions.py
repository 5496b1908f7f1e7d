"""Schedule expressions against EventBridge Scheduler's documented semantics.

Every case starts from a fixed instant (no clock is read) and lists the
next firings, in UTC, as `<aws.scheduler.scheduled-time>` prints them.
Sources: the EventBridge cron reference (fields, wildcards and examples),
the Scheduler user guide (rate units, at(), time zones, daylight saving:
"a non-existent time is skipped", "runs only once" when clocks fall back).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from alligator import ConfigurationError, Schedule
from alligator.schedules.cron import nearest_weekday
from alligator.schedules.expressions import format_time, parse
from tests import schedule_tasks


def firings(expression: str, after: str, count: int, timezone: str = "UTC") -> list[str]:
    start = datetime.fromisoformat(after.replace("Z", "+00:00"))
    found = parse(expression, timezone).firings(start)
    return [format_time(moment) for moment in itertools.islice(found, count)]


# (expression, time zone, after, the next firings)
CASES = [
    # AWS's examples: 10:00 and 12:15 every day
    ("cron(0 10 * * ? *)", "UTC", "2026-03-01T10:00:00Z", ["2026-03-02T10:00:00Z"]),
    ("cron(15 12 * * ? *)", "UTC", "2026-03-01T00:00:00Z", ["2026-03-01T12:15:00Z"]),
    # 18:00 Monday to Friday (2026-03-06 is a Friday)
    (
        "cron(0 18 ? * MON-FRI *)",
        "UTC",
        "2026-03-06T12:00:00Z",
        ["2026-03-06T18:00:00Z", "2026-03-09T18:00:00Z"],
    ),
    # 8:00 on the first of the month
    (
        "cron(0 8 1 * ? *)",
        "UTC",
        "2026-03-15T00:00:00Z",
        ["2026-04-01T08:00:00Z", "2026-05-01T08:00:00Z"],
    ),
    # 1/10: every tenth minute from minute 1
    (
        "cron(1/10 * * * ? *)",
        "UTC",
        "2026-03-01T00:00:00Z",
        ["2026-03-01T00:01:00Z", "2026-03-01T00:11:00Z", "2026-03-01T00:21:00Z"],
    ),
    # every 5 minutes 8:00-17:55 on weekdays: Friday's last, then Monday's first
    (
        "cron(0/5 8-17 ? * MON-FRI *)",
        "UTC",
        "2026-03-06T17:52:00Z",
        ["2026-03-06T17:55:00Z", "2026-03-09T08:00:00Z"],
    ),
    # lists, names in either case, */step
    (
        "cron(*/30 6,18 ? * sun,SAT *)",
        "UTC",
        "2026-03-06T00:00:00Z",
        ["2026-03-07T06:00:00Z", "2026-03-07T06:30:00Z", "2026-03-07T18:00:00Z"],
    ),
    ("cron(0 0 1 JAN-MAR/2 ? *)", "UTC", "2026-01-02T00:00:00Z", ["2026-03-01T00:00:00Z"]),
    # 3#2: the second Tuesday; 2#1: the first Monday
    (
        "cron(0 9 ? * 3#2 *)",
        "UTC",
        "2026-03-01T00:00:00Z",
        ["2026-03-10T09:00:00Z", "2026-04-14T09:00:00Z"],
    ),
    ("cron(0 9 ? * MON#1 *)", "UTC", "2026-03-01T00:00:00Z", ["2026-03-02T09:00:00Z"]),
    # L in day-of-month: the month's last day, February of a leap year too
    (
        "cron(0 12 L * ? *)",
        "UTC",
        "2028-01-31T12:00:00Z",
        ["2028-02-29T12:00:00Z", "2028-03-31T12:00:00Z"],
    ),
    # L alone in day-of-week: the last day of the week, Saturday
    ("cron(0 12 ? * L *)", "UTC", "2026-03-01T00:00:00Z", ["2026-03-07T12:00:00Z"]),
    # 6L: the last Friday of the month
    (
        "cron(0 10 ? * 6L *)",
        "UTC",
        "2026-03-01T00:00:00Z",
        ["2026-03-27T10:00:00Z", "2026-04-24T10:00:00Z"],
    ),
    # 15W: the 15th, or the nearest weekday (Sun 2026-03-15 -> Mon 16th,
    # Sat 2026-08-15 -> Fri 14th)
    (
        "cron(0 9 15W * ? *)",
        "UTC",
        "2026-03-01T00:00:00Z",
        ["2026-03-16T09:00:00Z", "2026-04-15T09:00:00Z"],
    ),
    ("cron(0 9 15W * ? *)", "UTC", "2026-08-01T00:00:00Z", ["2026-08-14T09:00:00Z"]),
    # 1W never leaves the month: Saturday 2026-08-01 -> Monday the 3rd
    ("cron(0 9 1W * ? *)", "UTC", "2026-07-31T00:00:00Z", ["2026-08-03T09:00:00Z"]),
    # LW: the last weekday (Sunday 2026-05-31 -> Friday the 29th)
    ("cron(0 9 LW * ? *)", "UTC", "2026-05-01T00:00:00Z", ["2026-05-29T09:00:00Z"]),
    # the year field: a list, a range, nothing after the last year
    (
        "cron(0 0 1 1 ? 2027,2029-2030)",
        "UTC",
        "2026-06-01T00:00:00Z",
        ["2027-01-01T00:00:00Z", "2029-01-01T00:00:00Z", "2030-01-01T00:00:00Z"],
    ),
    ("cron(0 0 1 1 ? 2020)", "UTC", "2026-06-01T00:00:00Z", []),
    # in a time zone: 02:00 Paris is 01:00Z in winter, 00:00Z in summer
    (
        "cron(0 2 * * ? *)",
        "Europe/Paris",
        "2026-03-27T12:00:00Z",
        # 2026-03-29 02:00 does not exist in Paris: that firing is skipped
        ["2026-03-28T01:00:00Z", "2026-03-30T00:00:00Z"],
    ),
    # New York falls back on 2026-11-01: 01:30 happens twice, fires once
    (
        "cron(30 1 * * ? *)",
        "America/New_York",
        "2026-10-31T00:00:00Z",
        ["2026-10-31T05:30:00Z", "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z"],
    ),
    # hourly through the fall-back hour: 01:30 EST (06:30Z) is not repeated
    (
        "cron(30 * * * ? *)",
        "America/New_York",
        "2026-11-01T04:00:00Z",
        ["2026-11-01T04:30:00Z", "2026-11-01T05:30:00Z", "2026-11-01T07:30:00Z"],
    ),
    # hourly through the spring-forward hour: 02:30 does not exist
    (
        "cron(30 * * * ? *)",
        "America/New_York",
        "2026-03-08T06:00:00Z",
        ["2026-03-08T06:30:00Z", "2026-03-08T07:30:00Z"],
    ),
    # rate(): fixed lengths of time on the grid from 1970, singular for 1
    (
        "rate(5 minutes)",
        "UTC",
        "2026-03-01T00:03:00Z",
        ["2026-03-01T00:05:00Z", "2026-03-01T00:10:00Z"],
    ),
    ("rate(1 minute)", "UTC", "2026-03-01T00:00:30Z", ["2026-03-01T00:01:00Z"]),
    ("rate(1 hour)", "UTC", "2026-03-01T00:00:00Z", ["2026-03-01T01:00:00Z"]),
    ("rate(2 hours)", "UTC", "2026-03-01T01:00:00Z", ["2026-03-01T02:00:00Z"]),
    # a rate day is 24 hours, whatever the time zone and daylight saving do
    (
        "rate(1 day)",
        "Europe/Paris",
        "2026-03-28T12:00:00Z",
        ["2026-03-29T00:00:00Z", "2026-03-30T00:00:00Z"],
    ),
    ("rate(7 days)", "UTC", "2026-03-01T00:00:00Z", ["2026-03-05T00:00:00Z"]),
    # at(): once, in the schedule's time zone
    (
        "at(2026-12-24T09:00:00)",
        "Europe/Paris",
        "2026-12-01T00:00:00Z",
        ["2026-12-24T08:00:00Z"],
    ),
    (
        "at(2026-07-01T09:30:15)",
        "America/New_York",
        "2026-06-01T00:00:00Z",
        ["2026-07-01T13:30:15Z"],
    ),
    ("at(2026-12-24T09:00:00)", "UTC", "2026-12-24T09:00:00Z", []),
    # at() on a repeated time: the first of the two
    (
        "at(2026-11-01T01:30:00)",
        "America/New_York",
        "2026-10-01T00:00:00Z",
        ["2026-11-01T05:30:00Z"],
    ),
]


@pytest.mark.parametrize(("expression", "timezone", "after", "expected"), CASES)
def test_next_firings_follow_aws_semantics(expression, timezone, after, expected):
    # Given an expression read in its time zone, and a fixed instant
    # When the next firings are computed
    found = firings(expression, after, len(expected) + 1, timezone)
    # Then they are the ones EventBridge Scheduler documents (and no more
    # for a schedule that ends)
    assert found[: len(expected)] == expected
    if expression.startswith("at(") or "2020" in expression:
        assert found == expected


@pytest.mark.parametrize(
    ("day", "nearest"),
    [
        ("2026-03-11", "2026-03-11"),  # a Wednesday stays
        ("2026-03-14", "2026-03-13"),  # Saturday -> Friday
        ("2026-03-15", "2026-03-16"),  # Sunday -> Monday
        ("2026-08-01", "2026-08-03"),  # Saturday the 1st -> Monday the 3rd
        ("2026-05-31", "2026-05-29"),  # Sunday, last day -> Friday
    ],
)
def test_w_never_leaves_the_month(day, nearest):
    # Given a day; When W moves it; Then it lands on the nearest weekday in its month
    assert nearest_weekday(datetime.fromisoformat(day).date()).isoformat() == nearest


# (expression, time zone, what the error must name)
BAD = [
    ("cron(0 25 * * ? *)", "UTC", "hours value 25 is outside 0-23"),
    ("cron(60 * * * ? *)", "UTC", "minutes value 60 is outside 0-59"),
    ("cron(0 0 32 * ? *)", "UTC", "day-of-month value 32"),
    ("cron(0 0 * 13 ? *)", "UTC", "month value 13"),
    ("cron(0 0 ? * 8 *)", "UTC", "day-of-week value 8"),
    ("cron(0 0 * * ? 1969)", "UTC", "year value 1969 is outside 1970-2199"),
    ("cron(0 0 * * ? 2200)", "UTC", "year value 2200"),
    ("cron(0 2 * * * *)", "UTC", "exactly one of day-of-month and day-of-week must be ?"),
    ("cron(0 2 ? * ? *)", "UTC", "exactly one of day-of-month and day-of-week must be ?"),
    ("cron(0 2 * * ?)", "UTC", "needs 6 fields"),
    ("cron(0 2 30 2 ? *)", "UTC", "never comes"),
    ("cron(0 2 ? * 3#1,6#3 *)", "UTC", "# takes one expression"),
    ("cron(0 2 ? * 3#6 *)", "UTC", "occurrence after # 6 is outside 1-5"),
    ("cron(0 2 ? * MON/2 *)", "UTC", "day-of-week field does not take / increments"),
    ("cron(0 22-2 * * ? *)", "UTC", "hours range '22-2' runs backwards"),
    ("cron(0 2 1,L * ? *)", "UTC", "L and W stand alone"),
    ("cron(0 2 32W * ? *)", "UTC", "value before W 32"),
    ("cron(0 2 ? * 1,L *)", "UTC", "L stands alone or after one day"),
    ("cron(x 2 * * ? *)", "UTC", "minutes value 'x' is not a number"),
    ("cron(0 2 * FOO ? *)", "UTC", "month value 'FOO' is not a number 1-12 or JAN-DEC"),
    ("cron(0/0 * * * ? *)", "UTC", "minutes increment 0"),
    ("cron(0,,5 * * * ? *)", "UTC", "empty item"),
    ("rate(1 minutes)", "UTC", "with the value 1 the unit is singular: rate(1 minute)"),
    ("rate(5 minute)", "UTC", "with a value above 1 the unit is plural: rate(5 minutes)"),
    ("rate(1 hours)", "UTC", "singular"),
    ("rate(0 minutes)", "UTC", "1 or more"),
    ("rate(5 seconds)", "UTC", "unknown unit 'seconds'"),
    ("rate(5)", "UTC", "write rate(VALUE UNIT)"),
    ("rate(-5 minutes)", "UTC", "write rate(VALUE UNIT)"),
    ("at(2026-02-30T09:00:00)", "UTC", "not a real date and time"),
    ("at(2026-12-24 09:00:00)", "UTC", "write at(yyyy-mm-ddThh:mm:ss)"),
    ("at(2026-03-08T02:30:00)", "America/New_York", "does not exist in America/New_York"),
    ("every day", "UTC", "use rate(5 minutes), cron(0 2 * * ? *) or at(2026-12-24T09:00:00)"),
    ("cron(0 2 * * ? *)", "Mars/Olympus_Mons", "unknown time zone 'Mars/Olympus_Mons'"),
]


@pytest.mark.parametrize(("expression", "timezone", "message"), BAD)
def test_bad_expressions_are_refused_naming_the_part(expression, timezone, message):
    # Given an expression (or time zone) AWS would refuse
    # When a Schedule is made with it
    with pytest.raises(ConfigurationError) as refused:
        Schedule("nightly", expression, schedule_tasks.report, "sales", timezone=timezone)
    # Then the one-line error names the schedule and the part that is wrong
    text = str(refused.value)
    assert message in text
    assert "'nightly'" in text
    assert "\n" not in text


def _local_function():
    def inner():
        return None

    return inner


@pytest.mark.parametrize(
    ("name", "func", "args", "message"),
    [
        ("has space", schedule_tasks.report, (), "schedule name 'has space'"),
        ("x" * 65, schedule_tasks.report, (), "is not 1-64 letters"),
        ("ok", lambda: None, (), "a lambda"),
        ("ok", "text".upper, (), "not a module-level function"),
        ("ok", _local_function(), (), "local function or closure"),
        ("ok", schedule_tasks.report, (object(),), "argument 0 ('kind')"),
    ],
)
def test_bad_schedules_are_refused_at_construction(name, func, args, message):
    # Given a name EventBridge refuses, or a call a worker could not run
    # When the Schedule is made
    with pytest.raises(ConfigurationError) as refused:
        Schedule(name, "rate(5 minutes)", func, *args)
    # Then it is refused now, with the reason
    assert message in str(refused.value)


def test_retries_are_checked():
    with pytest.raises(ConfigurationError, match="retries must be a whole number 0-1000"):
        Schedule("ok", "rate(5 minutes)", schedule_tasks.report, retries=-1)


def test_each_firing_is_its_own_task():
    # Given a schedule with arguments and retries
    schedule = schedule_tasks.SCHEDULES[1]
    when = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
    # When the task of one firing is made
    task = schedule.task(when)
    # Then its id names the schedule and the scheduled time, in UTC
    assert task.task_id == "poll-inbox@2026-12-02T02:00:00Z"
    assert (task.retries, task.group) == (2, "poll-inbox")
    assert (task.func_args, task.func_kwargs) == (["support"], {"limit": 50})
