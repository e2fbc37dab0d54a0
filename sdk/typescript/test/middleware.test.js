// Express and Fastify middleware against a live AuditStore: one event per
// request with the handler's action, the request context in metadata,
// excluded routes left out, unmatched routes recorded without their path
// as resource, extractors that throw survived, overflow reported to
// onDrop, and requests served while AuditStore is down.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import express from 'express';
import Fastify from 'fastify';
import { Client } from '../src/index.js';
import { auditstore } from '../src/express.js';
import { auditstorePlugin } from '../src/fastify.js';
import { live } from './support.js';

const actor = (headers) => (headers['x-user'] ? { type: 'user', id: headers['x-user'] } : null);

async function check(env, base) {
  const update = await fetch(`${base}/invoices/inv_7`, { method: 'POST', headers: { 'x-user': 'jane', 'x-request-id': 'req-1' } });
  assert.equal(await update.text(), 'updated');
  await fetch(`${base}/reports`, { headers: { 'user-agent': 'tests/1' } });
  await fetch(`${base}/healthz`);
}

async function recorded(env) {
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader });
  const page = await reader.listEvents(env.ledger);
  await reader.close();
  return page.events;
}

function assertEvents(events) {
  assert.equal(events.length, 2, 'the excluded route is not recorded');
  const update = events.find((e) => e.action === 'invoice.updated');
  assert.deepEqual([update.actor.id, update.resource.id, update.metadata.request_id, update.metadata.status], ['jane', 'inv_7', 'req-1', 200]);
  // The route is named by its pattern, never the concrete path.
  assert.equal(update.metadata.route, '/invoices/:id');
  assert.equal(update.metadata.path, undefined);
  const read = events.find((e) => e.action === 'http.get');
  assert.equal(read.actor.type, 'anonymous');
  assert.deepEqual(read.resource, { type: 'route', id: '/reports' });
  assert.equal(read.metadata.route, '/reports');
  assert.equal(read.metadata.user_agent, 'tests/1');
}

test('Express: one event per request with the handler’s action and the request context', async () => {
  const env = await live();
  const client = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  const app = express();
  app.use(auditstore(client, { actor: (req) => actor(req.headers), exclude: ['/healthz'] }));
  app.post('/invoices/:id', (req, res) => {
    req.audit.set('invoice.updated', 'invoice', req.params.id);
    res.send('updated');
  });
  app.get('/reports', (req, res) => res.send('report'));
  app.get('/healthz', (req, res) => res.send('ok'));
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  await check(env, `http://127.0.0.1:${server.address().port}`);
  assert.equal((await client.flush(30_000)).delivered, 2);
  assertEvents(await recorded(env));
  server.close();
  await client.close();
});

test('Fastify: one event per request with the handler’s action and the request context', async () => {
  const env = await live();
  const client = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  const app = Fastify();
  await app.register(auditstorePlugin(client, { actor: (request) => actor(request.headers), exclude: ['/healthz'] }));
  app.post('/invoices/:id', async (request) => {
    request.audit.set('invoice.updated', 'invoice', request.params.id);
    return 'updated';
  });
  app.get('/reports', async () => 'report');
  app.get('/healthz', async () => 'ok');
  const address = await app.listen({ port: 0, host: '127.0.0.1' });
  await check(env, address);
  assert.equal((await client.flush(30_000)).delivered, 2);
  assertEvents(await recorded(env));
  await app.close();
  await client.close();
});

test('requests are served while AuditStore is unreachable', async () => {
  const client = new Client({ baseUrl: 'https://127.0.0.1:9', apiKey: 'auds_k_s', ledger: 'ldg_1', maxRetries: 0 });
  const app = express();
  app.use(auditstore(client));
  app.get('/reports', (req, res) => res.send('report'));
  const server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const started = Date.now();
  for (let i = 0; i < 20; i++) assert.equal((await fetch(`http://127.0.0.1:${server.address().port}/reports`)).status, 200);
  assert.ok(Date.now() - started < 10_000);
  const report = await client.close();
  assert.equal(report.failed, 20);
  server.close();
});

