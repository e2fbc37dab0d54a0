// The retry rules of docs/SDK.md §3 against a local stand-in: 503 with
// Retry-After twice then 201 (the same bytes three times, the wait
// honoured), a 400 never retried but reported, a full queue that drops, a
// redirect never followed, a body that broke off retried; and the
// background sender's batches (the largest event, content fixed when
// recorded, a flush waiting only for what came before it).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Client, NetworkError, ProblemError } from '../src/index.js';

async function standIn(answers, { delayMs = 0 } = {}) {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', async () => {
      const parsed = JSON.parse(body);
      seen.push({ at: Date.now(), body: parsed, raw: body, auth: req.headers.authorization });
      const [status, retryAfter] = answers.shift() ?? [201];
      if (delayMs) await new Promise((resolve) => setTimeout(resolve, delayMs));
      if (status === 307) {
        res.writeHead(307, { location: `http://127.0.0.1:${server.address().port}/elsewhere` }).end();
      } else if (status === 201) {
        const events = parsed.events.map((e, i) => ({ id: e.id, seq: i, leaf_hash: '00'.repeat(32), chain_hash: '00'.repeat(32) }));
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify({ tree_size: events.length, events }));
      } else {
        const headers = { 'content-type': 'application/problem+json', ...(retryAfter ? { 'retry-after': retryAfter } : {}) };
        res.writeHead(status, headers).end(JSON.stringify({ type: 'about:blank', title: 't', status, detail: 'told to', field: 'events[0]' }));
      }
    });
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { base: `http://127.0.0.1:${server.address().port}`, seen, server };
}

const event = () => ({ actor: { type: 'user', id: 'u' }, action: 'a.b', resource: { type: 'r', id: '1' } });

test('a 503 with Retry-After is retried with the same ids after the wait', async () => {
  const { base, seen, server } = await standIn([[503, '1'], [503, '1']]);
  const client = new Client({ baseUrl: base, apiKey: 'auds_k_secret', ledger: 'ldg_1', retryBaseMs: 10 });
  const appended = await client.append([event(), event()]);
  assert.equal(appended.events.length, 2);
  assert.equal(seen.length, 3);
  const ids = seen.map((s) => s.body.events.map((e) => e.id).join(','));
  assert.ok(ids.every((i) => i === ids[0]), 'the same ids on every attempt');
  assert.ok(seen.every((s) => s.raw === seen[0].raw), 'the same bytes on every attempt');
  assert.match(seen[0].body.events[0].id, /^[0-9a-f]{8}-[0-9a-f]{4}-7/, 'a UUIDv7');
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i].at - seen[i - 1].at >= 950, 'Retry-After: 1 honoured');
  await client.close();
  server.close();
});

test('a 400 is not retried and a background batch is reported', async () => {
  const { base, seen, server } = await standIn([[400], [400]]);
  const reported = [];
  const client = new Client({ baseUrl: base, apiKey: 'auds_k_secret', ledger: 'ldg_1', onError: (e, events) => reported.push([e.message, events.length]) });
  await assert.rejects(client.append([event()]), (e) => e instanceof ProblemError && e.status === 400 && e.field === 'events[0]');
  assert.equal(seen.length, 1, 'never retried');
  client.record(event());
  const report = await client.close();
  assert.deepEqual([report.delivered, report.failed], [0, 1]);
  assert.deepEqual(reported, [['AuditStore answered 400: told to', 1]]);
  server.close();
});

test('a full queue drops and reports, or refuses, as configured', async () => {
  const { base, server } = await standIn([]);
  let dropped = 0;
  const client = new Client({ baseUrl: base, apiKey: 'auds_k_secret', ledger: 'ldg_1', queueSize: 5, flushIntervalMs: 60_000, whenFull: 'drop', onDrop: (_, events) => (dropped += events.length) });
  for (let i = 0; i < 50; i++) client.record(event());
  const report = await client.close();
  assert.equal(report.dropped, 45);
  assert.equal(dropped, 45);
  assert.equal(report.delivered, 5);
  const strict = new Client({ baseUrl: base, apiKey: 'auds_k_secret', ledger: 'ldg_1', queueSize: 1, flushIntervalMs: 60_000 });
  strict.record(event());
  assert.throws(() => strict.record(event()), /queue is full/);
  await strict.close();
  server.close();
});

test('the key shows nowhere', async () => {
  const client = new Client({ baseUrl: 'https://a.example', apiKey: 'auds_0123abcd_s3cr3tS3CR3T', ledger: 'ldg_1' });
  const util = await import('node:util');
  const shown = `${JSON.stringify(client)} ${util.inspect(client)} ${Object.keys(client).map((k) => String(client[k])).join(' ')}`;
  assert.ok(!shown.includes('s3cr3t'), shown);
  assert.ok(shown.includes('auds_0123abcd_…'));
  await client.close();
});

test('an event of exactly the largest size a batch may carry is delivered, alone', async () => {
  const { base, seen, server } = await standIn([]);
  const client = new Client({ baseUrl: base, apiKey: 'auds_k_secret', ledger: 'ldg_1', batchBytes: 1024, flushIntervalMs: 10 });
  const sized = (bytes) => {
    const e = { ...event(), id: '0190a0b0-0000-7000-8000-000000000000', occurred_at: '2026-01-01T00:00:00.000Z', metadata: { pad: '' } };
    e.metadata.pad = 'x'.repeat(bytes - Buffer.byteLength(JSON.stringify(e)));
    assert.equal(Buffer.byteLength(JSON.stringify(e)), bytes);
    return e;
  };
  // `{"events":[` and `]}` are 13 bytes: an event of 1011 fills a batch of 1024.
  assert.throws(() => client.record(sized(1012)), /more than a batch may carry/);
  client.record(sized(1011));
  client.record(sized(1011));
  const report = await client.flush(5000);
  assert.deepEqual([report.delivered, report.failed, report.pending], [2, 0, 0]);
  assert.deepEqual(seen.map((s) => [s.body.events.length, Buffer.byteLength(s.raw)]), [[1, 1024], [1, 1024]]);
  await client.close();
  server.close();
});

