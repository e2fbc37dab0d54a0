"""The retry and queue rules of docs/SDK.md §2–§4 against a local stand-in:
503 with Retry-After twice then 201 (the same ids three times, the wait
honoured), a 400 never retried but reported, a full queue that drops or
refuses, and the key shown nowhere."""

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from auditstore import DROP, AsyncClient, Block, Client, ProblemError, QueueFullError
from auditstore.config import retry_after


class StandIn:
    def __init__(self, answers):
        self.answers = list(answers)
        self.seen = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["content-length"])))
                stand_in.seen.append((time.monotonic(), body, self.headers.get("authorization")))
                status, wait = stand_in.answers.pop(0) if stand_in.answers else (201, None)
                if status == 201:
                    events = [
                        {"id": e["id"], "seq": i, "leaf_hash": "00" * 32, "chain_hash": "00" * 32}
                        for i, e in enumerate(body["events"])
                    ]
                    payload, kind = {"tree_size": len(events), "events": events}, "application/json"
                else:
                    payload = {
                        "type": "about:blank",
                        "title": "t",
                        "status": status,
                        "detail": "told to",
                        "field": "events[0]",
                    }
                    kind = "application/problem+json"
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", kind)
                self.send_header("content-length", str(len(data)))
                if wait:
                    self.send_header("retry-after", wait)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def event():
    return {"actor": {"type": "user", "id": "u"}, "action": "a.b", "resource": {"type": "r", "id": "1"}}


def test_a_503_with_retry_after_is_retried_with_the_same_ids_after_the_wait():
    stand_in = StandIn([(503, "1"), (503, "1")])
    client = Client(stand_in.base, "auds_k_secret", ledger="ldg_1", retry_base=0.01)
    appended = client.append([event(), event()])
    assert len(appended["events"]) == 2
    assert len(stand_in.seen) == 3
    ids = [[e["id"] for e in body["events"]] for _, body, _ in stand_in.seen]
    assert ids[0] == ids[1] == ids[2], "the same ids on every attempt"
    assert re.match(r"^[0-9a-f]{8}-[0-9a-f]{4}-7", ids[0][0]), "a UUIDv7"
    times = [at for at, _, _ in stand_in.seen]
    assert all(b - a >= 0.95 for a, b in zip(times, times[1:])), "Retry-After: 1 honoured"
    client.close()
    stand_in.close()


def test_a_400_is_not_retried_and_a_background_batch_is_reported():
    stand_in = StandIn([(400, None), (400, None)])
    reported = []
    client = Client(
        stand_in.base, "auds_k_secret", ledger="ldg_1", on_error=lambda e, evs: reported.append((str(e), len(evs)))
    )
    with pytest.raises(ProblemError) as caught:
        client.append([event()])
    assert (caught.value.status, caught.value.field) == (400, "events[0]")
    assert len(stand_in.seen) == 1, "never retried"
    client.record(event())
    report = client.close()
    assert (report.delivered, report.failed) == (0, 1)
    assert reported == [("AuditStore answered 400: told to", 1)]
    stand_in.close()


def test_background_batches_keep_the_order_and_the_size_limit():
    stand_in = StandIn([])
    client = Client(stand_in.base, "auds_k_secret", ledger="ldg_1", batch_size=7, flush_interval=60)
    for n in range(30):
        client.record(dict(event(), metadata={"n": n}))
    assert client.close().delivered == 30
    sizes = [len(body["events"]) for _, body, _ in stand_in.seen]
    assert sizes == [7, 7, 7, 7, 2]
    order = [e["metadata"]["n"] for _, body, _ in stand_in.seen for e in body["events"]]
    assert order == list(range(30))
    stand_in.close()


def test_a_full_queue_drops_and_reports_or_refuses_as_configured():
    stand_in = StandIn([])
    dropped = []
    client = Client(
        stand_in.base,
        "auds_k_secret",
        ledger="ldg_1",
        queue_size=5,
        flush_interval=60,
        when_full=DROP,
        on_drop=lambda e, evs: dropped.extend(evs),
    )
    # Nothing is due for a minute, so the first five wait and the rest overflow.
    for _ in range(50):
        client.record(event())
    report = client.close()
    assert report.dropped == len(dropped) == 45
    assert report.delivered == 5
    strict = Client(
        stand_in.base,
        "auds_k_secret",
        ledger="ldg_1",
        queue_size=1,
        flush_interval=60,
        when_full=Block(0.2),
        max_retries=0,
    )
    strict.record(event())
    # While the first is sent, the second waits for room (and gets it).
    strict.record(event())
    assert strict.close().delivered == 2
    stand_in.close()


def test_a_blocked_record_times_out_with_queue_full():
    stand_in = StandIn([])
    # An unreachable server keeps the one queued event in flight.
    client = Client(
        "https://127.0.0.1:9",
        "auds_k_secret",
        ledger="ldg_1",
        queue_size=1,
        flush_interval=0.01,
        when_full=Block(0.3),
        max_retries=50,
        retry_base=1,
        retry_max=1,
    )
    client.record(event())
    client.record(event())  # the first is in flight by now, so there is room
    started = time.monotonic()
    with pytest.raises(QueueFullError):
        client.record(event())
    assert time.monotonic() - started >= 0.25
    client.close(timeout=0.1)
    stand_in.close()


def test_the_async_client_sends_in_batches_and_flushes():
    import asyncio

    stand_in = StandIn([(503, "1")])

    async def main():
        client = AsyncClient(stand_in.base, "auds_k_secret", ledger="ldg_1", batch_size=10, flush_interval=60)
        for n in range(25):
            client.record(dict(event(), metadata={"n": n}))
        report = await client.flush(30)
        assert (report.delivered, report.pending) == (25, 0)
        assert (await client.append([event()]))["tree_size"] == 1
        await client.close()

    asyncio.run(main())
    sizes = [len(body["events"]) for _, body, _ in stand_in.seen]
    assert sizes == [10, 10, 10, 5, 1], "the first batch again after its 503"
    stand_in.close()


def test_retry_after_reads_seconds_and_http_dates():
    assert retry_after("7") == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470.0) == pytest.approx(10.0)
    assert retry_after("soon") is None
    assert retry_after(None) is None


def test_the_key_shows_nowhere():
    client = Client("https://a.example", "auds_0123abcd_s3cr3tS3CR3T", ledger="ldg_1")
    shown = f"{client} {client!r} {client.config} {client.config!r}"
    assert "s3cr3t" not in shown, shown
    assert "auds_0123abcd_…" in shown
    client.close()


def test_an_event_is_sent_as_it_was_when_recorded_on_every_attempt():
    stand_in = StandIn([(503, None)])
    client = Client(stand_in.base, "auds_k_secret", ledger="ldg_1", flush_interval=60, retry_base=0.01)
    recorded = dict(event(), metadata={"amount": {"value": 1}})
    client.record(recorded)
    # A later change to the caller's object is not sent under the event's id.
    recorded["metadata"]["amount"]["value"] = 2
    assert client.close().delivered == 1
    bodies = [body for _, body, _ in stand_in.seen]
    assert len(bodies) == 2, "the 503, then the retry"
    assert bodies[0] == bodies[1]
    assert bodies[0]["events"][0]["metadata"] == {"amount": {"value": 1}}
    stand_in.close()
