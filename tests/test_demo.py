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
    # 35 tasks enqueued with task_many cost 4 SendMessageBatch requests; one
    # SendMessage enqueued the broken task, one copied it to the DLQ. How many
    # empty long polls the worker made depends on the machine: not asserted.
    assert re.search(r"SQS requests: \d+ for 36 tasks", text)
    assert "'SendMessageBatch': 4" in text and "'SendMessage': 2" in text
