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


def request_event(
    *,
    actor: Optional[Dict[str, Any]],
    handle: AuditHandle,
    method: str,
    route: str,
    status: int,
    client_ip: Optional[str],
    user_agent: Optional[str],
    request_id: Optional[str],
) -> Dict[str, Any]:
    metadata: Dict[str, Any] = {"method": method, "route": route, "status": status}
    if client_ip:
        metadata["client_ip"] = client_ip
    if user_agent:
        metadata["user_agent"] = user_agent
    if request_id:
        metadata["request_id"] = request_id
    return {
        "actor": actor or ANONYMOUS,
        "action": handle.action or f"http.{method.lower()}",
        "resource": handle.resource or {"type": "route", "id": route},
        "metadata": metadata,
    }


def record_quietly(client: Recorder, event: Dict[str, Any]) -> None:
    # `record_nowait` never waits for room: what overflows goes to on_drop.
    try:
        getattr(client, "record_nowait", client.record)(event)
    except Exception as e:  # noqa: BLE001 - a request never fails because of AuditStore
        log.warning("AuditStore: a request's event was not queued: %s", e)


def excluded(path: str, prefixes: Iterable[str]) -> bool:
    return any(path.startswith(p) for p in prefixes)
