"""Shared fixtures. The SQS endpoint fixture comes from alligator.testing."""

from __future__ import annotations

import os
import threading
from typing import Any

import pytest

from alligator import _env
from tests import tasks

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
#: Every variable alligator reads; none may leak in from the outside (but
#: the one that points the tests at another SQS endpoint).
ALLIGATOR_VARIABLES = tuple(name for name in _env.VARIABLES if name != _env.TEST_SQS_ENDPOINT)
for _name in ALLIGATOR_VARIABLES:
    os.environ.pop(_name, None)


@pytest.fixture(scope="session")
def aws(sqs_endpoint):
    """A plain boto3 SQS client on moto, to look behind alligator's back."""
    import boto3

    client = boto3.session.Session().client(
        "sqs", region_name="us-east-1", endpoint_url=sqs_endpoint
    )
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _fresh_task_state():
    tasks.calls.clear()
    tasks.hook_log.clear()
    yield


@pytest.fixture(autouse=True)
def _fifo_groups_block_while_in_flight(monkeypatch):
    """Make moto block a FIFO message group exactly as SQS documents it:
    while a message of the group is in flight (received and still hidden).

    moto keeps a message that became visible again among the "pending"
    (in flight) ones until its turn comes in a scan, so a group's blocked
    state changes halfway through one receive: when a failed message and the
    rest of its group (hidden for the same backoff) come back together, it
    can hand out a later message before the failed one. SQS does not ("no
    more messages of the same group are returned unless you delete the
    message or it becomes visible"), and the tests follow SQS, not moto: this
    settles who is in flight before each receive, so every scan sees one state.
    """
    try:
        from moto.sqs.models import Queue
    except ImportError:  # moto is not installed: nothing to fix
        return

    def settled_messages(self):
        # The visible messages, none of them counted as in flight any more:
        # a message visible again is not in flight, whatever the scan.
        visible = [m for m in self._messages if m.visible and not m.delayed]
        for message in visible:
            self.pending_messages.discard(message)
        return visible

    def in_flight_groups(self):
        return {
            message.group_id
            for message in self._pending_messages
            if message.group_id is not None and not message.visible
        }

    monkeypatch.setattr(Queue, "messages", property(settled_messages))
    monkeypatch.setattr(Queue, "pending_message_groups", property(in_flight_groups))


def pytest_collection_modifyitems(config, items):
    """``ALLIGATOR_TEST_SQS_ENDPOINT`` points ``sqs_endpoint`` at LocalStack
    or real SQS: tests that depend on moto itself (they patch its internals
    in this process) cannot run there."""
    if os.environ.get("ALLIGATOR_TEST_SQS_ENDPOINT", "").strip():
        skip = pytest.mark.skip(reason="moto_only: ALLIGATOR_TEST_SQS_ENDPOINT is not moto")
        for item in items:
            if item.get_closest_marker("moto_only"):
                item.add_marker(skip)


@pytest.fixture
def atomic_receives(monkeypatch) -> None:
    """Make moto's ReceiveMessage atomic, as SQS's is (nearly) always.

    moto scans and marks messages without a lock, so two ReceiveMessage
    calls at the same moment can both be handed the same visible message.
    Real SQS may deliver a standard-queue message twice too, but rarely;
    the contract's answer to that is the status store's duplicate
    suppression, not the worker. Tests that count runs across concurrent
    pollers serialise moto's receives so they test alligator, not the race.
    """
    from moto.sqs.models import SQSBackend as MotoSQS

    lock = threading.Lock()
    receive = MotoSQS.receive_message

    def atomic(self: Any, *args: Any, **kwargs: Any) -> Any:
        with lock:
            return receive(self, *args, **kwargs)

    monkeypatch.setattr(MotoSQS, "receive_message", atomic)
