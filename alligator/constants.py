"""Task statuses and the default queue name.

The statuses equal alligator 1.0's integers (0-5), so a status stored or
compared by 1.0 code still means the same thing; RUNNING is new.
"""

from __future__ import annotations

from enum import IntEnum


class TaskStatus(IntEnum):
    """Where a task is in its life. An ``IntEnum`` so ``== 1`` still works."""

    WAITING = 0
    SUCCESS = 1
    FAILED = 2
    DELAYED = 3
    RETRYING = 4
    CANCELED = 5
    RUNNING = 6


WAITING = TaskStatus.WAITING
SUCCESS = TaskStatus.SUCCESS
FAILED = TaskStatus.FAILED
DELAYED = TaskStatus.DELAYED
RETRYING = TaskStatus.RETRYING
CANCELED = TaskStatus.CANCELED
RUNNING = TaskStatus.RUNNING

#: The default queue name, as in 1.0.
ALL = "all"
