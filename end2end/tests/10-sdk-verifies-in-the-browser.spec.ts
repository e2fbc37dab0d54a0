import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test } from '@playwright/test';
import { loadState, ownerContext } from './support';

// Journey: a developer verifies AuditStore records in the browser with the
// TypeScript SDK (@auditstore/client), as shipped: its modules and its one
// dependency served as they are, Web Crypto doing SHA-256 and Ed25519. The
// published vectors hash as published, a real evidence file of the
// journey's event verifies against the pinned key, and its tampered twin
// does not.
test('the TypeScript SDK verifies vectors and an evidence file in the browser', async ({ browser }) => {
  const state = loadState();
  const context = await ownerContext(browser);
  // What the SDK verifies: the journey's evidence file (through the
  // dashboard's session) and the published key.
  // A fresh event (an earlier journey tampered with the first one).
  const appended = await context.request.post(`/v1/ledgers/${state.ledgerId}/events`, {
    headers: { authorization: `Bearer ${state.writeKey}` },
    data: { actor: { type: 'user', id: 'dev@example.com' }, action: 'sdk.checked', resource: { type: 'sdk', id: 'typescript' }, occurred_at: '2026-12-04T10:00:00Z' },
  });
  expect(appended.ok(), await appended.text()).toBe(true);
  const eventId = ((await appended.json()) as { events: { id: string }[] }).events[0].id;
  const answer = await context.request.post('/api/event_evidence', { form: { ledger: state.ledgerId, event: eventId } });
  expect(answer.ok(), await answer.text()).toBe(true);
  const evidence = ((await answer.json()) as { text: string }).text;
  const key = (await (await context.request.get('/v1/checkpoint-key')).text()).trim();
  const vectors = JSON.parse(fs.readFileSync(path.resolve('../docs/vectors/events.json'), 'utf8'));

  // The SDK's files, served from an origin of their own (a secure context).
  const sdk = path.resolve('../sdk/typescript');
  const page = await context.newPage();
  await page.route('https://sdk.test/**', async (route) => {
    const url = new URL(route.request().url());
    if (url.pathname === '/') {
      const html = '<!doctype html><script type="importmap">{"imports": {"canonicalize": "/canonicalize.js"}}</script><p>sdk</p>';
      return route.fulfill({ contentType: 'text/html', body: html });
    }
    const file = url.pathname === '/canonicalize.js'
      ? path.join(sdk, 'node_modules/canonicalize/lib/canonicalize.js')
      : path.join(sdk, 'src', path.basename(url.pathname));
    return route.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(file, 'utf8') });
  });
  await page.goto('https://sdk.test/');
  const outcome = await page.evaluate(async ({ vectors, evidence, key }) => {
    const sdk = await import('https://sdk.test/verify.js');
    const hashes = [];
    for (const v of vectors.events) hashes.push((await sdk.leafHash(v.event)) === v.leaf_hash);
    const verified = await sdk.verifyEvidence(evidence, key);
    const index = /\nindex (\d+)\n/.exec(evidence);
    const moved = evidence.replace(index[0], `\nindex ${Number(index[1]) + 1}\n`);
    const twin = await sdk.verifyEvidence(moved, key).then(() => 'verified', (e) => e.name);
    return { hashes, seq: verified.seq, ledger: verified.ledger, twin, secure: window.isSecureContext };
  }, { vectors, evidence, key });
  expect(outcome.secure).toBe(true);
  expect(outcome.hashes.length).toBe(vectors.events.length);
  expect(outcome.hashes.every(Boolean)).toBe(true);
  expect(outcome.ledger).toBe(state.ledgerId);
  expect(outcome.twin).toBe('VerificationError');
  await context.close();
});
