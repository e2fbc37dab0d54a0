// The client against a live AuditStore (see support.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CheckpointTracker, Client, FileStore, ForkError, MemoryStore, ProblemError, RollbackError, leafHash, verifyCheckpoint,
  verifyEvidence, verifyInclusion,
} from '../src/index.js';
import { invoice, live } from './support.js';

test('recorded events are delivered in batches and flushed on close', async () => {
  const env = await live();
  const client = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger, batchSize: 400 });
  for (let n = 0; n < 2500; n++) client.record(invoice(n));
  const report = await client.close(60_000);
  assert.deepEqual([report.delivered, report.failed, report.pending], [2500, 0, 0]);
  assert.throws(() => client.record(invoice(0)), /closed/);
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader, ledger: env.ledger });
  const ids = [];
  for await (const event of reader.events(env.ledger, { limit: 500 })) ids.push(event.id);
  assert.equal(ids.length, 2500);
  assert.equal(new Set(ids).size, 2500);
  assert.ok(ids.every((id) => /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab]/.test(id)));
  const filtered = await reader.listEvents(env.ledger, { resource_id: 'inv_7' });
  assert.equal(filtered.events.length, 1);
  await reader.close();
});

test('appends answer their hashes and reads verify against the pinned key, each with a tampered twin', async () => {
  const env = await live();
  const writer = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  const appended = await writer.append([0, 1, 2, 3, 4].map(invoice));
  assert.equal(appended.events.length, 5);
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader, ledger: env.ledger, verifierKey: env.verifierKey });
  const first = appended.events[0];
  const { event, checkpoint } = await reader.getVerifiedEvent(env.ledger, first.id);
  assert.equal(await leafHash(event), first.leaf_hash);
  assert.ok(checkpoint.treeSize >= 5);
  const proof = await reader.inclusionProof(env.ledger, event.seq, checkpoint.treeSize);
  await verifyInclusion(event.seq, checkpoint.treeSize, await leafHash(event), proof, checkpoint.root);
  const altered = { ...event, metadata: { n: 99 } };
  await assert.rejects(verifyInclusion(event.seq, checkpoint.treeSize, await leafHash(altered), proof, checkpoint.root), /signed root/);
  const badProof = [await leafHash(altered), ...proof.slice(1)];
  await assert.rejects(verifyInclusion(event.seq, checkpoint.treeSize, first.leaf_hash, badProof, checkpoint.root));
  await assert.rejects(verifyInclusion(event.seq, checkpoint.treeSize, first.leaf_hash, proof, await leafHash(altered)));
  const forged = checkpoint.note.replace(`\n${checkpoint.treeSize}\n`, `\n${checkpoint.treeSize + 1}\n`);
  await assert.rejects(verifyCheckpoint(forged, env.verifierKey), /does not verify/);
  // Evidence, offline, and its twins.
  const evidence = await reader.evidence(env.ledger, first.id);
  const verified = await verifyEvidence(evidence, env.verifierKey);
  assert.deepEqual([verified.ledger, verified.seq], [env.ledger, first.seq]);
  await assert.rejects(verifyEvidence(evidence.replace(`\nindex ${first.seq}\n`, `\nindex ${first.seq + 1}\n`), env.verifierKey));
  const other = await reader.evidence(env.ledger, appended.events[1].id);
  const extra = (text) => text.split('\n').find((l) => l.startsWith('extra '));
  await assert.rejects(verifyEvidence(evidence.replace(extra(evidence), extra(other)), env.verifierKey));
  await writer.close();
  await reader.close();
});

test('the tracker proves every newer checkpoint and refuses forks and rollbacks', async () => {
  const env = await live();
  const writer = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader, verifierKey: env.verifierKey });
  await writer.append([0, 1, 2].map(invoice));
  const file = join(mkdtempSync(join(tmpdir(), 'tracker-')), 'checkpoints.json');
  const tracker = new CheckpointTracker(reader, new FileStore(file));
  const first = await tracker.update(env.ledger);
  await writer.append([3, 4, 5, 6, 7, 8, 9].map(invoice));
  const second = await tracker.update(env.ledger);
  assert.ok(second.treeSize > first.treeSize);
  const again = new CheckpointTracker(reader, new FileStore(file));
  assert.equal((await again.stored(env.ledger)).tree_size, second.treeSize);
  await assert.rejects(again.track(env.ledger, first.note), RollbackError);
  const sameSize = new MemoryStore();
  await sameSize.save(env.ledger, { tree_size: second.treeSize, root: 'ab'.repeat(32), note: '' });
  await assert.rejects(new CheckpointTracker(reader, sameSize).track(env.ledger, second.note), ForkError);
  const smaller = new MemoryStore();
  await smaller.save(env.ledger, { tree_size: 3, root: 'ab'.repeat(32), note: '' });
  await assert.rejects(new CheckpointTracker(reader, smaller).track(env.ledger, second.note), (e) => e instanceof ForkError && e.message.startsWith('FORK'));
  await writer.close();
  await reader.close();
});

test('an export is started, waited for with progress and downloaded checked', async () => {
  const env = await live();
  const writer = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  await writer.append(Array.from({ length: 50 }, (_, n) => invoice(n)));
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader });
  const started = await reader.startExport(env.ledger, { format: 'jsonl' });
  const progress = [];
  const done = await reader.waitExport(env.ledger, started.id, { pollMs: 100, onProgress: (w, t) => progress.push([w, t]) });
  assert.equal(done.events_written, 50);
  assert.deepEqual(progress.at(-1), [50, 50]);
  const bytes = await reader.downloadExport(env.ledger, started.id);
  assert.equal(bytes[0], 0x50, 'a ZIP file');
  await writer.close();
  await reader.close();
});

test('errors are typed problems and never show the key', async () => {
  const env = await live();
  const wrong = `${env.writer}x`;
  const client = new Client({ baseUrl: env.base, apiKey: wrong, ledger: env.ledger, maxRetries: 0 });
  await assert.rejects(client.append([invoice(1)]), (e) => {
    assert.ok(e instanceof ProblemError && e.status === 401);
    const shown = `${e.message} ${e.stack} ${JSON.stringify(e)} ${JSON.stringify(client)}`;
    assert.ok(!shown.includes(env.writer.slice(10)), shown);
    return true;
  });
  const writer = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  await assert.rejects(writer.append([{ actor: { type: 'user' }, action: 'x.y' }]), (e) => e instanceof ProblemError && e.status === 400 && Boolean(e.field));
  await client.close();
  await writer.close();
});
