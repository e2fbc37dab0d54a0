"""Django middleware (docs/SDK.md §8): one event per handled request.

    # settings.py
    MIDDLEWARE = [..., "auditstore.django.AuditStoreMiddleware"]
    AUDITSTORE_CLIENT = "myapp.audit.client"      # a dotted path to an auditstore.Client
    AUDITSTORE_ACTOR = "myapp.audit.actor"        # optional: request -> {type, id} or None
    AUDITSTORE_EXCLUDE = ["/healthz", "/static/"] # optional: path prefixes not recorded

Without `AUDITSTORE_ACTOR`, an authenticated `request.user` is the actor
(`{"type": "user", "id": str(user.pk)}`). A view names what it did with
`request.audit.set(action, resource_type, resource_id)`."""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string

from .middleware import AuditHandle, Recorder, _current, excluded, extract, record_quietly, request_event


def _setting(name: str) -> Any:
    value = getattr(settings, name, None)
    return import_string(value) if isinstance(value, str) else value


def user_actor(request: HttpRequest) -> Optional[Dict[str, Any]]:
    """The authenticated user, when Django's authentication middleware ran."""
    user = getattr(request, "user", None)
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    return {"type": "user", "id": str(user.pk)}


def _route(request: HttpRequest) -> Optional[str]:
    # The URL pattern (`invoices/<str:id>`), not the concrete path; None
    # when no pattern matched.
    match = getattr(request, "resolver_match", None)
    route = getattr(match, "route", None)
    return f"/{route}" if route else None


class AuditStoreMiddleware:
    sync_capable = True
    async_capable = False

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        client: Optional[Recorder] = _setting("AUDITSTORE_CLIENT")
        if client is None:
            raise ValueError("AUDITSTORE_CLIENT names no client (a dotted path to an auditstore.Client)")
        self.client = client
        self.actor: Callable[[HttpRequest], Optional[Dict[str, Any]]] = _setting("AUDITSTORE_ACTOR") or user_actor
        self.exclude = tuple(getattr(settings, "AUDITSTORE_EXCLUDE", ()) or ())
        self.client_ip: Callable[[HttpRequest], Optional[str]] = _setting("AUDITSTORE_CLIENT_IP") or (
            lambda request: request.META.get("REMOTE_ADDR")
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if excluded(request.path, self.exclude):
            return self.get_response(request)
        handle = AuditHandle()
        request.audit = handle
        token = _current.set(handle)
        status = 500
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            _current.reset(token)
            if not handle.skip:
                self._record(request, handle, status)

    def _record(self, request: HttpRequest, handle: AuditHandle, status: int) -> None:
        record_quietly(
            self.client,
            request_event(
                actor=extract(self.actor, request),
                handle=handle,
                method=request.method or "GET",
                route=_route(request),
                path=request.path,
                status=status,
                client_ip=extract(self.client_ip, request),
                user_agent=request.META.get("HTTP_USER_AGENT"),
                request_id=request.META.get("HTTP_X_REQUEST_ID"),
            ),
        )


__all__ = ["AuditStoreMiddleware", "AuditHandle", "user_actor"]
