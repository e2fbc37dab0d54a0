"""The bounded queue both senders drain (docs/SDK.md §2): events in the
order they were recorded, taken a ledger's batch at a time. It holds no
lock itself: `Client` guards it with a condition, `AsyncClient` uses it
from its event loop only."""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Deque, Dict, List, Optional

from .config import ENVELOPE_BYTES, Event


@dataclass
class Report:
    """What became of the events recorded so far."""

    delivered: int = 0
    failed: int = 0
    dropped: int = 0
    pending: int = 0


@dataclass
class Item:
    number: int
    ledger: str
    #: The event's JSON as `prepare` made it.
    json: bytes


@dataclass
class Batch:
    ledger: str
    items: List[Item]

    @property
    def texts(self) -> List[bytes]:
        return [item.json for item in self.items]

    @property
    def events(self) -> List[Event]:
        """The events as they were sent, for a report to the application."""
        return [json.loads(item.json) for item in self.items]


class Queue:
    def __init__(self, size: int, batch_size: int, batch_bytes: int) -> None:
        self.size = size
        self.batch_size = batch_size
        self.batch_bytes = batch_bytes
        self.items: Deque[Item] = deque()
        # Events queued per ledger, so a full batch is seen in O(1).
        self.per_ledger: Dict[str, int] = {}
        self.numbered = 0
        self.in_flight: Optional[Batch] = None
        self.report = Report()

    def full(self) -> bool:
        return len(self.items) >= self.size

    def push(self, ledger: str, text: bytes) -> bool:
        """Queues an event's JSON; answers whether its ledger now has a full batch."""
        self.numbered += 1
        self.items.append(Item(self.numbered, ledger, text))
        count = self.per_ledger.get(ledger, 0) + 1
        self.per_ledger[ledger] = count
        self.report.pending += 1
        return count >= self.batch_size

    def take(self) -> Optional[Batch]:
        """The oldest event's ledger's next batch, in order, within the limits.
        Other ledgers' events it passes keep their place."""
        if not self.items:
            return None
        ledger = self.items[0].ledger
        batch: List[Item] = []
        passed: List[Item] = []
        size = ENVELOPE_BYTES
        while self.items and len(batch) < self.batch_size:
            item = self.items[0]
            if item.ledger != ledger:
                passed.append(self.items.popleft())
                continue
            # A comma before every event but the first.
            grown = size + len(item.json) + (1 if batch else 0)
            if grown > self.batch_bytes:
                break
            batch.append(self.items.popleft())
            size = grown
        self.items.extendleft(reversed(passed))
        left = self.per_ledger[ledger] - len(batch)
        if left:
            self.per_ledger[ledger] = left
        else:
            del self.per_ledger[ledger]
        self.in_flight = Batch(ledger, batch)
        return self.in_flight

    def done(self, delivered: bool) -> None:
        batch, self.in_flight = self.in_flight, None
        if batch is None:
            return
        n = len(batch.items)
        self.report.pending -= n
        if delivered:
            self.report.delivered += n
        else:
            self.report.failed += n

    def dropped(self) -> None:
        self.report.dropped += 1

    def lowest_pending(self) -> Optional[int]:
        """The number of the oldest event not yet delivered or given up. The
        queue stays in recorded order (`take` puts what it passed back in
        front), so it is the first queued one or the first in flight."""
        lows = [b.items[0].number for b in (self.in_flight,) if b is not None and b.items]
        if self.items:
            lows.append(self.items[0].number)
        return min(lows) if lows else None

    def settled(self, upto: int) -> bool:
        """Whether every event numbered `upto` or lower is delivered or given up."""
        low = self.lowest_pending()
        return low is None or low > upto

    def snapshot(self) -> Report:
        return Report(**vars(self.report))