test('an event is sent as it was when recorded, whatever the caller changes later', async () => {
  const { base, seen, server } = await standIn([[503]]);
  const client = new Client({ baseUrl: base, apiKey: 'auds_k_secret', ledger: 'ldg_1', flushIntervalMs: 60_000, retryBaseMs: 10 });
  const recorded = { ...event(), metadata: { nested: { amount: 1 }, tags: ['a'] } };
  client.record(recorded);
  recorded.metadata.nested.amount = 2;
  recorded.metadata.tags.push('b');
  recorded.action = 'changed.later';
  const report = await client.flush(5000);
  assert.equal(report.delivered, 1);
  assert.equal(seen.length, 2, 'retried once');
  for (const s of seen) {
    assert.deepEqual(s.body.events[0].metadata, { nested: { amount: 1 }, tags: ['a'] });
    assert.equal(s.body.events[0].action, 'a.b');
  }
  assert.equal(seen[0].raw, seen[1].raw, 'the same bytes on both attempts');
  await client.close();
  server.close();
});

test('flush waits for the events recorded before it, not for those recorded during it', async () => {
  const { base, seen, server } = await standIn([], { delayMs: 100 });
  const client = new Client({ baseUrl: base, apiKey: 'auds_k_secret', ledger: 'ldg_1', batchSize: 5, flushIntervalMs: 60_000 });
  const first = [];
  for (let i = 0; i < 10; i++) {
    const e = { ...event(), id: `0190a0b0-0000-7000-8000-${String(i).padStart(12, '0')}` };
    first.push(e.id);
    client.record(e);
  }
  // Recording goes on all through the flush: the queue never empties.
  const more = setInterval(() => {
    for (let i = 0; i < 5; i++) client.record(event());
  }, 20);
  const report = await client.flush(30_000);
  clearInterval(more);
  // Returned before its timeout, with the first ten acknowledged.
  assert.ok(report.delivered >= 10, JSON.stringify(report));
  const delivered = seen.flatMap((s) => s.body.events.map((e) => e.id));
  assert.deepEqual(delivered.slice(0, 10), first);
  assert.ok(report.pending > 0, 'the later events were still pending');
  await client.close(30_000);
  server.close();
});

test('a redirect is not followed and not retried', async () => {
  const { base, seen, server } = await standIn([[307]]);
  const client = new Client({ baseUrl: base, apiKey: 'auds_k_secret', ledger: 'ldg_1', retryBaseMs: 10 });
  await assert.rejects(client.append([event()]), (e) => e instanceof ProblemError && e.status === 307 && /redirect \(307/.test(e.message));
  assert.equal(seen.length, 1, 'neither followed nor retried');
  await client.close();
  server.close();
});

test('a 2xx whose body fails to arrive is a NetworkError, retried', async () => {
  let calls = 0;
  const fetch = async (url, init) => {
    calls++;
    if (calls === 1) return { ok: true, status: 201, headers: new Headers(), json: async () => Promise.reject(new TypeError('terminated')) };
    const events = JSON.parse(init.body).events.map((e, i) => ({ id: e.id, seq: i, leaf_hash: '00'.repeat(32), chain_hash: '00'.repeat(32) }));
    return new Response(JSON.stringify({ tree_size: events.length, events }), { status: 201 });
  };
  const client = new Client({ baseUrl: 'http://127.0.0.1:9', apiKey: 'auds_k_secret', ledger: 'ldg_1', fetch, retryBaseMs: 10 });
  assert.equal((await client.append([event()])).events.length, 1);
  assert.equal(calls, 2);
  const once = new Client({ baseUrl: 'http://127.0.0.1:9', apiKey: 'auds_k_secret', ledger: 'ldg_1', maxRetries: 0, fetch: async () => ({ ok: true, status: 200, headers: new Headers(), json: async () => Promise.reject(new TypeError('terminated')) }) });
  await assert.rejects(once.getEvent('ldg_1', 'x'), (e) => e instanceof NetworkError && /terminated/.test(e.message));
  await client.close();
  await once.close();
});

test('waitExport polls every retryBaseMs by default', async () => {
  const polls = [];
  const fetch = async () => {
    polls.push(Date.now());
    const status = polls.length < 4 ? 'running' : 'done';
    return new Response(JSON.stringify({ id: 'exp_1', status, events_written: polls.length, events_total: 4 }), { status: 200 });
  };
  // Lower bounds only: 700 ms apart is neither the 500 ms of before nor anything else's.
  const client = new Client({ baseUrl: 'http://127.0.0.1:9', apiKey: 'auds_k_secret', fetch, retryBaseMs: 700 });
  assert.equal((await client.waitExport('ldg_1', 'exp_1')).status, 'done');
  assert.equal(polls.length, 4);
  for (let i = 1; i < polls.length; i++) assert.ok(polls[i] - polls[i - 1] >= 690, `polled ${polls[i] - polls[i - 1]} ms apart`);
  await client.close();
});
