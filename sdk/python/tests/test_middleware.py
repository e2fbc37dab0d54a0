"""The ASGI (Starlette) and Django middleware against a live AuditStore: one
event per request with the handler's action, the request context in
metadata, excluded routes left out, and requests served while AuditStore is
unreachable."""

import asyncio
import time

import httpx
import pytest
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from auditstore import AsyncClient, Client
from auditstore.asgi import AuditStoreMiddleware, audit


def actor(headers):
    user = headers.get("x-user")
    return {"type": "user", "id": user} if user else None


def recorded(live):
    with Client(live.base, live.reader, ca_certificate=live.ca) as reader:
        return reader.list_events(live.ledger)["events"]


def assert_events(events, route):
    assert len(events) == 2, "the excluded route is not recorded"
    update = next(e for e in events if e["action"] == "invoice.updated")
    assert (update["actor"]["id"], update["resource"]["id"]) == ("jane", "inv_7")
    assert (update["metadata"]["request_id"], update["metadata"]["status"]) == ("req-1", 200)
    assert update["metadata"]["route"] == route
    read = next(e for e in events if e["action"] == "http.get")
    assert read["actor"] == {"type": "anonymous", "id": "anonymous"}
    assert read["resource"] == {"type": "route", "id": "/reports"}
    assert read["metadata"]["user_agent"] == "tests/1"
    assert read["metadata"]["client_ip"]


def starlette_app(client, **options):
    async def update(request):
        # The handle, through the context (works in any code the request runs).
        audit().set("invoice.updated", "invoice", request.path_params["id"])
        assert request.state.audit is audit()
        return PlainTextResponse("updated")

    async def reports(request):
        return PlainTextResponse("report")

    app = Starlette(
        routes=[
            Route("/invoices/{id}", update, methods=["POST"]),
            Route("/reports", reports),
            Route("/healthz", reports),
        ]
    )
    app.add_middleware(AuditStoreMiddleware, client=client, **options)
    return app


def test_asgi_one_event_per_request_with_the_handlers_action_and_the_request_context(live):
    async def main():
        client = AsyncClient(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca)
        app = starlette_app(
            client,
            actor=lambda scope: actor(dict((k.decode(), v.decode()) for k, v in scope["headers"])),
            exclude=["/healthz"],
        )
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
            update = await http.post("/invoices/inv_7", headers={"x-user": "jane", "x-request-id": "req-1"})
            assert update.text == "updated"
            await http.get("/reports", headers={"user-agent": "tests/1"})
            await http.get("/healthz")
        assert (await client.flush(30)).delivered == 2
        await client.close()

    asyncio.run(main())
    assert_events(recorded(live), "/invoices/{id}")


def test_asgi_unmatched_long_paths_and_failing_extractors_still_record(live):
    def broken(scope):
        raise RuntimeError("the application's bug")

    async def main():
        client = AsyncClient(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca)
        app = starlette_app(client, actor=broken, client_ip=broken)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
            assert (await http.get("/" + "x" * 2000)).status_code == 404
            assert (await http.get("/reports")).status_code == 200
        report = await client.close(30)
        assert (report.delivered, report.failed) == (2, 0)

    asyncio.run(main())
    events = recorded(live)
    missing = next(e for e in events if e["metadata"]["status"] == 404)
    assert missing["resource"] == {"type": "route", "id": "unmatched"}
    assert missing["metadata"]["path"] == "/" + "x" * 1023
    assert all(e["actor"]["type"] == "anonymous" for e in events)


def test_asgi_requests_are_served_while_auditstore_is_unreachable():
    async def main():
        client = AsyncClient("https://127.0.0.1:9", "auds_k_s", ledger="ldg_1", max_retries=0)
        app = starlette_app(client)
        started = time.monotonic()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://app") as http:
            for _ in range(20):
                assert (await http.get("/reports")).status_code == 200
        assert time.monotonic() - started < 10
        report = await client.close()
        assert report.failed == 20

    asyncio.run(main())


@pytest.fixture
def django_app(live):
    import django
    from django.conf import settings

    if not settings.configured:
        settings.configure(
            DEBUG=False,
            ALLOWED_HOSTS=["*"],
            ROOT_URLCONF="django_urls",
            MIDDLEWARE=["auditstore.django.AuditStoreMiddleware"],
            AUDITSTORE_CLIENT="django_urls.audit_client",
            AUDITSTORE_ACTOR="django_urls.actor",
            AUDITSTORE_EXCLUDE=["/healthz"],
            SECRET_KEY="tests",
        )
        django.setup()
    import django_urls

    django_urls.audit_client = Client(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca)
    yield django_urls
    django_urls.audit_client.close()


def test_django_one_event_per_request_with_the_views_action_and_the_request_context(live, django_app):
    from django.test import Client as DjangoClient

    http = DjangoClient()
    update = http.post("/invoices/inv_7", HTTP_X_USER="jane", HTTP_X_REQUEST_ID="req-1")
    assert update.content == b"updated"
    http.get("/reports", HTTP_USER_AGENT="tests/1")
    http.get("/healthz")
    assert django_app.audit_client.flush(30).delivered == 2
    assert_events(recorded(live), "/invoices/<str:id>")
