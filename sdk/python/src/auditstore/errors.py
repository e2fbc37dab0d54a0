"""One error family (docs/SDK.md §4). The API key appears in none of them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Optional


class AuditStoreError(Exception):
    """Base class of every error this package raises."""


class ProblemError(AuditStoreError):
    """The server answered an RFC 9457 problem document."""

    def __init__(self, problem: Mapping[str, Any], retry_after: Optional[float] = None) -> None:
        self.status: int = int(problem.get("status") or 0)
        self.title: str = str(problem.get("title") or "")
        self.detail: str = str(problem.get("detail") or "")
        field = problem.get("field")
        self.field: Optional[str] = None if field is None else str(field)
        self.type: str = str(problem.get("type") or "about:blank")
        #: Seconds the server asked the client to wait (`Retry-After`), if it did.
        self.retry_after: Optional[float] = retry_after
        super().__init__(f"AuditStore answered {self.status}: {self.detail or self.title}")


class NetworkError(AuditStoreError):
    """No answer: connection, TLS or timeout."""


class VerificationError(AuditStoreError):
    """Something did not verify; the message names what."""


class ForkError(AuditStoreError):
    """Two different trees of one size: the server showed two histories."""

    def __init__(
        self, ledger: str, size: int, stored: str, seen: str, stored_note: str = "", seen_note: str = ""
    ) -> None:
        self.ledger, self.size, self.stored, self.seen = ledger, size, stored, seen
        #: The two signed notes, the evidence of the two histories.
        self.stored_note, self.seen_note = stored_note, seen_note
        super().__init__(
            f"FORK: ledger {ledger} has two different trees of size {size} (stored root {stored}, new root {seen})"
        )


class RollbackError(AuditStoreError):
    """A smaller tree than one already verified: the server rolled back."""

    def __init__(self, ledger: str, stored: int, seen: int) -> None:
        self.ledger, self.stored, self.seen = ledger, stored, seen
        super().__init__(f"ROLLBACK: ledger {ledger} was verified at size {stored}, now shown at size {seen}")


class QueueFullError(AuditStoreError):
    """The event queue is full."""

    def __init__(self) -> None:
        super().__init__("the event queue is full")


class ClosedError(AuditStoreError):
    """The client was closed."""

    def __init__(self) -> None:
        super().__init__("the client is closed")


def is_retryable(error: BaseException) -> bool:
    """Whether sending the same request again can help (docs/SDK.md §3)."""
    if isinstance(error, NetworkError):
        return True
    if isinstance(error, ProblemError):
        return error.status in (408, 429) or error.status >= 500
    return False