// The frameworks, each with routes `/invoices/:id` and `/reports`, the
// middleware given `options`; answers the base URL and a close function.
const frameworks = {
  async Express(client, options) {
    const app = express();
    app.use(auditstore(client, options));
    app.get('/invoices/:id', (req, res) => res.send('invoice'));
    app.get('/reports', (req, res) => res.send('report'));
    const server = await new Promise((resolve) => {
      const s = app.listen(0, '127.0.0.1', () => resolve(s));
    });
    return { base: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((resolve) => server.close(resolve)) };
  },
  async Fastify(client, options) {
    const app = Fastify();
    await app.register(auditstorePlugin(client, options));
    app.get('/invoices/:id', async () => 'invoice');
    app.get('/reports', async () => 'report');
    return { base: await app.listen({ port: 0, host: '127.0.0.1' }), close: () => app.close() };
  },
};

for (const [name, serve] of Object.entries(frameworks)) {
  test(`${name}: a 404 to a 2000-character path is recorded as unmatched and delivered`, async () => {
    const env = await live();
    const client = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
    const app = await serve(client, { actor: (req) => actor(req.headers) });
    const long = `/${'a'.repeat(2000)}`;
    assert.equal((await fetch(`${app.base}${long}?q=1`, { headers: { 'user-agent': 'u'.repeat(3000) } })).status, 404);
    assert.equal((await fetch(`${app.base}/invoices/inv_9`)).status, 200);
    const report = await client.flush(30_000);
    assert.deepEqual([report.delivered, report.failed], [2, 0]);
    const events = await recorded(env);
    const missed = events.find((e) => e.metadata.status === 404);
    assert.deepEqual(missed.resource, { type: 'route', id: 'unmatched' });
    assert.equal(missed.metadata.route, 'unmatched');
    assert.equal(missed.metadata.path, long.slice(0, 1024));
    assert.equal(missed.metadata.user_agent, 'u'.repeat(512));
    const found = events.find((e) => e.metadata.status === 200);
    assert.deepEqual([found.resource.id, found.metadata.route], ['/invoices/:id', '/invoices/:id']);
    await app.close();
    await client.close();
  });

  test(`${name}: an actor extractor that throws fails neither the request nor the process`, async () => {
    const env = await live();
    const client = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
    const warned = [];
    const warn = console.warn;
    console.warn = (message) => warned.push(message);
    try {
      const app = await serve(client, {
        actor: () => {
          throw new Error('no session store');
        },
        clientIp: () => {
          throw new Error('no proxy header');
        },
      });
      assert.equal(await (await fetch(`${app.base}/reports`)).text(), 'report');
      assert.equal((await client.flush(30_000)).delivered, 1);
      await app.close();
    } finally {
      console.warn = warn;
    }
    const [event] = await recorded(env);
    assert.deepEqual(event.actor, { type: 'anonymous', id: 'anonymous' });
    assert.equal(event.metadata.client_ip, undefined);
    assert.ok(warned.some((m) => /extractor failed: no session store/.test(m)), warned.join('\n'));
    await client.close();
  });

  test(`${name}: what overflows the queue goes to onDrop, whatever whenFull says`, async () => {
    const env = await live();
    const dropped = [];
    const client = new Client({
      baseUrl: env.base, apiKey: env.writer, ledger: env.ledger, queueSize: 1, flushIntervalMs: 60_000,
      onDrop: (error, events) => dropped.push([error.name, events.length]),
    });
    const app = await serve(client, {});
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${app.base}/reports`)).status, 200);
    // Fastify's onResponse hook runs after the answer is sent: wait for it
    // (a bound, not a timing: a loaded machine may take longer).
    for (let waited = 0; dropped.length < 2 && waited < 10_000; waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    assert.deepEqual(dropped, [['QueueFullError', 1], ['QueueFullError', 1]]);
    const report = await client.close(30_000);
    assert.deepEqual([report.delivered, report.dropped], [1, 2]);
    await app.close();
  });
}
