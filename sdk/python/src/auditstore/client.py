"""The blocking client (docs/SDK.md §1–§6): `record` through a bounded
queue drained by a sender thread, `append` now, reads, verified reads and
exports. What is queued is flushed at interpreter exit (`atexit`)."""

from __future__ import annotations

import atexit
import hmac
import os
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any, Callable, Dict, List, Optional, Tuple

from . import routes
from .batches import Batch, Queue, Report
from .config import DROP, Block, Config, Event, prepare
from .errors import AuditStoreError, ClosedError, NetworkError, QueueFullError, VerificationError
from .transport import Transport
from .verify import Checkpoint, VerifierKey, check_origin, parse_verifier_key, verify_checkpoint, verify_event

Progress = Callable[[int, int], None]


def _report(callback: Callable[..., None], error: AuditStoreError, events: List[Event]) -> None:
    try:
        callback(error, events)
    except Exception:  # noqa: BLE001 - a reporting callback's failure is not the sender's
        pass


def export_done(export_id: str, status: Dict[str, Any]) -> bool:
    """Whether a polled export is done; raises if it failed or expired."""
    if status.get("status") == "done":
        return True
    if status.get("status") in ("failed", "expired"):
        raise VerificationError(f"export {export_id} {status['status']}: {status.get('reason') or 'no reason given'}")
    return False


def export_polled(
    export_id: str, status: Dict[str, Any], on_progress: Optional[Progress], deadline: float, timeout: float
) -> bool:
    """One poll of `wait_export`: progress reported; True once done; raises
    if it failed, expired, or the wait passed its deadline."""
    if on_progress is not None:
        on_progress(int(status.get("events_written") or 0), int(status.get("events_total") or 0))
    if export_done(export_id, status):
        return True
    if time.monotonic() >= deadline:
        raise NetworkError(f"export {export_id} was not done within {timeout} s")
    return False


def check_download(export_id: str, status: Dict[str, Any], digest: Optional[str] = None) -> str:
    expected = status.get("sha256")
    if not expected:
        raise VerificationError(f"export {export_id} is not done ({status.get('status')})")
    if digest is not None and not hmac.compare_digest(digest, expected):
        raise VerificationError(f"the downloaded export has SHA-256 {digest}, the export reported {expected}")
    return str(expected)


