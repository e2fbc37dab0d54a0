"""ASGI middleware (docs/SDK.md §8) for Starlette, FastAPI or any ASGI app:
one event per handled HTTP request. Pure ASGI, not Starlette's
`BaseHTTPMiddleware`, so the application's contextvars and background tasks
behave as without it.

    app.add_middleware(AuditStoreMiddleware, client=audit, actor=lambda scope: ..., exclude=["/healthz"])

A handler names what it did with `auditstore.asgi.audit().set(action,
resource_type, resource_id)` (or `request.state.audit` in Starlette)."""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, MutableMapping
from typing import Any, Callable, Dict, Optional

from .middleware import AuditHandle, Recorder, _current, current, excluded, extract, record_quietly, request_event

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

#: The handle of the request being handled.
audit = current


def _header(scope: Scope, name: bytes) -> Optional[str]:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _peer(scope: Scope) -> Optional[str]:
    client = scope.get("client")
    return str(client[0]) if client else None


def _route(scope: Scope) -> Optional[str]:
    # The matched route's pattern (`/invoices/{id}`) names the route, not the
    # concrete path. Starlette 0.50+ and FastAPI leave the route in the scope;
    # older Starlette versions are asked which of their routes matches.
    path = getattr(scope.get("route"), "path", None)
    if isinstance(path, str):
        return path
    app = scope.get("app")
    for route in getattr(getattr(app, "router", app), "routes", None) or ():
        try:
            match, _ = route.matches(scope)
        except Exception:  # noqa: BLE001 - not a route this middleware understands
            continue
        if getattr(match, "name", "") == "FULL" and isinstance(getattr(route, "path", None), str):
            return str(route.path)
    return None


class AuditStoreMiddleware:
    """Records one event per HTTP request through `client.record_nowait`.

    `actor(scope)` answers `{type, id}` of who made the request, or None for
    anonymous; `exclude` lists path prefixes not recorded; `client_ip(scope)`
    replaces the peer address (behind a proxy you trust)."""

    def __init__(
        self,
        app: ASGIApp,
        client: Recorder,
        *,
        actor: Optional[Callable[[Scope], Optional[Dict[str, Any]]]] = None,
        exclude: Iterable[str] = (),
        client_ip: Optional[Callable[[Scope], Optional[str]]] = None,
    ) -> None:
        self.app = app
        self.client = client
        self.actor = actor
        self.exclude = tuple(exclude)
        self.client_ip = client_ip or _peer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http" or excluded(str(scope.get("path", "")), self.exclude):
            await self.app(scope, receive, send)
            return
        handle = AuditHandle()
        scope.setdefault("state", {})["audit"] = handle
        token = _current.set(handle)
        status = 500

        async def send_seen(message: Message) -> None:
            nonlocal status
            if message.get("type") == "http.response.start":
                status = int(message.get("status", 500))
            await send(message)

        try:
            await self.app(scope, receive, send_seen)
        finally:
            _current.reset(token)
            self._record(scope, handle, status)

    def _record(self, scope: Scope, handle: AuditHandle, status: int) -> None:
        if handle.skip:
            return
        record_quietly(
            self.client,
            request_event(
                actor=extract(self.actor, scope),
                handle=handle,
                method=str(scope.get("method", "GET")),
                route=_route(scope),
                path=str(scope.get("path", "")),
                status=status,
                client_ip=extract(self.client_ip, scope),
                user_agent=_header(scope, b"user-agent"),
                request_id=_header(scope, b"x-request-id"),
            ),
        )


__all__ = ["AuditStoreMiddleware", "AuditHandle", "audit"]
