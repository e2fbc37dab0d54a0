"""The asyncio client: `Client`'s behaviour (docs/SDK.md §1–§6) with a
sender task in place of a thread. `record` never blocks the event loop: with
the `Block` policy a full queue raises `QueueFullError` at once, and
`await record_wait(...)` waits for room instead. What is still queued when
the interpreter exits is sent then, blocking (the loop is gone by then)."""

from __future__ import annotations

import asyncio
import atexit
import os
import time
from collections.abc import AsyncIterator
from typing import Any, Dict, List, Optional, Tuple

from . import routes
from .batches import Queue, Report
from .client import Progress, _report, check_download, export_polled
from .config import DROP, Block, Config, Event, prepare
from .errors import AuditStoreError, ClosedError, NetworkError, QueueFullError, VerificationError
from .transport import Transport
from .verify import Checkpoint, VerifierKey, check_origin, parse_verifier_key, verify_checkpoint, verify_event


class AsyncClient:
    """An AuditStore client for asyncio code; settings as `Config`. Use it
    from one event loop."""

    def __init__(self, base_url: str, api_key: str, **settings: Any) -> None:
        self.config = Config(base_url, api_key, **settings)
        self._transport = Transport(self.config)
        self._queue = Queue(self.config.queue_size, self.config.batch_size, self.config.batch_bytes)
        self._cond: Optional[asyncio.Condition] = None
        self._task: Optional[asyncio.Task[None]] = None
        self._closed = False
        self._stopping = False
        self._urgent = 0
        self._oldest: Optional[float] = None
        self._verifier: Optional[VerifierKey] = None
        atexit.register(self._at_exit)

    def __repr__(self) -> str:
        return f"AsyncClient({self.config!r})"

    __str__ = __repr__

    def _condition(self) -> asyncio.Condition:
        # Made in the running loop (an asyncio primitive belongs to one).
        if self._cond is None:
            self._cond = asyncio.Condition()
        return self._cond

    def _wake(self) -> None:
        cond = self._condition()

        async def notify() -> None:
            async with cond:
                cond.notify_all()

        asyncio.get_running_loop().create_task(notify())

    # Sending (§2).

    def record(self, event: Event, *, ledger: Optional[str] = None) -> None:
        """Queues an event and returns at once; the sender task delivers it."""
        if self._closed:
            raise ClosedError()
        target = self.config.ledger_of(ledger)
        prepared, text = prepare(event, self.config.batch_bytes)
        if self._queue.full():
            if self.config.when_full == DROP:
                self._queue.dropped()
                _report(self.config.on_drop, QueueFullError(), [prepared])
                return
            raise QueueFullError()
        self._push(target, text)

    def record_nowait(self, event: Event, *, ledger: Optional[str] = None) -> None:
        """Queues an event if there is room, else drops it and reports it to
        `on_drop`, whatever `when_full` says: never waits (the middleware's way)."""
        if self._closed:
            raise ClosedError()
        if self._queue.full():
            self._queue.dropped()
            _report(self.config.on_drop, QueueFullError(), [prepare(event, self.config.batch_bytes)[0]])
            return
        self.record(event, ledger=ledger)

    async def record_wait(self, event: Event, *, ledger: Optional[str] = None) -> None:
        """Queues an event, waiting for room as `Block(timeout)` allows."""
        if self._closed:
            raise ClosedError()
        target = self.config.ledger_of(ledger)
        text = prepare(event, self.config.batch_bytes)[1]
        timeout = self.config.when_full.timeout if isinstance(self.config.when_full, Block) else 0.0
        cond = self._condition()
        deadline = time.monotonic() + timeout
        async with cond:
            while self._queue.full():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise QueueFullError()
                self._urgent = max(self._urgent, self._queue.numbered)
                cond.notify_all()
                try:
                    await asyncio.wait_for(cond.wait(), left)
                except asyncio.TimeoutError:
                    pass
        if self._closed:
            raise ClosedError()
        self._push(target, text)

    def _push(self, ledger: str, text: bytes) -> None:
        if not self._queue.items:
            self._oldest = time.monotonic()
        full = self._queue.push(ledger, text)
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())
        elif full or len(self._queue.items) == 1:
            self._wake()

    def _due(self) -> Optional[float]:
        """0 when a batch is due now, else how long until one is (None: idle)."""
        q = self._queue
        if not q.items:
            return 0.0 if self._stopping else None
        first = q.items[0]
        if self._stopping or first.number <= self._urgent or q.per_ledger.get(first.ledger, 0) >= q.batch_size:
            return 0.0
        return max(0.0, self.config.flush_interval - (time.monotonic() - (self._oldest or 0)))

    async def _run(self) -> None:
        cond = self._condition()
        while True:
            async with cond:
                while True:
                    wait = self._due()
                    if wait == 0.0:
                        break
                    try:
                        await asyncio.wait_for(cond.wait(), wait)
                    except asyncio.TimeoutError:
                        pass
                batch = self._queue.take()
                if batch is None:
                    return
                self._oldest = time.monotonic() - self.config.flush_interval if self._queue.items else None
            error: Optional[AuditStoreError] = None
            try:
                await self._call(routes.append(batch.ledger, batch.texts))
            except AuditStoreError as e:
                error = e
            except Exception as e:  # noqa: BLE001 - the task must outlive anything one request does
                error = NetworkError(f"the request failed: {type(e).__name__}")
            if error is not None:
                _report(self.config.on_error, error, batch.events)
            async with cond:
                self._queue.done(error is None)
                cond.notify_all()

    def report(self) -> Report:
        return self._queue.snapshot()

    async def flush(self, timeout: float = 10.0) -> Report:
        """Returns once every event recorded before the call is delivered or
        given up, or `timeout` seconds passed."""
        cond = self._condition()
        upto = self._queue.numbered
        deadline = time.monotonic() + timeout
        async with cond:
            self._urgent = max(self._urgent, upto)
            cond.notify_all()
            while not self._queue.settled(upto):
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    await asyncio.wait_for(cond.wait(), left)
                except asyncio.TimeoutError:
                    pass
        return self._queue.snapshot()

    async def close(self, timeout: float = 10.0) -> Report:
        """Stops `record`, flushes, and stops the sender task."""
        self._closed = True
        report = await self.flush(timeout)
        cond = self._condition()
        async with cond:
            self._stopping = True
            cond.notify_all()
        if self._task is not None:
            if report.pending == 0:
                await self._task
            else:
                self._task.cancel()
        await self._transport.aclose()
        # What the timeout left queued or in flight is still sent at exit.
        if report.pending == 0:
            atexit.unregister(self._at_exit)
        return report

    def _at_exit(self) -> None:
        # The loop has ended: send what is left blocking, in order, starting
        # with a batch whose request the loop's end cut short (ids make the
        # second sending idempotent).
        while self._queue.in_flight is not None or self._queue.items:
            batch = self._queue.in_flight or self._queue.take()
            if batch is None:
                break
            call = routes.append(batch.ledger, batch.texts)
            try:
                self._transport.request(call.method, call.path, call.body)
                self._queue.done(True)
            except AuditStoreError as e:
                self._queue.done(False)
                _report(self.config.on_error, e, batch.events)
        self._transport.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def append(self, events: List[Event], *, ledger: Optional[str] = None) -> Dict[str, Any]:
        """Appends `events` now and answers where each landed (see `Client.append`)."""
        texts = [prepare(e, self.config.batch_bytes)[1] for e in events]
        return await self._call(routes.append(self.config.ledger_of(ledger), texts))

    # Reading (§5): as `Client`'s, awaited.

    async def _call(self, call: routes.Call) -> Any:
        answer = await self._transport.arequest(call.method, call.path, call.body, params=call.params, as_=call.as_)
        return call.pick(answer)

    async def get_event(self, ledger: str, event_id: str, *, verify: bool = False) -> Dict[str, Any]:
        if verify:
            return (await self.get_verified_event(ledger, event_id))[0]
        return await self._call(routes.get_event(ledger, event_id))

    async def list_events(self, ledger: str, cursor: Optional[str] = None, **filters: Any) -> Dict[str, Any]:
        return await self._call(routes.list_events(ledger, filters, cursor))

    async def events(self, ledger: str, **filters: Any) -> AsyncIterator[Dict[str, Any]]:
        cursor: Optional[str] = None
        while True:
            page = await self.list_events(ledger, cursor, **filters)
            for event in page["events"]:
                yield event
            cursor = page.get("next_cursor")
            if not cursor:
                return

    async def checkpoint_note(self, ledger: str, tree_size: Optional[int] = None) -> str:
        return await self._call(routes.checkpoint_note(ledger, tree_size))

    def pinned_key(self) -> VerifierKey:
        if self._verifier is None:
            if not self.config.verifier_key:
                raise ValueError("no verifier key is pinned (verifier_key=…)")
            self._verifier = parse_verifier_key(self.config.verifier_key)
        return self._verifier

    async def checkpoint(self, ledger: str, tree_size: Optional[int] = None) -> Checkpoint:
        checkpoint = verify_checkpoint(await self.checkpoint_note(ledger, tree_size), self.pinned_key())
        check_origin(checkpoint, ledger)
        if tree_size is not None and checkpoint.tree_size != tree_size:
            raise VerificationError("the checkpoint is of another tree size than asked")
        return checkpoint

    async def inclusion_proof(self, ledger: str, seq: int, tree_size: Optional[int] = None) -> List[str]:
        return await self._call(routes.inclusion_proof(ledger, seq, tree_size))

    async def consistency_proof(self, ledger: str, start: int, end: Optional[int] = None) -> List[str]:
        return await self._call(routes.consistency_proof(ledger, start, end))

    async def get_verified_event(self, ledger: str, event_id: str) -> Tuple[Dict[str, Any], Checkpoint]:
        event = await self.get_event(ledger, event_id)
        checkpoint = await self.checkpoint(ledger)
        verify_event(event, await self.inclusion_proof(ledger, event["seq"], checkpoint.tree_size), checkpoint)
        return event, checkpoint

    async def integrity(self, ledger: str) -> Dict[str, Any]:
        return await self._call(routes.integrity(ledger))

    async def evidence(self, ledger: str, event_id: str) -> str:
        return await self._call(routes.evidence(ledger, event_id))

    async def start_export(self, ledger: str, format: str, **range_and_filters: Any) -> Dict[str, Any]:
        return await self._call(routes.start_export(ledger, dict(range_and_filters, format=format)))

    async def export_status(self, ledger: str, export_id: str) -> Dict[str, Any]:
        return await self._call(routes.export_status(ledger, export_id))

    async def wait_export(
        self,
        ledger: str,
        export_id: str,
        *,
        on_progress: Optional[Progress] = None,
        poll: Optional[float] = None,
        timeout: float = 600.0,
    ) -> Dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = await self.export_status(ledger, export_id)
            if export_polled(export_id, status, on_progress, deadline, timeout):
                return status
            await asyncio.sleep(poll if poll is not None else self.config.retry_base)

    async def download_export(self, ledger: str, export_id: str, path: str) -> str:
        status = await self.export_status(ledger, export_id)
        check_download(export_id, status)
        part = f"{path}.part"
        digest = await self._transport.adownload(routes.download_path(ledger, export_id), part)
        try:
            check_download(export_id, status, digest)
        except VerificationError:
            os.unlink(part)
            raise
        os.replace(part, path)
        return digest
