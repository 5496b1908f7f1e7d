"""Strict priority's receivers, one receive at a time, on moto's server
(CONTRACT.md section 9). The worker's own receivers and lanes are driven
step by step here, so the order in which two receives come back is the
test's to choose, not the scheduler's; the process-level behaviour is in
tests/integration/test_several_queues.py.
"""

from __future__ import annotations

from typing import Any

from alligator import Gator
from alligator.testing import make_queue
from alligator.worker.receiver import Receiver
from tests import tasks
from tests.helpers import make_worker


def _receive(receiver: Receiver, room: int) -> None:
    """One receive, as the receiver's loop starts it (a short poll)."""
    with receiver.engine.changed:
        receiver.lane.pacer.started(room)
    receiver._receive(room, 0)


def _visible(aws: Any, gator: Gator) -> int:
    url = aws.get_queue_url(QueueName=gator.queue.queue_name)["QueueUrl"]
    attributes = aws.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"])


def test_a_low_message_that_arrives_after_a_high_burst_is_released_not_held(sqs_endpoint, aws):
    # Given a strict worker whose two queues both came back empty, so the
    # low queue has a receive out (for the one idle slot)
    high, low = Gator(make_queue(sqs_endpoint)), Gator(make_queue(sqs_endpoint))
    worker = make_worker([high, low], priority="strict")
    high_lane, low_lane = worker.lanes
    receivers = [Receiver(worker.engine, lane, nap_time=0) for lane in worker.lanes]
    for receiver in receivers:
        _receive(receiver, 1)
    assert high_lane.came_back_empty and low_lane.came_back_empty
    # When a burst lands on the high queue and its receive comes back first,
    # and only then the low queue's receive, with a low message
    high.task_many([(tasks.count, (f"high{n}",), {}) for n in range(3)])
    low.task(tasks.count, "low")
    _receive(receivers[0], 10)
    _receive(receivers[1], 1)
    # Then the high messages wait for the slot, and the low one is not kept
    # behind them: it is visible again on its queue at once, for any worker
    assert high_lane.unstarted == 3
    assert low_lane.unstarted == 0
    assert len(low_lane.inflight) == 0
    assert _visible(aws, low) == 1
    assert worker.engine.picker.pick(worker.lanes) == 0
    worker.close()


def test_a_high_receive_releases_what_the_low_queue_holds(sqs_endpoint, aws):
    # Given a strict worker holding a low message for its idle slot
    high, low = Gator(make_queue(sqs_endpoint)), Gator(make_queue(sqs_endpoint))
    worker = make_worker([high, low], priority="strict")
    high_lane, low_lane = worker.lanes
    receivers = [Receiver(worker.engine, lane, nap_time=0) for lane in worker.lanes]
    _receive(receivers[0], 10)
    low.task(tasks.count, "low")
    _receive(receivers[1], 1)
    assert low_lane.unstarted == 1
    # When the high queue's next receive brings a message
    high.task(tasks.count, "high")
    _receive(receivers[0], 10)
    # Then the low message is released at once, and the high one is next
    assert low_lane.unstarted == 0
    assert _visible(aws, low) == 1
    assert high_lane.unstarted == 1
    worker.close()
