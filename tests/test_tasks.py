"""Task: the seed (1.0) API, the wire format, refusals at enqueue time."""

from __future__ import annotations

import datetime as dt
import json
import math
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alligator import Gator, constants
from alligator.constants import CANCELED, FAILED, RETRYING, SUCCESS, WAITING
from alligator.exceptions import (
    MultipleDelayError,
    PoisonMessageError,
    UnknownCallableError,
    UnknownModuleError,
    UnserializableTaskError,
)
from alligator.tasks import Task
from tests import tasks


def test_statuses_equal_the_1_0_integers():
    assert list(range(6)) == [WAITING, SUCCESS, FAILED, constants.DELAYED, RETRYING, CANCELED]
    assert constants.RUNNING == 6
    assert constants.ALL == "all"


def test_defaults_and_uuid_task_id():
    task = Task()
    assert len(task.task_id) == 36
    assert task.retries == 0 and task.is_async is True and task.status == WAITING


def test_async_keyword_is_accepted():
    assert Task(**{"async": False}).is_async is False


def test_both_delays_is_an_error():
    with pytest.raises(MultipleDelayError):
        Task(delay_by=5, delay_until=10)


def test_delay_until_accepts_datetimes_naive_as_utc():
    aware = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert Task(delay_until=aware).delay_until == aware.timestamp()
    assert Task(delay_until=dt.datetime(2030, 1, 1)).delay_until == aware.timestamp()
    assert Task(delay_until=dt.date(2030, 1, 1)).delay_until == aware.timestamp()


def test_status_setters():
    task = Task()
    for setter, status in [
        (task.to_success, SUCCESS),
        (task.to_failed, FAILED),
        (task.to_retrying, RETRYING),
        (task.to_canceled, CANCELED),
        (task.to_waiting, WAITING),
    ]:
        setter()
        assert task.status == status


def test_run_calls_hooks_and_stores_result():
    task = Task(on_start=tasks.on_start, on_success=tasks.on_success)
    task.to_call(tasks.add, 2, 3)
    assert task.run() is task
    assert task.result == 5 and task.status == SUCCESS
    assert tasks.hook_log == [("start", task.task_id), ("success", 5)]


def test_run_failure_calls_on_error_and_reraises():
    task = Task(on_error=tasks.on_error)
    task.to_call(tasks.fail, "nope")
    with pytest.raises(RuntimeError, match="nope"):
        task.run()
    assert task.status == FAILED
    assert tasks.hook_log == [("error", "nope")]


def test_coroutine_functions_are_tasks():
    task = Task()
    task.to_call(tasks.async_add, 1, 2)
    assert task.run().result == 3


def test_wire_format_has_both_async_keys_and_round_trips():
    task = Task(retries=2, on_error=tasks.on_error, depends_on=["a"], delay_until=1e9)
    task.to_call(tasks.echo, 1, "x", flag=True)
    data = json.loads(task.serialize())
    assert data["async"] is True and data["is_async"] is True
    assert data["module"] == "tests.tasks" and data["callable"] == "echo"
    assert data["options"]["on_error"] == {
        "module": "tests.tasks",
        "callable": "on_error",
    }
    assert data["options"]["depends_on"] == ["a"]
    copy = Task.deserialize(task.serialize())
    assert (copy.task_id, copy.retries, copy.depends_on) == (task.task_id, 2, ["a"])
    assert copy.on_error is tasks.on_error
    assert copy.run().result == {"args": [1, "x"], "kwargs": {"flag": True}}


def test_reads_a_1_0_body_with_only_async():
    body = json.dumps(
        {
            "task_id": "t1",
            "retries": 0,
            "async": True,
            "module": "tests.tasks",
            "callable": "add",
            "args": [1, 1],
            "kwargs": {},
            "options": {},
        }
    )
    assert Task.deserialize(body).run().result == 2


def test_ignores_unknown_keys():
    body = json.dumps(
        {
            "task_id": "t1",
            "retries": 0,
            "is_async": True,
            "module": "tests.tasks",
            "callable": "add",
            "args": [1, 1],
            "new_key": 1,
            "options": {"x": 1},
        }
    )
    assert Task.deserialize(body).func is tasks.add


