// Express and Fastify middleware against a live AuditStore: one event per
// request with the handler's action, the request context in metadata,
// excluded routes left out, and requests served while AuditStore is down.

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
  const read = events.find((e) => e.action === 'http.get');
  assert.equal(read.actor.type, 'anonymous');
  assert.deepEqual(read.resource, { type: 'route', id: '/reports' });
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
  const events = await recorded(env);
  // Fastify names the route by its pattern.
  assertEvents(events.map((e) => (e.action === 'http.get' ? e : e)));
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
