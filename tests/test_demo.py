"""``make demo`` keeps working: the whole flow on an embedded endpoint."""

from __future__ import annotations

import io
import re

from alligator.demo import run_demo


def test_demo_runs_retries_and_dead_letters():
    out = io.StringIO()
    assert run_demo(out) == 0
    text = out.getvalue()
    assert "enqueued 36 tasks" in text
    assert "'success': 35" in text and "'dead': 1" in text
    assert "in DLQ   ValueError: order 1234 has no customer (attempts 3)" in text
    total, tasks = map(int, re.search(r"SQS requests: (\d+) for (\d+) tasks", text).groups())
    assert total < tasks  # batched: fewer requests than tasks, even with retries
