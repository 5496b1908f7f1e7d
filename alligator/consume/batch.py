"""``run_in_order``: one FIFO rule for every consumer.

Messages of one FIFO group run in order, so nothing may overtake a message
that is not finished (it failed and waits for a retry, it is deferred by
visibility, or it could not be handled). The rest of the group is then
hidden for as long as that message waits, rather than released: a released
message is visible at once, and an SQS implementation that does not block
a group while one of its messages is in flight would hand it out first.
A stop between messages (SIGTERM, Lambda's deadline) releases the rest at
once instead: nothing ahead of them is waiting. Standard queues never stop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ..backends.base import Received


@dataclass(frozen=True)
class Step:
    """What one message came to: finished or not, and how long it waits."""

    finished: bool
    wait_seconds: int = 0


@dataclass(frozen=True)
class Unstarted:
    """The messages not started, and what to do with them: hide them for
    ``hide_seconds`` (they wait behind ``behind``, which is not finished),
    or release them at once when it is ``None``."""

    messages: list[Received]
    hide_seconds: int | None = None
    behind: Received | None = None

    def split(self) -> tuple[list[Received], list[Received]]:
        """``(to hide, to release)``: only the message group of ``behind``
        waits; other groups' messages (a Lambda batch mixes them) go back
        at once."""
        if self.hide_seconds is None or self.behind is None:
            return [], list(self.messages)
        group = self.behind.group
        hide = [message for message in self.messages if message.group == group]
        return hide, [message for message in self.messages if message.group != group]


def run_in_order(
    messages: Sequence[Received],
    step: Callable[[Received], Step],
    *,
    fifo: bool,
    may_start: Callable[[], bool] = lambda: True,
) -> Unstarted:
    """Run ``step`` on each message in turn, as the FIFO rule allows.

    Example:
        >>> rest = run_in_order(unit, step, fifo=queue.fifo, may_start=running)
        >>> settler.hide(rest.messages, rest.hide_seconds)

    Returns:
        The messages not started.
    """
    for index, message in enumerate(messages):
        if not may_start():
            return Unstarted(list(messages[index:]))
        done = step(message)
        if fifo and not done.finished:
            return Unstarted(list(messages[index + 1 :]), done.wait_seconds, message)
    return Unstarted([])
