"""``Worker``: a long-running consumer (ECS, a VM, a laptop) of one queue or
several.

Per queue, receives are kept in flight as the pacer says (one long poll
while idle; enough to keep every slot busy under a backlog) and deletes go
out in batches from flusher threads; ``concurrency`` slots run tasks, on
threads or in child processes; one heartbeat extends every lease held.
SIGTERM or SIGINT stops receiving, releases unstarted messages at once, lets
running tasks finish within ``shutdown_grace`` and exits 0; a second signal
exits at once, and what was running reappears after its visibility timeout.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

from .. import _signals
from ..backends.legacy import LegacyQueue
from ..constants import ALL
from ..exceptions import ConfigurationError
from ..gator import Gator
from ..outcome import Outcome
from ..retries import Backoff
from ..security import ImportAllow
from .engine import Engine
from .flusher import Flusher
from .heartbeat import Heartbeat
from .lane import Lane
from .picker import PRIORITIES, Picker
from .pools import Pool, ProcessPool, ThreadPool
from .receiver import Receiver
from .stopping import shut_down

log = logging.getLogger("alligator")
POOLS = ("threads", "processes")


class Worker:
    """Consumes one queue (or several) and runs the tasks.

    Example:
        >>> Worker(Gator("sqs://us-east-1/emails"), concurrency=4,
        ...        import_allow=["myapp"]).run_forever()

    Args:
        gator: the ``Gator`` whose queue to consume, or a list of them
            (first to last in priority).
        max_tasks: stop after this many task runs (0: never).
        to_consume: the queue name, as 1.0 had it (informational).
        nap_time: seconds to sleep when a non-blocking backend is empty.
        concurrency: tasks run at once.
        import_allow: module prefixes tasks may come from (or
            ``ALLIGATOR_IMPORT_ALLOW``); others are poison.
        signing_key: refuse messages without a valid signature (or the
            gator's own key, or ``ALLIGATOR_SIGNING_KEY``).
        shutdown_grace: seconds running tasks get to finish on SIGTERM.
        pool: ``threads`` or ``processes``.
        time_limit: seconds a run may take (or ``ALLIGATOR_TIME_LIMIT``),
            unless its task says otherwise.
        max_tasks_per_child: replace a child after this many tasks.
        max_memory_per_child: replace a child once it holds this many MiB.
        priority: ``weighted`` or ``strict``, between several queues.
        weights: one per queue, for ``weighted`` (default all 1).
        on_outcome: called with every ``Outcome`` once it is settled, from
            the worker's threads (so it must be thread-safe); for metrics and
            tests. An exception from it is logged and otherwise ignored.
        backoff: the retry backoff for every queue, instead of each queue's
            own (``Backoff.IMMEDIATE`` retries at once: ``drain``).

    Raises:
        ConfigurationError: a setting out of range.
    """

    def __init__(
        self,
        gator: Gator | Sequence[Gator],
        max_tasks: int = 0,
        to_consume: str = ALL,
        nap_time: float = 0.1,
        concurrency: int = 1,
        import_allow: str | Iterable[str] | None = None,
        signing_key: str | Iterable[str] | None = None,
        shutdown_grace: float = 25,
        pool: str = "threads",
        time_limit: float | None = None,
        max_tasks_per_child: int = 0,
        max_memory_per_child: int = 0,
        priority: str = "weighted",
        weights: Sequence[int] | None = None,
        *,
        on_outcome: Callable[[Outcome], Any] | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        gators = [gator] if isinstance(gator, Gator) else list(gator)
        _check(gators, concurrency, pool, priority, weights, shutdown_grace)
        _check_per_child(max_tasks_per_child, max_memory_per_child)
        #: A 1.0 ``backend_class`` is consumed as 1.0 did: in the calling thread.
        self.serial = any(isinstance(each.queue, LegacyQueue) for each in gators)
        if self.serial and (int(concurrency) != 1 or pool != "threads"):
            raise ConfigurationError(
                "a 1.0 backend_class runs one task at a time in the worker's own thread "
                "(its client is not thread-safe): use concurrency=1 and pool='threads'"
            )
        self.gators = gators
        self.gator = gators[0]
        self.max_tasks = int(max_tasks)
        self.to_consume = to_consume
        self.nap_time = nap_time
        self.concurrency = int(concurrency)
        self.shutdown_grace = float(shutdown_grace)
        self.pool_kind = pool
        self.max_tasks_per_child = int(max_tasks_per_child)
        self.max_memory_per_child = int(max_memory_per_child)
        allow = ImportAllow.from_setting(import_allow)
        lanes = []
        for index, each in enumerate(gators):
            queue_backoff = each.backoff if backoff is None else _backoff(backoff, each.backoff)
            config = each.consumer_config(
                import_allow=allow,
                signing_key=signing_key,
                backoff=queue_backoff,
                time_limit=time_limit,
            )
            weight = weights[index] if weights else 1
            lanes.append(Lane(index, each, config, slots=self.concurrency, weight=weight))
        self.lanes = lanes
        self.engine = Engine(
            lanes,
            Picker(priority),
            slots=self.concurrency,
            max_tasks=self.max_tasks,
            on_outcome=on_outcome,
        )
        self._signals = 0
        if allow is None:
            log.warning(
                "no import allow-list: any message can call any importable "
                "function; set --import-allow or ALLIGATOR_IMPORT_ALLOW"
            )
        if pool == "threads" and (self.max_tasks_per_child or self.max_memory_per_child):
            log.warning("max_tasks_per_child and max_memory_per_child apply to --pool processes")

    # -- 1.0's attributes ------------------------------------------------------------

    @property
    def backend(self) -> Any:
        """The first queue's backend."""
        return self.gator.backend

    @property
    def processor(self) -> Any:
        """The first queue's processor."""
        return self.lanes[0].processor

    @property
    def on_outcome(self) -> Callable[[Outcome], Any] | None:
        """The hook every settled ``Outcome`` is passed to."""
        return self.engine.on_outcome

    @on_outcome.setter
    def on_outcome(self, hook: Callable[[Outcome], Any] | None) -> None:
        self.engine.on_outcome = hook

    @property
    def tasks_complete(self) -> int:
        """Messages settled so far."""
        return self.engine.outcomes

    @property
    def keep_running(self) -> bool:
        """False once a stop was asked for (1.0's flag)."""
        return not self.engine.stopping.is_set()

    def ident(self) -> str:
        """A name for logs, with the process id (1.0)."""
        return self.engine.ident()

    # -- one step at a time ----------------------------------------------------------

    def check_and_run_task(
        self, *, wait_seconds: int | None = None, max_messages: int | None = None
    ) -> bool:
        """Run one received unit (receiving a batch if none is buffered).

        Args:
            wait_seconds: how long a receive may long-poll; each queue's
                ``wait_time`` when ``None``. ``alligator.testing.drain``
                passes 0, so it never waits on an empty queue.
            max_messages: receive at most this many (default: the batch
                size), so a caller that stops early holds nothing it must
                release (a release still counts as a receive on SQS).

        Returns:
            ``True`` if a message was handled, ``False`` if the queues were empty.
        """
        from ..consume import INLINE

        engine = self.engine
        got = engine._take_ready()
        for lane in self.lanes:
            if got is not None:
                break
            queue = lane.queue
            wait = wait_seconds
            if wait is None:
                wait = queue.wait_time if queue.blocking else 0
            messages = queue.receive(
                max_messages=max_messages or queue.batch_size, wait_seconds=wait
            )
            lane.empty = not messages
            if messages:
                lane.inflight.hold(messages)
                lane.add(messages)
                got = engine._take_ready()
        if got is None:
            return False
        lane, unit = got
        # The same heartbeat as run_forever's, while this unit runs: a slow
        # task must not be handed to a second consumer here either.
        with Heartbeat([lane]).running():
            engine.run_unit(lane, unit, INLINE, may_start=lambda: True)
        if not lane.has_work:
            engine.safely("send deletes", lane.settler.flush)
        return True

    def close(self) -> None:
        """Flush deletes and release anything received but not started."""
        self.engine.release_buffered()
        for lane in self.lanes:
            self.engine.safely("send deletes", lane.settler.flush)

    # -- forever ---------------------------------------------------------------------

    def run_forever(self) -> int:
        """Consume until ``max_tasks``, ``stop()`` or a signal; returns 0.

        Raises:
            ConfigurationError: a queue is missing or misconfigured.
        """
        for lane in self.lanes:
            lane.queue.check()  # type: ignore[attr-defined]
        _check_status_stores(self.gators)
        engine = self.engine
        engine.stopping.clear()
        engine.drained.clear()
        if self.serial:
            return self._run_serially()
        names = ", ".join(repr(lane.name) for lane in self.lanes)
        log.info(
            "%s consuming %s (%s pool, concurrency %d)",
            self.ident(),
            names,
            self.pool_kind,
            self.concurrency,
        )
        with _signals.handled(self._on_signal):
            flushers = [Flusher(engine, lane) for lane in self.lanes]
            flusher_threads = [thread for flusher in flushers for thread in flusher.start()]
            receivers = [Receiver(engine, lane, nap_time=self.nap_time) for lane in self.lanes]
            receiver_threads = [receiver.start() for receiver in receivers]
            pool = self._pool()
            pool.start()
            heartbeat = threading.Thread(
                target=Heartbeat(self.lanes).loop,
                args=(engine.drained,),
                name="heartbeat",
                daemon=True,
            )
            heartbeat.start()
            while not engine.stopping.wait(0.2):
                pass
            shut_down(
                engine,
                pool,
                receivers,
                receiver_threads,
                flushers,
                [*flusher_threads, heartbeat],
                grace=self.shutdown_grace,
            )
        if engine.fatal is not None:
            raise engine.fatal
        return 0

    def _run_serially(self) -> int:
        """1.0's loop, for a 1.0 ``backend_class``: one task at a time, in
        this thread, which is where its client was made (the guide's sqlite
        connection may not be used from any other thread)."""
        engine = self.engine
        log.info(
            "%s consuming %r one task at a time (a 1.0 backend)",
            self.ident(),
            self.gator.queue_name,
        )
        with _signals.handled(self._on_signal):
            while not engine.stopping.is_set():
                try:
                    ran = self.check_and_run_task()
                except Exception:
                    # The client failed (a task's own failure is settled
                    # inside): what was popped is logged; go on after a nap.
                    log.exception("%s: the 1.0 backend failed", self.ident())
                    ran = False
                if not ran:
                    engine.stopping.wait(self.nap_time)
        log.info("%s stopping after %d messages", self.ident(), engine.outcomes)
        return 0

    def stop(self) -> None:
        """Stop gracefully: the same as one SIGTERM."""
        self.engine.stop()

    def _pool(self) -> Pool:
        if self.pool_kind == "processes":
            from .. import logs

            return ProcessPool(
                self.engine,
                self.concurrency,
                max_tasks_per_child=self.max_tasks_per_child,
                max_memory_per_child=self.max_memory_per_child,
                log_format=logs.current_format(),
            )
        return ThreadPool(self.engine, self.concurrency)

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals += 1
        if self._signals > 1:
            # A second signal: leave now. Held messages reappear after their
            # visibility timeout; nothing is deleted, so nothing is lost.
            os._exit(1)
        log.info("%s got signal %d: finishing running tasks", self.ident(), signum)
        self.stop()


def _backoff(chosen: Backoff, own: Backoff) -> Backoff:
    """``Backoff.IMMEDIATE`` keeps the queue's own maximum (for a message
    that cannot be dead-lettered); any other backoff is taken as it is."""
    return replace(own, immediate=True) if chosen.immediate else chosen


def _check(
    gators: list[Gator],
    concurrency: int,
    pool: str,
    priority: str,
    weights: Sequence[int] | None,
    shutdown_grace: float,
) -> None:
    if not gators:
        raise ConfigurationError("a worker needs at least one gator")
    if int(concurrency) < 1:
        raise ConfigurationError(f"concurrency must be at least 1, not {concurrency}")
    if pool not in POOLS:
        raise ConfigurationError(f"pool must be threads or processes, not {pool!r}")
    if priority not in PRIORITIES:
        raise ConfigurationError(f"priority must be weighted or strict, not {priority!r}")
    if weights is not None:
        if isinstance(weights, (str, bytes)) or not all(
            isinstance(weight, int) and not isinstance(weight, bool) for weight in weights
        ):
            raise ConfigurationError(f"weights must be a list of whole numbers, not {weights!r}")
        if len(weights) != len(gators):
            raise ConfigurationError(
                f"weights: {len(weights)} given for {len(gators)} queue(s); give one per queue"
            )
        if any(int(weight) < 1 for weight in weights):
            raise ConfigurationError("weights must be whole numbers of at least 1")
    if not (0 <= float(shutdown_grace) < float("inf")):
        raise ConfigurationError(f"shutdown_grace must be finite seconds, not {shutdown_grace}")


def _check_status_stores(gators: Sequence[Gator]) -> None:
    """Read each status store once, so that a missing table stops the worker
    with one line now (exit 2) instead of failing every message later."""
    seen: set[int] = set()
    for gator in gators:
        store = gator.status_store
        if store is None or id(store) in seen:
            continue
        seen.add(id(store))
        store.get("alligator-startup-check")


def _check_per_child(max_tasks: int, max_memory: int) -> None:
    for name, value in (("max_tasks_per_child", max_tasks), ("max_memory_per_child", max_memory)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigurationError(f"{name} must be a whole number of at least 0, not {value!r}")


__all__ = ["Worker"]
