"""``Worker``: a long-running consumer (ECS, a VM, a laptop).

Receiver threads long-poll in batches and keep a small prefetch buffer, so
receiving overlaps running; ``concurrency`` runner threads run tasks;
settler threads send the deletes in batches, so a runner never waits for
one; a heartbeat thread extends the lease of everything held. While the
queue has a backlog, two receives and two deletes may be in flight at once
(a round trip to SQS is long next to a fast task); an idle worker makes one
long poll at a time and nothing else. SIGTERM or
SIGINT stops receiving, releases unstarted messages at once, lets running
tasks finish within ``shutdown_grace`` and exits 0; a second signal exits at
once, and what was running reappears after its visibility timeout.
"""

from __future__ import annotations

import logging
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from .backends.base import Received
from .constants import ALL
from .exceptions import ConfigurationError
from .gator import Gator
from .logs import log_outcome
from .outcome import Action, Outcome
from .security import ImportAllow, Signer
from .settle import BATCH_ENTRIES, Settler

log = logging.getLogger("alligator")
Unit = list[Received]  # messages run in order: one, or one FIFO group's batch
#: The longest a finished message waits for its batched delete when the
#: runners are busy (the heartbeat sends it); see ``_heartbeat_loop``.
MAX_SETTLE_DELAY_SECONDS = 1.0
#: Threads that receive, and threads that send deletes: up to this many
#: requests of each kind in flight while there is a backlog.
RECEIVERS = SETTLERS = 2
#: How long a partial batch of deletes waits for more before it is sent.
SETTLE_DELAY_SECONDS = 0.05
#: The weight of the newest sample in the running averages (task run time,
#: receive round trip) that decide how far ahead to receive.
AVERAGE_WEIGHT = 0.2