class Client:
    """An AuditStore client; its settings are those of `Config`."""

    def __init__(self, base_url: str, api_key: str, **settings: Any) -> None:
        self.config = Config(base_url, api_key, **settings)
        self._transport = Transport(self.config)
        self._queue = Queue(self.config.queue_size, self.config.batch_size, self.config.batch_bytes)
        self._cond = threading.Condition()
        self._closed = False
        self._stopping = False
        self._urgent = 0  # events numbered up to this are sent without waiting
        self._oldest: Optional[float] = None  # when the oldest queued event was recorded
        self._worker: Optional[threading.Thread] = None
        self._verifier: Optional[VerifierKey] = None
        atexit.register(self._at_exit)
        # A forked child (a pre-forking server) has the queue but not the
        # thread: it starts its own sender and connection pool.
        # (Through a weak reference: fork hooks cannot be removed, and must
        # not keep every client ever made alive.)
        if hasattr(os, "register_at_fork"):
            this = weakref.ref(self)

            def reset() -> None:
                client = this()
                if client is not None:
                    client._after_fork()

            os.register_at_fork(after_in_child=reset)

    def _after_fork(self) -> None:
        self._cond = threading.Condition()
        self._worker = None
        self._transport = Transport(self.config)
        if self._queue.in_flight is not None:
            # The parent sends that batch; the child must not count it twice.
            self._queue.in_flight = None
        if self._queue.items:
            self._start()

    def __repr__(self) -> str:
        return f"Client({self.config!r})"

    __str__ = __repr__

    # Sending (§2).

    def record(self, event: Event, *, ledger: Optional[str] = None) -> None:
        """Queues an event and returns; the sender thread delivers it. When the
        queue is full: waits up to `Block.timeout` for room, or drops (`'drop'`)."""
        self._enqueue(event, ledger, drop=self.config.when_full == DROP)

    def record_nowait(self, event: Event, *, ledger: Optional[str] = None) -> None:
        """Queues an event if there is room, else drops it and reports it to
        `on_drop`, whatever `when_full` says: never waits (the middleware's way)."""
        self._enqueue(event, ledger, drop=True)

    def _enqueue(self, event: Event, ledger: Optional[str], *, drop: bool) -> None:
        target = self.config.ledger_of(ledger)
        prepared, text = prepare(event, self.config.batch_bytes)
        with self._cond:
            if self._closed:
                raise ClosedError()
            dropped = drop and self._queue.full()
            if dropped:
                self._queue.dropped()
            else:
                self._wait_for_room()
                if not self._queue.items:
                    self._oldest = time.monotonic()
                self._queue.push(target, text)
                self._start()
                self._cond.notify_all()
        if dropped:
            _report(self.config.on_drop, QueueFullError(), [prepared])

    def _wait_for_room(self) -> None:
        # Called holding the condition, with the `Block` policy: what is
        # queued is sent at once meanwhile.
        if not self._queue.full():
            return
        timeout = self.config.when_full.timeout if isinstance(self.config.when_full, Block) else 0.0
        deadline = time.monotonic() + timeout
        while self._queue.full():
            left = deadline - time.monotonic()
            if self._closed:
                raise ClosedError()
            if left <= 0:
                raise QueueFullError()
            self._urgent = max(self._urgent, self._queue.numbered)
            self._cond.notify_all()
            self._cond.wait(left)

    def _start(self) -> None:
        if self._worker is None:
            self._worker = threading.Thread(target=self._run, name="auditstore-sender", daemon=True)
            self._worker.start()

    def _next(self) -> Optional[Batch]:
        # Called holding the condition: the next batch once one is due.
        while True:
            q = self._queue
            if q.items:
                first = q.items[0]
                due = (
                    self._stopping
                    or first.number <= self._urgent
                    or q.per_ledger.get(first.ledger, 0) >= q.batch_size
                    or time.monotonic() - (self._oldest or 0) >= self.config.flush_interval
                )
                if due:
                    batch = q.take()
                    # What stays waited since before this batch was sent.
                    self._oldest = time.monotonic() - self.config.flush_interval if q.items else None
                    return batch
                self._cond.wait(self.config.flush_interval - (time.monotonic() - (self._oldest or 0)))
            elif self._stopping:
                return None
            else:
                self._cond.wait()

    def _run(self) -> None:
        while True:
            with self._cond:
                batch = self._next()
            if batch is None:
                return
            error: Optional[AuditStoreError] = None
            try:
                self._call(routes.append(batch.ledger, batch.texts))
            except AuditStoreError as e:
                error = e
            except Exception as e:  # noqa: BLE001 - the thread must outlive anything one request does
                error = NetworkError(f"the request failed: {type(e).__name__}")
            if error is not None:
                _report(self.config.on_error, error, batch.events)
            with self._cond:
                self._queue.done(error is None)
                self._cond.notify_all()

    def report(self) -> Report:
        with self._cond:
            return self._queue.snapshot()

    def flush(self, timeout: float = 10.0) -> Report:
        """Returns once every event recorded before the call is delivered
        (a 2xx: durably committed) or given up, or `timeout` seconds passed;
        with what became of them (`pending` says how many are left)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            upto = self._queue.numbered
            self._urgent = max(self._urgent, upto)
            self._cond.notify_all()
            while not self._queue.settled(upto):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            return self._queue.snapshot()

    def close(self, timeout: float = 10.0) -> Report:
        """Stops `record` (later calls raise `ClosedError`), flushes, and
        stops the sender thread."""
        with self._cond:
            self._closed = True
        report = self.flush(timeout)
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._worker is not None and report.pending == 0:
            self._worker.join(timeout=1.0)
        self._transport.close()
        atexit.unregister(self._at_exit)
        return report

    def _at_exit(self) -> None:
        if not self._closed:
            self.close(timeout=max(self.config.timeout, 10.0))

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def append(self, events: List[Event], *, ledger: Optional[str] = None) -> Dict[str, Any]:
        """Appends `events` now (ids assigned to those without, retried as §3
        says) and answers where each landed: `{tree_size, events: [{id, seq,
        leaf_hash, chain_hash}]}`."""
        texts = [prepare(e, self.config.batch_bytes)[1] for e in events]
        return self._call(routes.append(self.config.ledger_of(ledger), texts))

    # Reading (§5).

    def _call(self, call: routes.Call) -> Any:
        return call.pick(self._transport.request(call.method, call.path, call.body, params=call.params, as_=call.as_))

    def get_event(self, ledger: str, event_id: str, *, verify: bool = False) -> Dict[str, Any]:
        """One event; with `verify=True` proven included in the latest signed
        checkpoint (see `get_verified_event`)."""
        if verify:
            return self.get_verified_event(ledger, event_id)[0]
        return self._call(routes.get_event(ledger, event_id))

    def list_events(self, ledger: str, cursor: Optional[str] = None, **filters: Any) -> Dict[str, Any]:
        """One page, newest first: `{events, next_cursor}`."""
        return self._call(routes.list_events(ledger, filters, cursor))

    def events(self, ledger: str, **filters: Any) -> Iterator[Dict[str, Any]]:
        """Every event of a listing, following `next_cursor` until it is null."""
        cursor: Optional[str] = None
        while True:
            page = self.list_events(ledger, cursor, **filters)
            yield from page["events"]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    def checkpoint_note(self, ledger: str, tree_size: Optional[int] = None) -> str:
        return self._call(routes.checkpoint_note(ledger, tree_size))

    def pinned_key(self) -> VerifierKey:
        if self._verifier is None:
            if not self.config.verifier_key:
                raise ValueError("no verifier key is pinned (verifier_key=…)")
            self._verifier = parse_verifier_key(self.config.verifier_key)
        return self._verifier

    def checkpoint(self, ledger: str, tree_size: Optional[int] = None) -> Checkpoint:
        """The checkpoint, its signature verified against the pinned key."""
        checkpoint = verify_checkpoint(self.checkpoint_note(ledger, tree_size), self.pinned_key())
        check_origin(checkpoint, ledger)
        if tree_size is not None and checkpoint.tree_size != tree_size:
            raise VerificationError("the checkpoint is of another tree size than asked")
        return checkpoint

    def inclusion_proof(self, ledger: str, seq: int, tree_size: Optional[int] = None) -> List[str]:
        return self._call(routes.inclusion_proof(ledger, seq, tree_size))

    def consistency_proof(self, ledger: str, start: int, end: Optional[int] = None) -> List[str]:
        return self._call(routes.consistency_proof(ledger, start, end))

    def get_verified_event(self, ledger: str, event_id: str) -> Tuple[Dict[str, Any], Checkpoint]:
        """One event, proven included in the latest signed checkpoint: its leaf
        hash computed here, the proof against the root, the signature against
        the pinned key."""
        event = self.get_event(ledger, event_id)
        checkpoint = self.checkpoint(ledger)
        verify_event(event, self.inclusion_proof(ledger, event["seq"], checkpoint.tree_size), checkpoint)
        return event, checkpoint

    def integrity(self, ledger: str) -> Dict[str, Any]:
        return self._call(routes.integrity(ledger))

    def evidence(self, ledger: str, event_id: str) -> str:
        """The event's evidence file (FORMAT.md §12), for `verify_evidence`."""
        return self._call(routes.evidence(ledger, event_id))

    def start_export(self, ledger: str, format: str, **range_and_filters: Any) -> Dict[str, Any]:
        return self._call(routes.start_export(ledger, dict(range_and_filters, format=format)))

    def export_status(self, ledger: str, export_id: str) -> Dict[str, Any]:
        return self._call(routes.export_status(ledger, export_id))

    def wait_export(
        self,
        ledger: str,
        export_id: str,
        *,
        on_progress: Optional[Progress] = None,
        poll: Optional[float] = None,
        timeout: float = 600.0,
    ) -> Dict[str, Any]:
        """Polls until the export is done (answering its status), reporting
        `on_progress(events_written, events_total)`; raises if it failed."""
        deadline = time.monotonic() + timeout
        while True:
            status = self.export_status(ledger, export_id)
            if export_polled(export_id, status, on_progress, deadline, timeout):
                return status
            time.sleep(poll if poll is not None else self.config.retry_base)

    def download_export(self, ledger: str, export_id: str, path: str) -> str:
        """A done export's file written to `path`, checked against the SHA-256
        the export reported (a mismatch leaves no file); answers the digest."""
        status = self.export_status(ledger, export_id)
        check_download(export_id, status)
        part = f"{path}.part"
        digest = self._transport.download(routes.download_path(ledger, export_id), part)
        try:
            check_download(export_id, status, digest)
        except VerificationError:
            os.unlink(part)
            raise
        os.replace(part, path)
        return digest
