"""Periodic tasks: the same schedules on EventBridge Scheduler and locally.

- ``Schedule`` (``schedule.py``): a task, an expression, a time zone.
- ``expressions.py`` / ``cron.py``: ``rate()``, ``cron()`` and ``at()`` as
  EventBridge Scheduler reads them; python-dateutil's ``rrule`` does the
  calendar arithmetic (the ``alligator[schedule]`` extra).
- ``local.py``: ``Scheduler``, the loop behind ``alligator scheduler``.
- ``eventbridge.py`` / ``sync.py``: ``alligator schedule sync`` and ``list``.
- ``demo.py``: one scheduled firing on the embedded endpoint.

Importing this package needs the standard library only; dateutil and
boto3 are imported when a ``cron()`` is parsed or AWS is called.

Example:
    >>> from alligator import Schedule
    >>> SCHEDULES = [Schedule("poll-inbox", "rate(5 minutes)", poll_inbox)]
"""

from __future__ import annotations

from .schedule import Schedule

__all__ = ["Schedule"]
