"""What the ASGI and Django middleware share (docs/SDK.md §8): the event of
one handled request, recorded through `record`, never failing or delaying
the request."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any, Dict, Optional, Protocol

log = logging.getLogger("auditstore")

ANONYMOUS = {"type": "anonymous", "id": "anonymous"}


class Recorder(Protocol):
    def record(self, event: Dict[str, Any], *, ledger: Optional[str] = None) -> None: ...


class AuditHandle:
    """Per request: the handler names what it did with `set`."""

    def __init__(self) -> None:
        self.action: Optional[str] = None
        self.resource: Optional[Dict[str, str]] = None
        self.skip = False

    def set(self, action: str, resource_type: str, resource_id: Any) -> None:
        self.action = action
        self.resource = {"type": resource_type, "id": str(resource_id)}


_current: ContextVar[Optional[AuditHandle]] = ContextVar("auditstore_handle", default=None)


def current() -> AuditHandle:
    """The handle of the request being handled (ASGI: works in any code the
    request's task runs). Outside a request, a handle nobody records."""
    handle = _current.get()
    return handle if handle is not None else AuditHandle()


#: What a request no route matched is recorded as: its concrete path could be
#: longer than a resource id may be (and would make one event per typo).
UNMATCHED = "unmatched"


def _clamp(text: Optional[str], limit: int) -> Optional[str]:
    return None if text is None else text[:limit]


def request_event(
    *,
    actor: Optional[Dict[str, Any]],
    handle: AuditHandle,
    method: str,
    route: Optional[str],
    path: str,
    status: int,
    client_ip: Optional[str],
    user_agent: Optional[str],
    request_id: Optional[str],
) -> Dict[str, Any]:
    """The event of one request. `route` is the matched route's pattern, or
    None when no route matched (then the path goes to metadata only)."""
    metadata: Dict[str, Any] = {"method": method, "route": route or UNMATCHED, "status": status}
    if route is None:
        metadata["path"] = _clamp(path, 1024)
    for name, value in (("client_ip", client_ip), ("user_agent", user_agent), ("request_id", request_id)):
        if value:
            metadata[name] = _clamp(value, 512)
    return {
        "actor": actor or ANONYMOUS,
        "action": handle.action or f"http.{method.lower()}",
        "resource": handle.resource or {"type": "route", "id": _clamp(route, 256) or UNMATCHED},
        "metadata": metadata,
    }


def extract(extractor: Any, request: Any) -> Any:
    """An application's extractor's answer, or None if it raised: its
    failure is the application's, never the request's."""
    if extractor is None:
        return None
    try:
        return extractor(request)
    except Exception as e:  # noqa: BLE001
        log.warning("AuditStore: an extractor failed: %s", type(e).__name__)
        return None


def record_quietly(client: Recorder, event: Dict[str, Any]) -> None:
    # `record_nowait` never waits for room: what overflows goes to on_drop.
    try:
        getattr(client, "record_nowait", client.record)(event)
    except Exception as e:  # noqa: BLE001 - a request never fails because of AuditStore
        log.warning("AuditStore: a request's event was not queued: %s", e)


def excluded(path: str, prefixes: Iterable[str]) -> bool:
    return any(path.startswith(p) for p in prefixes)
