"""Gator: DSN dispatch, configuration errors, 1.0's push/pop/get/cancel."""

from __future__ import annotations

import pytest

from alligator import Gator, Task
from alligator.backends.locmem import LocmemBackend
from alligator.constants import CANCELED, SUCCESS
from alligator.exceptions import (
    ConfigurationError,
    NotSupportedError,
    UnserializableTaskError,
)
from tests import tasks


@pytest.mark.parametrize(
    ("dsn", "words"),
    [
        ("nosuch://x", "unknown scheme 'nosuch'"),
        ("not a dsn", "malformed DSN"),
        ("locmem://?colour=red", "unknown option 'colour'"),
        ("locmem://?visibility_timeout=-1", "visibility_timeout"),
        ("locmem://?backoff_base=10&backoff_max=5", "backoff"),
    ],
)
def test_bad_dsns_raise_one_clear_configuration_error(dsn, words):
    with pytest.raises(ConfigurationError, match=words) as caught:
        Gator(dsn)
    assert "\n" not in str(caught.value)


def test_task_returns_the_task_with_its_own_id_and_the_message_id():
    gator = Gator("locmem://")
    task = gator.task(tasks.add, 1, 2)
    assert isinstance(task, Task) and task.message_id
    assert task.task_id != task.message_id
    assert gator.len() == 1


def test_enqueue_refuses_lambdas_and_non_json_before_sending():
    gator = Gator("locmem://")
    with pytest.raises(UnserializableTaskError):
        gator.task(lambda: None)
    with pytest.raises(UnserializableTaskError, match="argument 0"):
        gator.task(tasks.echo, {1, 2})
    assert gator.len() == 0


def test_task_many_mixes_shapes_and_options():
    gator = Gator("locmem://")
    made = gator.task_many([(tasks.add, (1, 2)), (tasks.echo,), (tasks.echo, (), {"a": 1})])
    assert len(made) == 3 and gator.len() == 3
    with gator.options(retries=4) as opts:
        more = opts.task_many([(tasks.add, (1, 2), {})])
    assert more[0].retries == 4


def test_custom_backend_and_task_class():
    class MyTask(Task):
        pass

    gator = Gator("locmem://", backend_class=LocmemBackend, task_class=MyTask)
    assert isinstance(gator.task(tasks.add, 1, 1), MyTask)
    assert isinstance(gator.pop(), MyTask)


def test_get_takes_a_specific_task_on_local_backends():
    gator = Gator("locmem://")
    gator.task(tasks.add, 1, 1)
    wanted = gator.task(tasks.add, 2, 2)
    done = gator.get(wanted.task_id)
    assert done.task_id == wanted.task_id and done.result == 4
    assert gator.len() == 1
    assert gator.get("no-such-id") is None


def test_cancel_removes_a_waiting_task_without_a_status_store():
    gator = Gator("locmem://")
    task = gator.task(tasks.add, 1, 1)
    canceled = gator.cancel(task.task_id)
    assert canceled.status == CANCELED and gator.len() == 0
    assert gator.cancel(task.task_id) is None


def test_status_without_a_store_is_not_supported():
    with pytest.raises(NotSupportedError, match="status store"):
        Gator("locmem://").status("x")


def test_depends_on_without_a_store_is_refused_at_enqueue():
    gator = Gator("locmem://")
    with gator.options(depends_on=["a"]) as opts, pytest.raises(ConfigurationError):
        opts.task(tasks.add, 1, 1)


def test_not_async_returns_the_finished_task():
    gator = Gator("locmem://")
    with gator.options(is_async=False) as opts:
        task = opts.task(tasks.async_add, 2, 3)
    assert task.status == SUCCESS and task.result == 5
