// The retry rules of docs/SDK.md §3 against a local stand-in: 503 with
// Retry-After twice then 201 (the same ids three times, the wait
// honoured), a 400 never retried but reported, a full queue that drops.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Client, ProblemError } from '../src/index.js';

async function standIn(answers) {
  const seen = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const parsed = JSON.parse(body);
      seen.push({ at: Date.now(), body: parsed, auth: req.headers.authorization });
      const [status, retryAfter] = answers.shift() ?? [201];
      if (status === 201) {
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
