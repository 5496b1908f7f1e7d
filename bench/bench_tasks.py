"""The task every benchmark runs: it does nothing, so what is measured is
the queue's own cost per task (receive, decode, run, delete)."""

from __future__ import annotations

from typing import Any


def noop(*args: Any, **kwargs: Any) -> None:
    """Do nothing (alligator and the raw loop call this by dotted path)."""
    return None
