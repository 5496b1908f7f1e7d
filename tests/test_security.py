"""Untrusted messages: the import allow-list and HMAC signatures.

A message names what the consumer imports and calls, so whoever can send to
the queue chooses the code. These tests prove that a refused module is never
imported (``tests/never_import.py`` leaves a trace if it ever is), that
signatures are checked before anything else, and that arguments beat the
environment everywhere the contract says so.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

import tests
from alligator import Gator, Worker
from alligator.backends.base import ERROR_ATTRIBUTE, SIGNATURE_ATTRIBUTE, Outgoing, Received
from alligator.cli import build_parser
from alligator.consume import ConsumerConfig, Processor
from alligator.exceptions import ConfigurationError
from alligator.outcome import Action
from alligator.security import ImportAllow, Signer
from alligator.sqs import lambda_handler
from tests import tasks
from tests.helpers import raw_task
from tests.processes import ROOT

NEVER = "tests.never_import"


# -- helpers -------------------------------------------------------------------


def body(module: str = "tests.tasks", name: str = "count", *args: object, **options: object) -> str:
    """A well-formed task body, written by hand as a stranger would."""
    return raw_task(module, name, *args, task_id=f"t-{module}-{name}", options=options)


def send_raw(gator: Gator, text: str, **attributes: str) -> None:
    gator.backend.send_many([Outgoing(text, attributes=attributes)])


def run_all(worker: Worker) -> list:
    """Every outcome of draining the queue one message at a time."""
    outcomes: list = []
    worker.on_outcome = outcomes.append
    while worker.check_and_run_task():
        pass
    worker.close()
    return outcomes


def dead_letters(gator: Gator) -> list[Received]:
    return gator.backend.dlq_backend().receive(max_messages=10, wait_seconds=0)


@pytest.fixture
def trace(tmp_path, monkeypatch):
    """Where ``tests.never_import`` records an import; cleans up after a
    positive control so the module is importable (and absent) again."""
    path = tmp_path / "imports.log"
    monkeypatch.setenv("ALLIGATOR_TEST_IMPORT_LOG", str(path))
    yield path
    sys.modules.pop(NEVER, None)
    tests.__dict__.pop("never_import", None)
    tests.__dict__.get("never_import_log", []).clear()


def assert_never_imported(trace: Path) -> None:
    assert NEVER not in sys.modules
    assert not tests.__dict__.get("never_import_log")
    assert not trace.exists()


# -- the allow-list --------------------------------------------------------------


@pytest.mark.parametrize(
    ("module", "allowed"),
    [
        ("myapp", True),
        ("myapp.tasks", True),
        ("myapp.tasks.deep", True),
        ("myapplication", False),
        ("my", False),
        ("other.myapp", False),
        ("os", False),
    ],
)
def test_a_prefix_allows_its_module_and_submodules_only(module, allowed):
    assert ImportAllow.from_setting(["myapp"]).allows(module) is allowed


@pytest.mark.parametrize(
    "setting",
    ["a, b.c", ["a", "b.c"], ["a,b.c"], "a,,b.c.", " a ,b.c,"],
)
def test_allow_list_spellings(setting):
    assert ImportAllow.from_setting(setting).prefixes == ("a", "b.c")


@pytest.mark.parametrize("prefix", ["my*", "my app", "../etc", "myapp:run", ".hidden"])
def test_a_prefix_that_is_no_module_path_is_a_configuration_error(prefix):
    with pytest.raises(ConfigurationError, match="not a module path"):
        ImportAllow.from_setting([prefix])


def test_allow_list_from_environment_and_argument_beats_it(monkeypatch):
    monkeypatch.setenv("ALLIGATOR_IMPORT_ALLOW", "envapp,other")
    assert ImportAllow.from_setting(None).prefixes == ("envapp", "other")
    assert ImportAllow.from_setting(["argapp"]).prefixes == ("argapp",)
    monkeypatch.delenv("ALLIGATOR_IMPORT_ALLOW")
    assert ImportAllow.from_setting(None) is None


def test_a_refused_module_is_never_imported(trace):
    # Given a message naming a module outside the allow-list
    gator = Gator("locmem://")
    send_raw(gator, body(NEVER, "run"))
    # When a worker allowed only tests.tasks handles it
    [outcome] = run_all(Worker(gator, import_allow=["tests.tasks"]))
    # Then it is poison, dead-lettered with the reason, and never imported
    assert outcome.action is Action.DEAD
    assert_never_imported(trace)
    [dead] = dead_letters(gator)
    assert dead.attributes[ERROR_ATTRIBUTE] == (
        f"PoisonMessageError: module {NEVER!r} is not in the import allow-list"
    )
    assert gator.len() == 0


@pytest.mark.parametrize("hook", ["on_start", "on_success", "on_error"])
def test_a_refused_hook_module_is_never_imported_either(trace, hook):
    # Given an allowed task whose hook names a refused module
    gator = Gator("locmem://")
    send_raw(
        gator, body("tests.tasks", "count", "k", **{hook: {"module": NEVER, "callable": "hook"}})
    )
    # When
    [outcome] = run_all(Worker(gator, import_allow=["tests.tasks"]))
    # Then neither the hook's module nor the task itself was touched
    assert outcome.action is Action.DEAD
    assert f"module {NEVER!r} is not in the import allow-list" in outcome.error
    assert tasks.calls["k"] == 0
    assert_never_imported(trace)


def test_positive_control_an_allowed_module_is_imported_and_leaves_a_trace(trace):
    # The trace the other tests look for really appears on an import.
    gator = Gator("locmem://")
    send_raw(gator, body(NEVER, "run"))
    [outcome] = run_all(Worker(gator, import_allow=["tests"]))
    assert outcome.action is Action.ACK and outcome.task.result == "ran"
    assert NEVER in sys.modules
    assert trace.read_text() == f"{NEVER}\n"


def test_a_module_that_is_no_module_path_is_refused_before_the_allow_list(trace):
    # "tests/never_import" or "..never_import" never reach importlib.
    gator = Gator("locmem://")
    for module in (
        "tests/never_import",
        ".never_import",
        "tests..never_import",
        "tests.never_import ",
    ):
        send_raw(gator, body(module, "run"))
    outcomes = run_all(Worker(gator))
    assert [o.action for o in outcomes] == [Action.DEAD] * 4
    assert all("not a module path" in o.error for o in outcomes)
    assert_never_imported(trace)


@pytest.mark.parametrize(
    ("module", "name", "options"),
    [
        (f"{NEVER}.__init__", "run", {}),  # would run a package's import code again
        (f"{NEVER}.__main__", "run", {}),  # would run a package's command line
        (NEVER, "__init__", {}),
        ("tests.tasks", "count", {"on_error": {"module": f"{NEVER}.__init__", "callable": "hook"}}),
        # an allowed module's own attribute setters, which rewrote it for
        # every later task until a restart
        ("tests.tasks", "__delattr__", {}),
        (
            "tests.tasks",
            "count",
            {"on_success": {"module": "tests.tasks", "callable": "__setattr__"}},
        ),
    ],
    ids=[
        "pkg.__init__",
        "pkg.__main__",
        "callable __init__",
        "hook pkg.__init__",
        "callable __delattr__",
        "hook __setattr__",
    ],
)
def test_a_dunder_module_part_is_poison_before_anything_is_imported(trace, module, name, options):
    # Given a message naming a dunder module part, inside the allow-list
    gator = Gator("locmem://")
    send_raw(gator, body(module, name, **options))
    # When
    [outcome] = run_all(Worker(gator, import_allow=["tests"]))
    # Then it is poison, naming the part, and nothing was imported: not
    # even the package the dunder belongs to
    assert outcome.action is Action.DEAD
    assert "with the dunder part '__" in outcome.error
    assert_never_imported(trace)
    assert tasks.calls == {}


def test_worker_uses_the_environment_allow_list_and_its_argument_beats_it(monkeypatch, trace):
    # Given ALLIGATOR_IMPORT_ALLOW allowing everything under tests
    monkeypatch.setenv("ALLIGATOR_IMPORT_ALLOW", "tests")
    gator = Gator("locmem://")
    assert Worker(gator).processor.import_allow == ImportAllow(("tests",))
    # When the worker is given its own list
    worker = Worker(gator, import_allow=["tests.tasks"])
    send_raw(gator, body(NEVER, "run"))
    # Then the argument wins: never_import is refused
    [outcome] = run_all(worker)
    assert outcome.action is Action.DEAD
    assert_never_imported(trace)


def test_a_worker_without_an_allow_list_warns_once(caplog):
    gator = Gator("locmem://")
    gator.task_many([(tasks.count, ("w",), {})] * 3)
    with caplog.at_level(logging.WARNING, logger="alligator"):
        worker = Worker(gator)
        run_all(worker)
    warnings = [r for r in caplog.records if "no import allow-list" in r.getMessage()]
    assert len(warnings) == 1
    assert tasks.calls["w"] == 3


def test_a_worker_with_an_allow_list_does_not_warn(caplog, monkeypatch):
    with caplog.at_level(logging.WARNING, logger="alligator"):
        Worker(Gator("locmem://"), import_allow="tests")
        monkeypatch.setenv("ALLIGATOR_IMPORT_ALLOW", "tests")
        Worker(Gator("locmem://"))
    assert not [r for r in caplog.records if "allow-list" in r.getMessage()]


def test_cli_import_allow_takes_several_prefixes_repeated_or_with_commas():
    argv = ["worker", "--import-allow", "a,b.c", "--import-allow", "d", "locmem://"]
    args = build_parser().parse_args(argv)
    # The flag takes one value, so it can come before the DSN without
    # swallowing it.
    assert args.dsn == ["locmem://"]
    prefixes = [prefix for group in args.import_allow for prefix in group]
    assert ImportAllow.from_setting(prefixes).prefixes == ("a", "b.c", "d")


def _cli_worker(dsn: str, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full_env = {**dict(__import__("os").environ), "PYTHONPATH": str(ROOT), **env}
    return subprocess.run(
        [sys.executable, "-m", "alligator", "worker", dsn, "--max-tasks", "1", *args],
        cwd=ROOT,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_cli_import_allow_overrides_the_environment(tmp_path):
    # Given a task in tests.tasks on a queue file, and an environment that
    # would allow it
    dsn = f"sqlite://{tmp_path}/q.db"
    out = tmp_path / "runs"
    Gator(dsn).task(tasks.record, str(out), "first")
    env = {"ALLIGATOR_IMPORT_ALLOW": "tests"}
    # When the worker is told --import-allow json os
    refused = _cli_worker(dsn, "--import-allow", "json,os", env=env)
    # Then the argument wins: the task is dead-lettered, unrun
    assert refused.returncode == 0, refused.stderr
    assert "'tests.tasks' is not in the import allow-list" in refused.stderr
    assert not out.exists()
    gator = Gator(dsn)
    [dead] = dead_letters(gator)
    assert json.loads(dead.body)["callable"] == "record"
    # And without the argument, the environment's list lets the next one run
    gator.task(tasks.record, str(out), "second")
    ran = _cli_worker(dsn, env=env)
    assert ran.returncode == 0, ran.stderr
    assert out.read_text().split() == ["second"]
    assert "no import allow-list" not in ran.stderr


def test_cli_bad_allow_list_exits_2_with_one_line(tmp_path):
    result = _cli_worker(f"sqlite://{tmp_path}/q.db", "--import-allow", "my*", env={})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "alligator: error: import allow-list entry 'my*' is not a module path "
        "(like myapp or myapp.tasks; no wildcards)"
    ]


# -- signatures --------------------------------------------------------------------


def hmac_hex(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def test_signer_signs_with_the_first_key_and_accepts_any():
    old, new = Signer(("old",)), Signer.from_setting("new, old")
    assert new.keys == ("new", "old")
    assert new.sign("body") == hmac_hex("new", "body")
    assert new.verify("body", old.sign("body"))
    assert not old.verify("body", new.sign("body"))
    assert not new.verify("body!", new.sign("body"))


@pytest.mark.parametrize("signature", [None, "", "é" * 64, "\ud800", "00" * 32, "x" * 100_000])
def test_a_missing_or_hostile_signature_is_simply_wrong(signature):
    # compare_digest raises TypeError on non-ASCII str; verify must not.
    assert Signer(("k",)).verify("body", signature) is False


def test_verification_is_constant_time_over_every_key(monkeypatch):
    # Given a spy on hmac.compare_digest
    seen = []
    real = hmac.compare_digest

    def spy(a, b):
        seen.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    signer = Signer(("k1", "k2", "k3"))
    # When the first key matches
    assert signer.verify("body", hmac_hex("k1", "body"))
    # Then every key was still compared, and only with compare_digest
    assert len(seen) == 3


def test_signing_key_from_the_environment_and_argument_beats_it(monkeypatch):
    monkeypatch.setenv("ALLIGATOR_SIGNING_KEY", "env-new,env-old")
    assert Signer.from_setting(None).keys == ("env-new", "env-old")
    assert Signer.from_setting("arg").keys == ("arg",)
    assert Gator("locmem://", signing_key="arg").signer.keys == ("arg",)
    assert Gator("locmem://").signer.keys == ("env-new", "env-old")
    # The gator's argument also beats the environment on its consumers
    gator = Gator("locmem://", signing_key=["arg"])
    assert gator.processor().signer.keys == ("arg",)
    assert Worker(gator, import_allow="tests").processor.signer.keys == ("arg",)
    assert Worker(gator, import_allow="tests", signing_key="w").processor.signer.keys == ("w",)


def test_a_gator_with_a_key_signs_the_body_as_sent():
    gator = Gator("locmem://", signing_key="secret,older")
    gator.task(tasks.add, 1, 2)
    [message] = gator.backend.receive(max_messages=1, wait_seconds=0)
    assert message.attributes[SIGNATURE_ATTRIBUTE] == hmac_hex("secret", message.body)


def test_a_gator_without_a_key_does_not_sign():
    gator = Gator("locmem://")
    gator.task(tasks.add, 1, 2)
    [message] = gator.backend.receive(max_messages=1, wait_seconds=0)
    assert SIGNATURE_ATTRIBUTE not in message.attributes


def test_a_worker_with_another_key_rejects_before_importing(trace):
    # Given a message signed with key A that names a module nobody allowed
    gator = Gator("locmem://", signing_key="key-a")
    send_raw(gator, body(NEVER, "run"), **{SIGNATURE_ATTRIBUTE: "0" * 64})
    gator.task(tasks.count, "signed-a")
    # When a worker with key B and no allow-list at all consumes
    outcomes = run_all(Worker(gator, signing_key="key-b"))
    # Then both are poison for their signature; nothing ran or was imported
    assert [o.action for o in outcomes] == [Action.DEAD, Action.DEAD]
    assert [o.error for o in outcomes] == ["PoisonMessageError: signature is wrong"] * 2
    assert tasks.calls["signed-a"] == 0
    assert_never_imported(trace)
    assert len(dead_letters(gator)) == 2
    assert gator.len() == 0


def test_a_worker_with_a_key_rejects_unsigned_messages(trace):
    gator = Gator("locmem://")
    gator.task(tasks.count, "unsigned")
    send_raw(gator, body(NEVER, "run"))
    outcomes = run_all(Worker(gator, signing_key="key", import_allow="tests"))
    assert [o.error for o in outcomes] == ["PoisonMessageError: signature is missing"] * 2
    assert tasks.calls["unsigned"] == 0
    assert_never_imported(trace)


def test_key_rotation_accepts_messages_signed_with_the_old_key():
    # Given producers still on the old key, and one already on the new
    old_producer = Gator("locmem://", signing_key="old")
    old_producer.task(tasks.count, "by-old")
    new_producer = Gator("locmem://", signing_key="new,old")
    new_producer.task(tasks.count, "by-new")
    [by_new] = new_producer.backend.receive(max_messages=1, wait_seconds=0)
    assert by_new.attributes[SIGNATURE_ATTRIBUTE] == hmac_hex("new", by_new.body)
    new_producer.backend.release([by_new])
    # When workers configured "new,old" consume both queues
    for gator in (old_producer, new_producer):
        run_all(Worker(gator, signing_key="new,old", import_allow="tests"))
    # Then both ran
    assert tasks.calls["by-old"] == 1 and tasks.calls["by-new"] == 1


def test_copies_keep_the_signature_so_they_still_verify(monkeypatch):
    # Given a signed task that is not due yet, and one that fails
    gator = Gator("locmem://", signing_key="k")
    later = body("tests.tasks", "count", "later", delay_until=4e9)
    send_raw(gator, later, **{SIGNATURE_ATTRIBUTE: hmac_hex("k", later)})
    gator.task(tasks.fail)
    sent: list[Outgoing] = []
    real_send = gator.backend.send_many
    monkeypatch.setattr(
        gator.backend, "send_many", lambda batch: sent.extend(batch) or real_send(batch)
    )
    # When a worker with the key defers the first and dead-letters the second
    outcomes = run_all(Worker(gator, import_allow="tests"))
    # Then the re-sent copy and the DLQ copy carry a signature that verifies
    assert [o.label for o in outcomes] == ["deferred", "dead"]
    [copy] = sent
    assert copy.attributes[SIGNATURE_ATTRIBUTE] == hmac_hex("k", copy.body)
    [dead] = dead_letters(gator)
    assert dead.attributes[SIGNATURE_ATTRIBUTE] == hmac_hex("k", dead.body)


def test_lambda_reads_key_and_allow_list_from_the_environment(monkeypatch, trace):
    # Given the Lambda environment
    monkeypatch.setenv("ALLIGATOR_SIGNING_KEY", "lambda-key")
    monkeypatch.setenv("ALLIGATOR_IMPORT_ALLOW", "tests.tasks")
    gator = Gator("locmem://")
    signer = Signer(("lambda-key",))
    good, refused, unsigned = body("tests.tasks", "count", "lam"), body(NEVER, "run"), body()
    records = [
        _record("1", good, signer.sign(good)),
        _record("2", refused, signer.sign(refused)),
        _record("3", unsigned, None),
    ]
    # When the handler gets them
    response = lambda_handler.handle({"Records": records}, None, gator=gator)
    # Then the good one ran; the others went to the DLQ and count as done
    assert response == {"batchItemFailures": []}
    assert tasks.calls["lam"] == 1
    reasons = sorted(m.attributes[ERROR_ATTRIBUTE] for m in dead_letters(gator))
    assert reasons == [
        f"PoisonMessageError: module {NEVER!r} is not in the import allow-list",
        "PoisonMessageError: signature is missing",
    ]
    assert_never_imported(trace)


def _record(message_id: str, text: str, signature: str | None) -> dict:
    attributes = {}
    if signature is not None:
        attributes[SIGNATURE_ATTRIBUTE] = {"stringValue": signature, "dataType": "String"}
    return {
        "messageId": message_id,
        "receiptHandle": f"receipt-{message_id}",
        "body": text,
        "attributes": {"ApproximateReceiveCount": "1"},
        "messageAttributes": attributes,
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:lambda-queue",
    }


def test_signature_is_checked_before_the_payload_is_fetched():
    # A stranger's S3 pointer must not make the consumer read S3 at all.
    fetched = []

    class Payloads:
        def load(self, text):
            fetched.append(text)
            return text

        def is_offloaded(self, text):
            return True

    class Queue:
        queue_name = "q"
        payloads = Payloads()

    processor = Processor(Queue(), ConsumerConfig(signer=Signer(("k",))))  # type: ignore[arg-type]
    outcome = processor.handle(Received(body='["pointer"]', message_id="m", receipt="r"))
    assert outcome.action is Action.DEAD
    assert fetched == []
