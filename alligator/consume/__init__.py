"""The one per-message path that every consumer shares: the worker (both
pools), the Lambda handler, ``Gator.pop/get``, ``is_async=False`` and
``alligator.testing.drain``.

admit → process → settle, run in order: ``admit`` checks a message before
anything is imported; ``Processor`` decides and runs; ``Settler`` applies
the outcome (``Owner`` says who deletes); ``run_in_order`` holds the FIFO
rule. No threads here, and nothing imports the worker, the gator or SQS.
"""

from __future__ import annotations

from .admit import admit
from .batch import Step, Unstarted, run_in_order
from .config import ConsumerConfig, default_owner
from .execute import INLINE, Executor, InlineExecutor, RunResult, describe
from .inline import run_inline
from .processor import Processor
from .run import Run
from .settle import Owner, Settler

__all__ = [
    "INLINE",
    "ConsumerConfig",
    "Executor",
    "InlineExecutor",
    "Owner",
    "Processor",
    "Run",
    "RunResult",
    "Settler",
    "Step",
    "Unstarted",
    "admit",
    "default_owner",
    "describe",
    "run_in_order",
    "run_inline",
]
