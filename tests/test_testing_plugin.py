"""``alligator.testing``: the pytest plugin users test their own code with.

``drain`` is checked on every backend (it must be the worker's own path, not
a look-alike), then the plugin as a user gets it: a sample project outside
this repository, run by pytest in a subprocess, with nothing but the
installed package and its ``pytest11`` entry point.
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap

import pytest
from freezegun import freeze_time

from alligator import CANCELED, FAILED, SUCCESS, Gator
from alligator.backends.base import ATTEMPTS_ATTRIBUTE, ERROR_ATTRIBUTE, Outgoing
from alligator.security import Signer
from alligator.testing import dead_letters, drain, make_queue
from tests import tasks

BACKENDS = ["locmem", "sqlite", "sqs"]


@pytest.fixture(params=BACKENDS)
def gator(request, tmp_path):
    if request.param == "sqs":
        # The plugin's own fixture: a fresh queue and DLQ on moto's server.
        yield request.getfixturevalue("sqs_gator")
        return
    dsn = "locmem://" if request.param == "locmem" else f"sqlite://{tmp_path}/q.db"
    gator = Gator(dsn)
    yield gator
    gator.backend.close()


# -- drain, on every backend --------------------------------------------------


def test_three_line_happy_path(gator):
    gator.task(tasks.add, 2, 3)
    [task] = drain(gator)
    assert task.status == SUCCESS and task.result == 5
    assert gator.len() == 0


def test_a_retried_task_that_then_succeeds_is_listed_once(gator):
    # Given a task that fails on its first run and has a retry left
    with gator.options(retries=1) as opts:
        queued = opts.task(tasks.fail_times, "flaky", 1)
    # When drained: the retry comes at once, with no backoff wait
    finished = drain(gator)
    # Then one task, its final outcome; it ran twice; nothing is left
    assert [(t.task_id, t.status) for t in finished] == [(queued.task_id, SUCCESS)]
    assert finished[0].result == "flaky ok on run 2"
    assert tasks.calls["flaky"] == 2
    assert gator.len() == 0
    assert dead_letters(gator) == []


def test_an_exhausted_task_is_listed_as_failed_and_lands_in_the_dlq(gator):
    # Given a task that always fails, with two retries
    with gator.options(retries=2) as opts:
        queued = opts.task(tasks.fail_times, "doomed", 99)
    # When drained
    [task] = drain(gator)
    # Then it ran three times, and is listed once, failed, with its error
    assert tasks.calls["doomed"] == 3
    assert task.task_id == queued.task_id
    assert task.status == FAILED
    assert isinstance(task.error, RuntimeError)
    assert str(task.error) == "doomed failed on run 3"
    # And its message is in the DLQ with the reason, and nowhere else
    [letter] = dead_letters(gator)
    assert letter.attributes[ERROR_ATTRIBUTE] == "RuntimeError: doomed failed on run 3"
    assert letter.attributes[ATTEMPTS_ATTRIBUTE] == "3"
    assert gator.task_class.deserialize(letter.body).task_id == queued.task_id
    assert gator.len() == 0
    # dead_letters only looks: a second look sees the same message
    assert [m.message_id for m in dead_letters(gator)] == [letter.message_id]


def test_a_poison_message_is_not_listed_but_dead_lettered(gator):
    # Given a body that is not a task, queued before a good task
    gator.backend.send_many([Outgoing("not a task")])
    gator.task(tasks.count, "after-poison")
    # When drained
    finished = drain(gator)
    # Then only the task is listed; the poison is in the DLQ with its reason
    assert [t.status for t in finished] == [SUCCESS]
    assert tasks.calls["after-poison"] == 1
    [letter] = dead_letters(gator)
    assert letter.body == "not a task"
    assert letter.attributes[ERROR_ATTRIBUTE].startswith("PoisonMessageError: ")
    assert gator.len() == 0


def test_a_delayed_task_stays_queued_and_unrun(gator):
    # Given a task due in a minute, and one due now
    with gator.options(delay_by=60) as opts:
        opts.task(tasks.count, "later")
    gator.task(tasks.count, "now")
    # When drained
    finished = drain(gator)
    # Then only the task due now ran; the delayed one waits in the queue
    assert [t.func_args for t in finished] == [["now"]]
    assert tasks.calls == {"now": 1}
    assert gator.len() == 1


def test_max_tasks_stops_early_and_leaves_the_rest_untouched(gator):
    gator.task_many([(tasks.count, (f"k{n}",), {}) for n in range(3)])
    first = drain(gator, max_tasks=1)
    assert len(first) == 1 and sum(tasks.calls.values()) == 1
    assert gator.len() == 2
    rest = drain(gator)
    assert len(rest) == 2
    assert tasks.calls == {"k0": 1, "k1": 1, "k2": 1}


def test_the_import_allow_list_comes_from_the_environment(gator, monkeypatch):
    # Given a worker environment that allows only "myapp"
    monkeypatch.setenv("ALLIGATOR_IMPORT_ALLOW", "myapp")
    gator.task(tasks.count, "refused")
    # When drained: tests.tasks is outside the allow-list
    assert drain(gator) == []
    # Then it never ran, and is in the DLQ with the reason
    assert tasks.calls["refused"] == 0
    [letter] = dead_letters(gator)
    assert "allow-list" in letter.attributes[ERROR_ATTRIBUTE]
    # An explicit argument overrides the environment, as on a Worker
    gator.task(tasks.count, "allowed")
    assert [t.status for t in drain(gator, import_allow="tests")] == [SUCCESS]


def test_signatures_are_checked_with_the_environment_key(gator, monkeypatch):
    # Given an unsigned message, then a signing key in the environment
    gator.task(tasks.count, "unsigned")
    monkeypatch.setenv("ALLIGATOR_SIGNING_KEY", "k1")
    # When drained, as a worker with that key
    assert drain(gator) == []
    # Then the unsigned message was refused unrun
    assert tasks.calls["unsigned"] == 0
    [letter] = dead_letters(gator)
    assert letter.attributes[ERROR_ATTRIBUTE] == "PoisonMessageError: signature is missing"
    # And a producer with the key gets its task run
    gator.signer = Signer.from_setting("k1")
    gator.task(tasks.count, "signed")
    assert [t.status for t in drain(gator)] == [SUCCESS]


# -- drain with a status store, and with the clock moved ----------------------


def test_dependencies_queued_behind_are_run_first():
    gator = Gator("locmem://", status="locmem://")
    # Given a task queued before the task it depends on
    dependency = gator.task_class(task_id="the-dependency")
    with gator.options(depends_on=[dependency.task_id]) as opts:
        dependent = opts.task(tasks.count, "dependent")
    gator.push(dependency, tasks.count, "dependency")
    # When drained: the dependent is deferred (at once, in drain) until then
    finished = drain(gator)
    # Then the dependency ran first, the dependent after it, each once
    assert [t.task_id for t in finished] == [dependency.task_id, dependent.task_id]
    assert tasks.calls == {"dependency": 1, "dependent": 1}
    assert gator.len() == 0


def test_a_dependency_nothing_can_satisfy_makes_drain_return():
    gator = Gator("locmem://", status="locmem://")
    with gator.options(depends_on=["never-queued"]) as opts:
        opts.task(tasks.count, "stuck")
    assert drain(gator) == []
    assert tasks.calls["stuck"] == 0
    assert gator.len() == 1  # still waiting, not dead-lettered


def test_a_canceled_task_is_listed_as_canceled():
    gator = Gator("locmem://", status="locmem://")
    queued = gator.task(tasks.count, "canceled")
    gator.cancel(queued.task_id)
    [task] = drain(gator)
    assert (task.task_id, task.status) == (queued.task_id, CANCELED)
    assert tasks.calls["canceled"] == 0


def test_a_delayed_task_runs_once_the_clock_is_moved_on_locmem():
    gator = Gator("locmem://")
    with gator.options(delay_by=3600) as opts:
        queued = opts.task(tasks.count, "in-an-hour")
    assert drain(gator) == []
    with freeze_time(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3601)):
        [task] = drain(gator)
    assert (task.task_id, task.status) == (queued.task_id, SUCCESS)


def test_fifo_order_is_kept_through_a_retry(sqs_endpoint):
    # Given a FIFO group: a task that fails once, then one behind it
    gator = Gator(make_queue(sqs_endpoint, fifo=True))
    with gator.options(retries=1, group="g") as opts:
        flaky = opts.task(tasks.fail_times, "fifo-flaky", 1)
        second = opts.task(tasks.count, "fifo-second")
    # When drained
    finished = drain(gator)
    # Then the second did not overtake the first, whose retry came at once
    assert [t.task_id for t in finished] == [flaky.task_id, second.task_id]
    assert [t.status for t in finished] == [SUCCESS, SUCCESS]
    gator.backend.close()


# -- the plugin as a user gets it ---------------------------------------------

SAMPLE_PROJECT = {
    "shop/__init__.py": "",
    "shop/tasks.py": """
        RUNS = []

        def send_welcome(email):
            RUNS.append(email)
            return f"welcome {email}"

        def charge_card(amount):
            RUNS.append(amount)
            raise RuntimeError(f"card declined for {amount}")
        """,
    "shop/signup.py": """
        from shop.tasks import charge_card, send_welcome

        def signup(gator, email):
            return gator.task(send_welcome, email)

        def charge(gator, amount):
            with gator.options(retries=2) as opts:
                return opts.task(charge_card, amount)
        """,
    "test_shop.py": """
        import pytest

        from alligator import FAILED, SUCCESS, UnserializableTaskError
        from alligator.testing import dead_letters, drain
        from shop import tasks
        from shop.signup import charge, signup


        def test_signup_sends_a_welcome(sqs_gator):
            signup(sqs_gator, "ada@example.com")
            [task] = drain(sqs_gator)
            assert task.status == SUCCESS and task.result == "welcome ada@example.com"


        def test_a_declined_charge_is_retried_then_dead_lettered(sqs_gator):
            queued = charge(sqs_gator, 42)
            [task] = drain(sqs_gator)
            assert (task.task_id, task.status) == (queued.task_id, FAILED)
            assert str(task.error) == "card declined for 42"
            assert tasks.RUNS.count(42) == 3
            [letter] = dead_letters(sqs_gator)
            assert letter.attributes["alligator-error"] == "RuntimeError: card declined for 42"
            assert letter.attributes["alligator-attempts"] == "3"
            assert sqs_gator.len() == 0


        def test_a_non_json_argument_is_refused_at_enqueue(sqs_gator):
            refused = r"argument 0 \\('email'\\) of shop.tasks"
            with pytest.raises(UnserializableTaskError, match=refused):
                signup(sqs_gator, object())
            assert sqs_gator.len() == 0
        """,
}


def test_the_plugin_works_in_a_project_that_is_not_alligator(tmp_path):
    # Given a tiny project of its own: tasks, code that enqueues them, and a
    # test file using only the plugin's fixtures (no conftest, no moto code)
    for name, text in SAMPLE_PROJECT.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    # When pytest runs it from that folder. This venv's python is used on
    # purpose: alligator is installed in it as a package, with its pytest11
    # entry point, just as `pip install alligator[test]` installs it for a
    # user (a fresh venv per run would cost a minute). PYTHONPATH is the
    # sample project only, so this repository's tests/ and conftest are out
    # of reach; the environment is scrubbed of AWS, alligator and pytest
    # settings, as on a machine that never saw AWS.
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AWS_", "ALLIGATOR_", "PYTEST_", "PYTHON"))
    }
    env["PYTHONPATH"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shop.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    # Then the three tests pass: the fixtures came from the entry point
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout
