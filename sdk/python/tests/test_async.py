"""The asyncio client and tracker against a live AuditStore, and what both
clients send at interpreter exit without being closed."""

import asyncio
import subprocess
import sys
import textwrap

import pytest
from conftest import invoice

from auditstore import (
    AsyncCheckpointTracker,
    AsyncClient,
    Client,
    MemoryStore,
    RollbackError,
    VerificationError,
    leaf_hash,
)


def test_the_async_client_records_reads_and_verifies(live, tmp_path):
    async def main():
        writer = AsyncClient(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca, batch_size=250)
        for n in range(1000):
            writer.record(invoice(n))
        await writer.record_wait(invoice(1000))
        report = await writer.close(60)
        assert (report.delivered, report.failed, report.pending) == (1001, 0, 0)
        reader = AsyncClient(live.base, live.reader, ca_certificate=live.ca, verifier_key=live.verifier_key)
        ids = [e["id"] async for e in reader.events(live.ledger, limit=300)]
        assert len(set(ids)) == 1001
        event, checkpoint = await reader.get_verified_event(live.ledger, ids[-1])
        assert event["seq"] == 0 and checkpoint.tree_size == 1001
        tracker = AsyncCheckpointTracker(reader, MemoryStore())
        first = await tracker.update(live.ledger)
        appended = await reader_append(live)
        second = await tracker.update(live.ledger)
        assert second.tree_size == first.tree_size + len(appended["events"])
        with pytest.raises(RollbackError):
            await tracker.track(live.ledger, first.note)
        # A checkpoint of another ledger is refused whatever its signature.
        with pytest.raises(VerificationError, match="not of ledger"):
            await tracker.track("ldg_other", second.note)
        evidence = await reader.evidence(live.ledger, ids[0])
        assert "c2sp.org/tlog-proof@v1" in evidence
        path = tmp_path / "e.zip"
        started = await reader.start_export(live.ledger, "csv")
        done = await reader.wait_export(live.ledger, started["id"], poll=0.1)
        assert await reader.download_export(live.ledger, started["id"], str(path)) == done["sha256"]
        assert leaf_hash(event) == event["leaf_hash"]
        await reader.close()

    async def reader_append(live):
        async with AsyncClient(live.base, live.writer, ledger=live.ledger, ca_certificate=live.ca) as writer:
            return await writer.append([invoice(n) for n in range(4)])

    asyncio.run(main())


SCRIPT = """
import asyncio, os, sys
from auditstore import AsyncClient, Client
base, key, ledger, ca, flavour = sys.argv[1:]
event = lambda n: {"actor": {"type": "user", "id": "u"}, "action": "exit.test", "resource": {"type": "n", "id": str(n)}}
if flavour == "sync":
    client = Client(base, key, ledger=ledger, ca_certificate=ca, flush_interval=3600)
    for n in range(120):
        client.record(event(n))
else:
    async def main():
        global client
        client = AsyncClient(base, key, ledger=ledger, ca_certificate=ca, flush_interval=3600)
        for n in range(120):
            client.record(event(n))
    asyncio.run(main())
# No flush, no close: the interpreter's exit sends what is queued.
"""


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_what_is_queued_is_sent_at_interpreter_exit(live, flavour):
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), live.base, live.writer, live.ledger, live.ca, flavour],
        check=True,
        timeout=60,
    )
    with Client(live.base, live.reader, ca_certificate=live.ca) as reader:
        assert len(list(reader.events(live.ledger, action="exit.test"))) == 120


FORK = """
import os, sys
from auditstore import Client
base, key, ledger, ca = sys.argv[1:]
event = lambda n: {"actor": {"type": "user", "id": "u"}, "action": "fork.test", "resource": {"type": "n", "id": str(n)}}
client = Client(base, key, ledger=ledger, ca_certificate=ca, flush_interval=3600)
client.record(event(0))
pid = os.fork()
if pid == 0:
    # The child has the queue (event 0 too: sent twice, stored once by its id)
    # but not the parent's thread: it must send with a sender of its own.
    client.record(event(1))
    report = client.close(30)
    os._exit(0 if report.delivered == 2 and report.pending == 0 else 1)
_, status = os.waitpid(pid, 0)
report = client.close(30)
sys.exit(os.waitstatus_to_exitcode(status) or (0 if report.delivered == 1 else 2))
"""


def test_a_forked_child_sends_with_a_sender_of_its_own(live):
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent(FORK), live.base, live.writer, live.ledger, live.ca],
        check=True,
        timeout=90,
    )
    with Client(live.base, live.reader, ca_certificate=live.ca) as reader:
        assert sorted(e["resource"]["id"] for e in reader.events(live.ledger, action="fork.test")) == ["0", "1"]
