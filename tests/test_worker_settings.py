"""The worker's settings: each queue's own ``task_class`` is the one that
runs its tasks, in a child process as on a thread (CONTRACT section 9: each
queue keeps its own options), and settings out of range are refused by name."""

from __future__ import annotations

import pytest

from alligator import Gator, Worker
from alligator.exceptions import ConfigurationError
from tests import tasks


@pytest.mark.parametrize("pool", ["threads", "processes"])
def test_each_queue_runs_its_tasks_with_its_own_task_class(tmp_path, pool):
    # Given two queues in one file, the second with a task class of its own
    db = f"sqlite:///{tmp_path}/queues.db"
    plain = Gator(db, queue_name="plain")
    tagged = Gator(db, queue_name="tagged", task_class=tasks.TaggedTask)
    plain.task(tasks.echo, "p")
    tagged.task(tasks.echo, "t")
    results = {}

    def note(outcome):
        results[outcome.queue] = outcome.task.result

    # When one worker runs both
    worker = Worker([plain, tagged], pool=pool, max_tasks=2, import_allow="tests", on_outcome=note)
    worker.run_forever()
    # Then each task ran with its queue's class
    assert results == {
        "plain": {"args": ["p"], "kwargs": {}},
        "tagged": "tagged:{'args': ['t'], 'kwargs': {}}",
    }


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"max_tasks_per_child": -1}, "max_tasks_per_child must be a whole number of at least 0"),
        ({"max_memory_per_child": -5}, "max_memory_per_child must be a whole number of at least 0"),
        ({"max_memory_per_child": 1.5}, "max_memory_per_child must be a whole number"),
        ({"weights": [1.5, 1]}, "weights must be a list of whole numbers"),
        ({"weights": "3,1"}, "weights must be a list of whole numbers"),
        ({"weights": [1]}, "weights: 1 given for 2 queue(s)"),
        ({"weights": [0, 1]}, "weights must be whole numbers of at least 1"),
    ],
)
def test_worker_settings_out_of_range_are_refused_by_name(tmp_path, settings, problem):
    db = f"sqlite:///{tmp_path}/queues.db"
    gators = [Gator(db, queue_name="a"), Gator(db, queue_name="b")]
    with pytest.raises(ConfigurationError) as caught:
        Worker(gators, import_allow="tests", **settings)
    assert problem in str(caught.value)
