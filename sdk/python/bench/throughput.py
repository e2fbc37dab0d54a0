"""The client's sustained throughput (scripts/bench-sdk.sh): one client
records events as fast as its queue takes them, for BENCH_SECS seconds, with
background batching, then closes; prints the delivered rate as a JSON line.
Events of the load generator's shape (about 330 bytes, 1,000 actors, a
client id each). BENCH_CLIENT=async measures `AsyncClient` instead of the
blocking `Client`. Environment: AUDITSTORE_URL, AUDITSTORE_KEY,
AUDITSTORE_LEDGER, AUDITSTORE_CA, BENCH_SECS."""

import asyncio
import json
import os
import time

from auditstore import AsyncClient, Block, Client

SECS = float(os.environ.get("BENCH_SECS", "20"))
SETTINGS = dict(
    ledger=os.environ["AUDITSTORE_LEDGER"],
    ca_certificate=os.environ["AUDITSTORE_CA"],
    queue_size=20_000,
    when_full=Block(60),
)


def event(n):
    return {
        "actor": {"type": "user", "id": f"user_{n % 1000}", "name": "Benchmark User"},
        "action": f"invoice.action_{n % 50}",
        "resource": {"type": "invoice", "id": f"inv_{(n * 31) % 100_000}"},
        "occurred_at": "2026-12-01T10:00:00.123Z",
        "metadata": {
            "amount": n,
            "currency": "EUR",
            "note": "a typical audit event with a little metadata",
            "ip": "192.0.2.1",
        },
    }


def blocking():
    client = Client(os.environ["AUDITSTORE_URL"], os.environ["AUDITSTORE_KEY"], **SETTINGS)
    started = time.monotonic()
    recorded = 0
    while time.monotonic() - started < SECS:
        client.record(event(recorded))
        recorded += 1
    return "python", recorded, client.close(300), started


async def asynchronous():
    client = AsyncClient(os.environ["AUDITSTORE_URL"], os.environ["AUDITSTORE_KEY"], **SETTINGS)
    started = time.monotonic()
    recorded = 0
    while time.monotonic() - started < SECS:
        await client.record_wait(event(recorded))
        recorded += 1
        if recorded % 100 == 0:
            await asyncio.sleep(0)  # let the sender task run, as an application's awaits do
    return "python-async", recorded, await client.close(300), started


name, recorded, report, started = (
    asyncio.run(asynchronous()) if os.environ.get("BENCH_CLIENT") == "async" else blocking()
)
seconds = time.monotonic() - started
print(
    json.dumps(
        {
            "client": name,
            "recorded": recorded,
            "delivered": report.delivered,
            "failed": report.failed,
            "seconds": seconds,
            "events_per_second": round(report.delivered / seconds),
        }
    )
)