class Worker:
    """Consumes a gator's queue and runs the tasks.

    Example:
        >>> Worker(Gator("sqs://us-east-1/emails"), concurrency=4,
        ...        import_allow=["myapp"]).run_forever()

    Args:
        gator: the ``Gator`` whose queue to consume.
        max_tasks: stop after this many messages (0: never).
        to_consume: the queue name, as 1.0 had it (informational).
        nap_time: seconds to sleep when a non-blocking backend is empty.
        concurrency: tasks run at once, in threads.
        import_allow: module prefixes tasks may come from (or
            ``ALLIGATOR_IMPORT_ALLOW``); others are poison.
        signing_key: refuse messages without a valid signature (or
            ``ALLIGATOR_SIGNING_KEY``).
        shutdown_grace: seconds running tasks get to finish on SIGTERM.
        on_outcome: called with every ``Outcome`` once it is settled, from
            the runner threads (so it must be thread-safe); for metrics and
            tests. An exception from it is logged and otherwise ignored.
    """

    def __init__(
        self,
        gator: Gator,
        max_tasks: int = 0,
        to_consume: str = ALL,
        nap_time: float = 0.1,
        concurrency: int = 1,
        import_allow: str | Iterable[str] | None = None,
        signing_key: str | Iterable[str] | None = None,
        shutdown_grace: float = 25,
        *,
        on_outcome: Callable[[Outcome], Any] | None = None,
    ) -> None:
        if int(concurrency) < 1:
            raise ConfigurationError(f"concurrency must be at least 1, not {concurrency}")
        self.gator = gator
        self.backend = gator.backend
        self.max_tasks = int(max_tasks)
        self.to_consume = to_consume
        self.nap_time = nap_time
        self.concurrency = int(concurrency)
        self.shutdown_grace = shutdown_grace
        self.on_outcome = on_outcome
        allow = ImportAllow.from_setting(import_allow)
        # An argument beats the environment: the worker's own key, else the
        # gator's (its argument, or the environment it read).
        if signing_key is None and gator.signer is not None:
            signer: Signer | None = gator.signer
        else:
            signer = Signer.from_setting(signing_key)
        self.processor = gator.processor(import_allow=allow, signer=signer)
        self.settler = Settler(self.backend)
        self.tasks_complete = 0
        self.keep_running = False
        self._units: queue.Queue[Unit] = queue.Queue()
        self._held: dict[str, list[Any]] = {}  # receipt -> [message, leased_at]
        self._lock = threading.Lock()
        # Receiving (see ``_room``): messages asked for by receives in
        # flight; whether the last receive came back full (a backlog); the
        # running averages of a task's run time and a full receive's round
        # trip. Runners and receivers signal room on ``_room_changed``.
        self._receiving = 0
        self._backlog = False
        self._task_seconds = 0.0
        self._receive_seconds = 0.0
        self._room_changed = threading.Condition(self._lock)
        self._settle_wanted = threading.Event()
        self._stop = threading.Event()
        # Set once the runners are done (or the grace is over): the heartbeat
        # stops then, not at the stop signal, so tasks finishing during the
        # grace keep their leases and are not handed to another consumer.
        self._drained = threading.Event()
        self._signals = 0
        self._fatal: BaseException | None = None
        if allow is None:
            log.warning(
                "no import allow-list: any message can call any importable "
                "function; set --import-allow or ALLIGATOR_IMPORT_ALLOW"
            )

    def ident(self) -> str:
        """A name for logs, with the process id (1.0)."""
        return f"Alligator Worker (#{os.getpid()})"

    # -- one step at a time ----------------------------------------------

    def check_and_run_task(
        self, *, wait_seconds: int | None = None, max_messages: int | None = None
    ) -> bool:
        """Run one received message (receiving a batch if none is buffered).

        Args:
            wait_seconds: how long a receive may long-poll; the backend's
                ``wait_time`` when ``None``. ``alligator.testing.drain``
                passes 0, so it never waits on an empty queue.
            max_messages: receive at most this many (default: the batch
                size), so a caller that stops early holds nothing it must
                release (a release still counts as a receive on SQS).

        Returns:
            ``True`` if a message was handled, ``False`` if the queue was empty.
        """
        if self._units.empty():
            if wait_seconds is None:
                wait_seconds = self.backend.wait_time if self.backend.blocking else 0
            self._receive(wait_seconds, max_messages)
        try:
            unit = self._units.get_nowait()
        except queue.Empty:
            return False
        # The same heartbeat as run_forever's, for as long as this unit runs:
        # a slow task must not be handed to a second consumer here either.
        ran = threading.Event()
        beat = threading.Thread(target=self._heartbeat_loop, args=(ran,), daemon=True)
        beat.start()
        try:
            self._run_unit(unit)
        finally:
            ran.set()
            beat.join()
        if self._units.empty():
            self.settler.flush()
        return True

    def close(self) -> None:
        """Flush deletes and release anything received but not started."""
        self._release_buffered()
        self.settler.flush()

    # -- forever ---------------------------------------------------------

    def run_forever(self) -> int:
        """Consume until ``max_tasks``, ``stop()`` or a signal; returns 0.

        Raises:
            ConfigurationError: the queue is missing or misconfigured.
        """
        check = getattr(self.backend, "check", None)
        if check is not None:
            check()
        self.keep_running = True
        self._stop.clear()
        self._drained.clear()
        log.info("%s consuming %r", self.ident(), self.backend.queue_name)
        previous = self._install_signals()
        self.settler.on_full = self._settle_wanted.set
        threads = [self._thread(self._receive_loop, f"receiver-{n}") for n in range(RECEIVERS)]
        threads += [self._thread(self._run_loop, f"runner-{n}") for n in range(self.concurrency)]
        threads += [self._thread(self._settle_loop, f"settler-{n}") for n in range(SETTLERS)]
        threads.append(self._thread(self._heartbeat_loop, "heartbeat"))
        while not self._stop.wait(0.2):
            pass
        # The settlers stop now: a batch filled during the grace is sent by
        # the runner that filled it (the heartbeat sends partial ones).
        self.settler.on_full = None
        self._shutdown(threads)
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        if self._fatal is not None:
            raise self._fatal
        return 0

    def stop(self) -> None:
        """Stop gracefully: the same as one SIGTERM."""
        self.keep_running = False
        self._stop.set()

    def _install_signals(self) -> dict[int, Any]:
        """Handle SIGTERM/SIGINT; returns the handlers to put back after."""
        if threading.current_thread() is not threading.main_thread():
            return {}
        signums = (signal.SIGTERM, signal.SIGINT)
        return {signum: signal.signal(signum, self._on_signal) for signum in signums}

    def _on_signal(self, signum: int, frame: Any) -> None:
        self._signals += 1
        if self._signals > 1:
            # A second signal: leave now. Held messages reappear after their
            # visibility timeout; nothing is deleted, so nothing is lost.
            os._exit(1)
        log.info("%s got signal %d: finishing running tasks", self.ident(), signum)
        self.stop()

    def _shutdown(self, threads: list[threading.Thread]) -> None:
        self._release_buffered()
        deadline = time.monotonic() + self.shutdown_grace
        for thread in threads:
            if thread.name != "heartbeat":
                thread.join(max(0.0, deadline - time.monotonic()))
        self._drained.set()
        # A long poll that returned during the shutdown released its own
        # messages; anything still buffered goes back now.
        self._release_buffered()
        self._flush()
        still_running = [t.name for t in threads if t.is_alive() and t.name != "heartbeat"]
        if still_running:
            log.warning(
                "%s: tasks still running after the grace: %s",
                self.ident(),
                still_running,
            )
        log.info("%s stopping after %d tasks", self.ident(), self.tasks_complete)

    def _thread(self, target: Callable[[], None], name: str) -> threading.Thread:
        thread = threading.Thread(target=self._guard(target), name=name, daemon=True)
        thread.start()
        return thread

    def _guard(self, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except ConfigurationError as exc:
                self._fatal = exc
                self.stop()
            except BaseException as exc:
                log.exception(
                    "%s: %s thread crashed",
                    self.ident(),
                    threading.current_thread().name,
                )
                # Not a clean stop: run_forever raises it, the CLI exits 1.
                self._fatal = exc
                self.stop()

        return run

    # -- receiving ---------------------------------------------------------

    def _receive_loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            with self._lock:
                room = self._room()
                if room <= 0:
                    # Woken when a runner takes a message or a receive ends.
                    self._room_changed.wait(0.1)
                    continue
                self._receiving += room
            got, started = 0, time.monotonic()
            try:
                got = self._receive(self.backend.wait_time, room)
                failures = 0
            except ConfigurationError:
                raise
            except Exception:
                failures += 1
                log.exception("%s: receive failed; retrying", self.ident())
                self._stop.wait(min(30.0, 0.5 * 2**failures))
            finally:
                self._received(room, got, time.monotonic() - started)
            if not got and not self.backend.blocking:
                self._stop.wait(self.nap_time)

    def _room(self) -> int:
        """How many messages to receive now (0: none), with ``_lock`` held.

        Enough to keep every runner busy; one batch more while the queue has
        a backlog and the runners would empty the buffer before a receive
        could refill it (fast tasks), so the round trip is hidden; never
        more than ``max_tasks`` allows. Without a backlog, one receive at a
        time: an idle worker makes one long poll, not two.
        """
        if self._receiving and not self._backlog:
            return 0
        if self.settler.pending >= SETTLERS * BATCH_ENTRIES:
            return 0  # the deletes are behind: do not take on more
        unstarted = self._units.qsize()
        limit = self.concurrency
        busy_seconds = unstarted * self._task_seconds / self.concurrency
        if self._backlog and busy_seconds < self._receive_seconds:
            limit += self.backend.batch_size
        if unstarted + self._receiving >= limit:
            return 0
        room = self.backend.batch_size
        if self.max_tasks:
            held = len(self._held) + self._receiving
            room = min(room, self.max_tasks - self.tasks_complete - held)
        return room

    def _received(self, asked: int, got: int, seconds: float) -> None:
        """Account for a finished receive; a full one means a backlog, and
        its duration is a round trip (it did not wait for messages)."""
        with self._lock:
            self._receiving -= asked
            self._backlog = got >= asked
            if self._backlog:
                self._receive_seconds += AVERAGE_WEIGHT * (seconds - self._receive_seconds)
            self._room_changed.notify()

    def _receive(self, wait: int, room: int | None = None) -> int:
        limit = self.backend.batch_size if room is None else room
        messages = self.backend.receive(max_messages=limit, wait_seconds=wait)
        if not messages:
            return 0
        now = time.monotonic()
        with self._lock:
            for message in messages:
                self._held[message.receipt] = [message, now]
        if room is not None and self._stop.is_set():
            self._forget(messages)
            self.settler.release(messages)
            return 0
        for unit in self._units_of(messages):
            self._units.put(unit)
        return len(messages)

    def _units_of(self, messages: list[Received]) -> list[Unit]:
        if not self.backend.fifo:
            return [[message] for message in messages]
        groups: dict[str | None, Unit] = {}
        for message in messages:
            groups.setdefault(message.group, []).append(message)
        return list(groups.values())

    def _release_buffered(self) -> None:
        released: list[Received] = []
        while True:
            try:
                released += self._units.get_nowait()
            except queue.Empty:
                break
        if released:
            self._forget(released)
            self._safely("release", self.settler.release, released)

    # -- running ---------------------------------------------------------

    def _run_loop(self) -> None:
        while not self._stop.is_set():
            try:
                unit = self._units.get(timeout=0.1)
            except queue.Empty:
                continue
            with self._lock:
                self._room_changed.notify()
            self._run_unit(unit)

    def _run_unit(self, unit: Unit) -> None:
        for index, message in enumerate(unit):
            try:
                outcome = self.processor.handle(message)
            except Exception:
                # The status store (or S3) failed, not the task. Leave the
                # message alone: it comes back after its lease, nothing lost.
                log.exception("%s: could not process %s", self.ident(), message.message_id)
                self._forget([message])
                outcome = None
            if outcome is not None:
                self._finish(outcome)
            if self.backend.fifo and (outcome is None or outcome.action is not Action.ACK):
                # Order within a group: the rest must not overtake this one.
                rest = unit[index + 1 :]
                self._forget(rest)
                self._safely("release", self.settler.release, rest)
                break

    def _finish(self, outcome: Outcome) -> None:
        try:
            self._safely("settle", self.settler.settle, outcome)
        finally:
            self._forget([outcome.message])
        log_outcome(outcome)
        with self._lock:
            self.tasks_complete += 1
            done = self.max_tasks and self.tasks_complete >= self.max_tasks
            self._task_seconds += AVERAGE_WEIGHT * (outcome.duration - self._task_seconds)
        self._settle_wanted.set()
        if self.on_outcome is not None:
            try:
                self.on_outcome(outcome)
            except Exception:
                # A metrics hook must not take the worker down: the message
                # is settled already, so there is nothing to undo.
                log.exception("%s: the on_outcome hook failed", self.ident())
        if done:
            self.stop()

    def _flush(self) -> None:
        self._safely("send deletes and releases", self.settler.flush)

    def _settle_loop(self) -> None:
        """Send deletes (and releases) a batch at a time: a full batch at
        once, a partial one after ``SETTLE_DELAY_SECONDS`` (more may come)."""
        settler, batch = self.settler, BATCH_ENTRIES
        while not self._stop.is_set():
            pending, waited = settler.pending, settler.waited
            if pending >= batch or (pending and waited >= SETTLE_DELAY_SECONDS):
                self._safely("send deletes and releases", settler.flush, batch)
                if settler.pending:
                    self._settle_wanted.set()  # the other settler can help
                with self._lock:
                    self._room_changed.notify()  # a receiver may wait on us
                continue
            self._settle_wanted.wait(SETTLE_DELAY_SECONDS - waited if pending else 0.1)
            self._settle_wanted.clear()

    def _safely(self, what: str, call: Callable[..., Any], *args: Any) -> None:
        """Settle, surviving an SQS that still fails after botocore's own
        retries: a runner or heartbeat thread must not die of an outage.
        Nothing is lost by giving up: an unsent delete or release only
        means the message comes back after its lease (and a finished task
        may run again, which at-least-once delivery allows)."""
        try:
            call(*args)
        except ConfigurationError:
            raise
        except Exception:
            log.exception(
                "%s: could not %s; the messages come back after their visibility timeout",
                self.ident(),
                what,
            )

    def _forget(self, messages: list[Received]) -> None:
        with self._lock:
            for message in messages:
                self._held.pop(message.receipt, None)

    # -- heartbeat -------------------------------------------------------

    def _heartbeat_loop(self, until: threading.Event | None = None) -> None:
        """Extend the lease of everything held for more than half of it,
        received-but-waiting messages included, in one batched call; and
        send the deletes a busy runner is sitting on.

        A finished message is no longer extended, so its delete must go out
        well inside what is left of its lease (at least half of it, less a
        tick): a runner that goes straight on to a slow task would otherwise
        hold it until that task ends, and the message would run again.
        """
        lease = max(1, int(self.backend.visibility_timeout or 30))
        tick = max(0.1, min(MAX_SETTLE_DELAY_SECONDS, lease / 8))
        renewed = time.monotonic()
        until = until or self._drained
        while not until.wait(tick):
            if self.settler.waited >= tick:
                self._flush()
            now = time.monotonic()
            with self._lock:
                due = [held for held in self._held.values() if now - held[1] >= lease / 2]
                for held in due:
                    held[1] = now
            try:
                if due:
                    self.backend.extend([held[0] for held in due], seconds=lease)
                if now - renewed >= lease / 4:
                    renewed = now
                    self._renew_status_leases(lease)
            except Exception:
                log.exception("%s: heartbeat failed", self.ident())

    def _renew_status_leases(self, lease: int) -> None:
        """Keep the status store's lease on running tasks alive too, so a
        second copy of a slow task is deferred rather than run twice."""
        status = self.processor.status
        if status is None:
            return
        for task_id in self.processor.running_task_ids():
            status.renew(task_id, owner=self.processor.owner, lease_seconds=lease)
