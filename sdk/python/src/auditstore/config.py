"""The settings of docs/SDK.md §1, and what every client does to an event
before it is queued or sent (§2): a UUIDv7 id and an `occurred_at`."""

from __future__ import annotations

import json
import logging
import os
import random
import re
import ssl
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from typing import Any, Callable, Dict, List, Optional, Union

from .errors import AuditStoreError

log = logging.getLogger("auditstore")

#: The most events one request may carry (the server's limit).
MAX_BATCH = 1000
#: The most bytes of JSON one request may carry (the server's limit).
MAX_BATCH_BYTES = 4 * 1024 * 1024
#: `{"events":[` and `]}`.
ENVELOPE_BYTES = 13

Event = Dict[str, Any]
Reporter = Callable[[AuditStoreError, List[Event]], None]


@dataclass(frozen=True)
class Block:
    """When the queue is full, `record` waits up to `timeout` seconds for
    room, then raises `QueueFullError`."""

    timeout: float = 1.0


#: When the queue is full, the event is dropped at once and given to `on_drop`.
DROP = "drop"


def _warn_dropped(error: AuditStoreError, events: List[Event]) -> None:
    log.warning("AuditStore: %d event(s) dropped: %s", len(events), error)


def _warn_given_up(error: AuditStoreError, events: List[Event]) -> None:
    log.warning("AuditStore: %d event(s) given up: %s", len(events), error)


def shown_key(secret: str) -> str:
    """The key as it may be shown: `auds_<key id>_…`, never the secret part."""
    m = re.match(r"^auds_([^_]+)_", secret)
    return f"auds_{m.group(1)}_…" if m else "…"


@dataclass(repr=False)
class Config:
    """A client's settings (docs/SDK.md §1). Its `repr` never shows the key."""

    base_url: str
    api_key: str
    ledger: Optional[str] = None
    #: A PEM certificate to trust besides the platform's roots: its text, or a file path.
    ca_certificate: Optional[str] = None
    timeout: float = 10.0
    queue_size: int = 10_000
    when_full: Union[Block, str] = field(default_factory=Block)
    batch_size: int = MAX_BATCH
    batch_bytes: int = MAX_BATCH_BYTES
    flush_interval: float = 1.0
    max_retries: int = 8
    retry_base: float = 0.5
    retry_max: float = 30.0
    #: The pinned checkpoint verifier key (`GET /v1/checkpoint-key`, out of band).
    verifier_key: Optional[str] = None
    on_drop: Reporter = _warn_dropped
    on_error: Reporter = _warn_given_up

    def __post_init__(self) -> None:
        if not re.match(r"^https?://", self.base_url or ""):
            raise ValueError("base_url must be an http(s) URL")
        if not self.api_key:
            raise ValueError("api_key is required")
        self.base_url = self.base_url.rstrip("/")
        if not 1 <= self.batch_size <= MAX_BATCH:
            raise ValueError("batch_size is 1 to 1000")
        if not 1024 <= self.batch_bytes <= MAX_BATCH_BYTES:
            raise ValueError("batch_bytes is 1 KiB to 4 MiB")
        if self.queue_size < 1:
            raise ValueError("queue_size is at least 1")
        if not (isinstance(self.when_full, Block) or self.when_full == DROP):
            raise ValueError("when_full is Block(timeout) or 'drop'")

    def __repr__(self) -> str:
        return f"Config(base_url={self.base_url!r}, api_key={shown_key(self.api_key)!r}, ledger={self.ledger!r})"

    __str__ = __repr__

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        ca = self.ca_certificate
        if ca:
            if "-----BEGIN" in ca:
                context.load_verify_locations(cadata=ca)
            elif os.path.exists(ca):
                context.load_verify_locations(cafile=ca)
            else:
                raise ValueError("ca_certificate is neither PEM text nor an existing file")
        return context

    def headers(self, has_body: bool) -> Dict[str, str]:
        headers = {"authorization": f"Bearer {self.api_key}", "accept": "application/json"}
        if has_body:
            headers["content-type"] = "application/json"
        return headers

    def backoff(self, attempt: int, retry_after: Optional[float]) -> float:
        """The wait before retry `attempt` (1 for the first): full jitter under
        the exponential bound, never shorter than `Retry-After` (§3)."""
        bound = min(self.retry_max, self.retry_base * 2 ** (attempt - 1))
        return max(random.uniform(0, bound), retry_after or 0.0)

    def ledger_of(self, ledger: Optional[str]) -> str:
        target = ledger or self.ledger
        if not target:
            raise ValueError("no ledger given (ledger=…)")
        return target


def uuidv7() -> str:
    """A UUIDv7 (RFC 9562 §5.7): 48 bits of Unix milliseconds, then random bits."""
    raw = bytearray(os.urandom(16))
    raw[0:6] = (time.time_ns() // 1_000_000).to_bytes(6, "big")
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def now_rfc3339() -> str:
    """The current time as RFC 3339 with milliseconds, UTC."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[float]:
    """`Retry-After` as seconds: delay-seconds or an HTTP date (RFC 9110 §10.2.3)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    try:
        at = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if at is None:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    return max(0.0, at.timestamp() - (time.time() if now is None else now))


def prepare(event: Event, batch_bytes: int) -> tuple[Event, bytes]:
    """The event as it is queued: its own copy, with an id and a time, and
    its JSON, made once here: every attempt sends these bytes (a change the
    caller makes to the event later is not sent under its id), and their
    length keeps batches under `batch_bytes`."""
    if not isinstance(event, dict):
        raise TypeError("an event is a dict")
    out = dict(event)
    out.setdefault("id", uuidv7())
    out.setdefault("occurred_at", now_rfc3339())
    text = json.dumps(out, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(text) + ENVELOPE_BYTES > batch_bytes:
        raise ValueError(f"the event is {len(text)} bytes, more than a batch may carry")
    return out, text