@pytest.mark.parametrize(
    "func", [lambda: None, tasks.Holder().method], ids=["lambda", "bound-method"]
)
def test_refuses_what_a_worker_cannot_import_at_serialize(func):
    # Given a callable no worker can import, set for a direct run (1.0 allowed it)
    task = Task()
    task.to_call(func)
    # Then it is refused when the task is serialised, so at enqueue
    with pytest.raises(UnserializableTaskError):
        task.serialize()


def test_a_local_function_runs_directly_and_is_refused_at_enqueue_by_name():
    def local():
        return 42

    # Given a local function: task.run() in-process works, as in 1.0
    task = Task()
    task.to_call(local)
    assert task.run().result == 42
    # But enqueueing it names the function and why
    with pytest.raises(UnserializableTaskError, match=r"<locals>\.local is a local function"):
        task.serialize()
    with pytest.raises(UnserializableTaskError, match="local function"):
        Gator("locmem://").task(local)


def test_refuses_non_json_arguments_naming_them():
    task = Task()
    task.to_call(tasks.echo, 1, object())
    with pytest.raises(UnserializableTaskError, match="argument 1 of tests.tasks.echo"):
        task.serialize()
    task.to_call(tasks.echo, when=dt.datetime.now())
    with pytest.raises(UnserializableTaskError, match="keyword argument 'when'"):
        task.serialize()
    task.to_call(tasks.echo, math.nan)
    with pytest.raises(UnserializableTaskError, match="argument 0"):
        task.serialize()


def test_unknown_module_and_callable():
    base = {"task_id": "t", "retries": 0, "async": True}
    with pytest.raises(UnknownModuleError):
        Task.deserialize(json.dumps({**base, "module": "no.such", "callable": "x"}))
    with pytest.raises(UnknownCallableError):
        Task.deserialize(json.dumps({**base, "module": "tests.tasks", "callable": "x"}))


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        "{}",
        '{"task_id": "t", "retries": 0}',
        '{"task_id": 1, "retries": 0, "async": true, "module": "m", "callable": "c"}',
        '{"task_id": "t", "retries": -1, "async": true, "module": "m", "callable": "c"}',
        '{"task_id": "t", "retries": 0, "async": "yes", "module": "m", "callable": "c"}',
        '{"task_id": "t", "retries": 0, "async": true, "module": "os;rm", "callable": "c"}',
        '{"task_id": "t", "retries": 0, "async": true, "module": "m", "callable": "c", "args": {}}',
        "[" * 100_000 + "]" * 100_000,
        '{"task_id": "t", "retries": ' + "9" * 5000 + "}",
        " " * 2_000_000,
        '{"task_id": "t", "retries": NaN}',
    ],
)
def test_poison_bodies_are_refused_before_import(body):
    with pytest.raises(PoisonMessageError):
        Task.deserialize(body)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)


@given(
    args=st.lists(json_values, max_size=4),
    kwargs=st.dictionaries(
        st.from_regex(r"[a-z_][a-z0-9_]{0,8}", fullmatch=True), json_values, max_size=4
    ),
    retries=st.integers(0, 50),
    task_id=st.text(min_size=1, max_size=60).filter(str.isprintable),
)
def test_round_trip_property(args, kwargs, retries, task_id):
    task = Task(task_id=task_id, retries=retries)
    task.to_call(tasks.echo, *args, **kwargs)
    copy = Task.deserialize(task.serialize())
    assert (copy.task_id, copy.retries, copy.func_args, copy.func_kwargs) == (
        task_id,
        retries,
        args,
        kwargs,
    )


@given(st.text(max_size=300) | st.binary(max_size=300))
def test_decoder_never_raises_anything_but_poison(body):
    try:
        Task.deserialize(body)
    except PoisonMessageError:
        pass
    except (UnknownModuleError, UnknownCallableError):
        pass


def test_positional_culprit_is_named_by_its_parameter():
    task = Task()
    task.to_call(tasks.add, 1, object())
    with pytest.raises(UnserializableTaskError, match=r"argument 1 \('b'\) of tests.tasks.add"):
        task.serialize()


def test_keyword_names_a_worker_would_refuse_are_refused_at_enqueue():
    task = Task()
    task.to_call(tasks.echo, **{"a-b": 1})
    with pytest.raises(UnserializableTaskError, match="'a-b' is not an identifier"):
        task.serialize()


def test_a_task_calling_sys_exit_fails_like_any_other():
    task = Task()
    task.to_call(sys.exit, 3)
    with pytest.raises(SystemExit):
        task.run()
    assert task.status == FAILED
