// The client against a live AuditStore (see support.js).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CheckpointTracker, Client, FileStore, ForkError, MemoryStore, ProblemError, RollbackError, VerificationError, jcs, leafHash,
  verifyCheckpoint, verifyEvent, verifyEvidence, verifyInclusion,
} from '../src/index.js';
import { invoice, live, signer } from './support.js';

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

// Base64 of the canonical JSON of `event`, as an evidence file's extra line.
const extraLine = (event) => `extra ${Buffer.from(jcs(event)).toString('base64')}`;

test('an evidence file whose event carries anything the leaf hash does not cover is refused, naming it', async () => {
  const env = await live();
  const writer = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  const [appended] = (await writer.append([{ ...invoice(1), actor: { type: 'user', id: 'u_1', name: 'Jane' } }])).events;
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader, verifierKey: env.verifierKey });
  const evidence = await reader.evidence(env.ledger, appended.id);
  const { event } = await verifyEvidence(evidence, env.verifierKey);
  const line = evidence.split('\n')[1];
  assert.equal(line, extraLine(event), 'the extra line is the canonical JSON of the event');
  const { metadata, ...withoutMetadata } = event;
  const twins = [
    [{ ...event, actor: { ...event.actor, role: 'admin' } }, /actor has members other than type, id and name/],
    [{ ...event, resource: { ...event.resource, owner: 'x' } }, /resource has members other than type, id and name/],
    [{ ...event, seq: appended.seq }, /must have exactly the members action, actor, id, metadata, occurred_at, resource/],
    [{ ...event, occurred_at: event.occurred_at.replace(/\.\d{3}Z$/, 'Z') }, /occurred_at is not normalised/],
    [{ ...event, occurred_at: event.occurred_at.replace('Z', '+00:00') }, /occurred_at is not normalised/],
    [withoutMetadata, /must have exactly the members/],
    [{ ...event, metadata: [metadata] }, /metadata is not an object/],
  ];
  for (const [twin, message] of twins) {
    await assert.rejects(verifyEvidence(evidence.replace(line, extraLine(twin)), env.verifierKey), message, JSON.stringify(twin));
  }
  // Not canonical: the same event with its members in another order.
  const reordered = `extra ${Buffer.from(JSON.stringify({ resource: event.resource, ...event })).toString('base64')}`;
  await assert.rejects(verifyEvidence(evidence.replace(line, reordered), env.verifierKey), /not the canonical JSON/);
  await writer.close();
  await reader.close();
});

test('verifyEvent computes the leaf hash itself, with a tampered twin of each part', async () => {
  const env = await live();
  const writer = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  const appended = await writer.append([0, 1, 2, 3, 4].map(invoice));
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader, verifierKey: env.verifierKey });
  const event = await reader.getEvent(env.ledger, appended.events[2].id);
  const checkpoint = await reader.checkpoint(env.ledger);
  const proof = await reader.inclusionProof(env.ledger, event.seq, checkpoint.treeSize);
  assert.equal(await verifyEvent(event, proof, checkpoint), event.leaf_hash);
  const { leaf_hash: _, ...unsent } = event;
  assert.equal(await verifyEvent(unsent, proof, checkpoint), event.leaf_hash, 'no leaf_hash sent: computed all the same');
  // The server's leaf hash is never trusted: content and hash changed together still fail.
  const altered = { ...event, metadata: { n: 99 } };
  await assert.rejects(verifyEvent({ ...altered, leaf_hash: await leafHash(altered) }, proof, checkpoint), /signed root/);
  await assert.rejects(verifyEvent(altered, proof, checkpoint), /does not hash to the leaf hash it came with/);
  await assert.rejects(verifyEvent({ ...event, leaf_hash: '00'.repeat(32) }, proof, checkpoint), /does not hash to the leaf hash/);
  await assert.rejects(verifyEvent({ ...event, actor: { ...event.actor, role: 'admin' } }, proof, checkpoint), /actor has members other/);
  await assert.rejects(verifyEvent({ ...event, tombstoned: true }, proof, checkpoint), /tombstone/);
  await assert.rejects(verifyEvent({ ...event, seq: event.seq + 1 }, proof, checkpoint), VerificationError);
  const flipped = [...proof];
  flipped[0] = `${flipped[0][0] === '0' ? '1' : '0'}${flipped[0].slice(1)}`;
  await assert.rejects(verifyEvent(event, flipped, checkpoint), /signed root/);
  await assert.rejects(verifyEvent(event, proof, { ...checkpoint, root: '11'.repeat(32) }), /signed root/);
  await writer.close();
  await reader.close();
});

test('a checkpoint with one byte of its signature flipped, or verified with another key, fails', async () => {
  const env = await live();
  const writer = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  await writer.append([invoice(1)]);
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader });
  const note = await reader.checkpointNote(env.ledger);
  await verifyCheckpoint(note, env.verifierKey);
  const line = note.split('\n').find((l) => l.startsWith('\u2014 '));
  const [dash, name, b64] = line.split(' ');
  const blob = Buffer.from(b64, 'base64');
  assert.equal(blob.length, 68);
  for (const at of [4, 40, 67]) {
    const flipped = Buffer.from(blob);
    flipped[at] ^= 0x01;
    const forged = note.replace(line, `${dash} ${name} ${flipped.toString('base64')}`);
    await assert.rejects(verifyCheckpoint(forged, env.verifierKey), /does not verify with the pinned key/);
  }
  // Another valid key, even one of the same name, signed none of its lines.
  for (const other of [signer('other.example'), signer(name)]) {
    await assert.rejects(verifyCheckpoint(note, other.verifierKey), /no signature by the pinned key/);
  }
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
  await assert.rejects(new CheckpointTracker(reader, sameSize).track(env.ledger, second.note), (e) => e.seenNote === second.note && e.storedNote === '');
  await writer.close();
  await reader.close();
});

// A store whose saves are slow, so two unserialised tracks would interleave.
class SlowStore extends MemoryStore {
  async load(ledger) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    return super.load(ledger);
  }
  async save(ledger, checkpoint) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    return super.save(ledger, checkpoint);
  }
}

test('concurrent tracks of one ledger never store an older tree over a newer one', async () => {
  const env = await live();
  const writer = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader, verifierKey: env.verifierKey });
  await writer.append([0, 1, 2].map(invoice));
  const older = await reader.checkpointNote(env.ledger);
  await writer.append([3, 4, 5, 6].map(invoice));
  const newer = await reader.checkpointNote(env.ledger);
  const newerSize = (await verifyCheckpoint(newer, env.verifierKey)).treeSize;
  // The newer first: the older then is a rollback, and the newer stays.
  const first = new CheckpointTracker(reader, new SlowStore());
  const [a, b] = await Promise.allSettled([first.track(env.ledger, newer), first.track(env.ledger, older)]);
  assert.equal(a.status, 'fulfilled');
  assert.ok(b.reason instanceof RollbackError, String(b.reason));
  assert.equal((await first.stored(env.ledger)).tree_size, newerSize);
  // The older first: the newer is proven against it and replaces it.
  const second = new CheckpointTracker(reader, new SlowStore());
  await Promise.all([second.track(env.ledger, older), second.track(env.ledger, newer)]);
  assert.equal((await second.stored(env.ledger)).tree_size, newerSize);
  // Two ledgers saved at once into one file: neither is lost.
  const other = await live();
  const otherWriter = new Client({ baseUrl: other.base, apiKey: other.writer, ledger: other.ledger });
  await otherWriter.append([invoice(1)]);
  const otherReader = new Client({ baseUrl: other.base, apiKey: other.reader, verifierKey: other.verifierKey });
  const dir = mkdtempSync(join(tmpdir(), 'tracker-'));
  const file = join(dir, 'checkpoints.json');
  await Promise.all([new CheckpointTracker(reader, new FileStore(file)).update(env.ledger), new CheckpointTracker(otherReader, new FileStore(file)).update(other.ledger)]);
  const both = new FileStore(file);
  assert.equal((await both.load(env.ledger)).tree_size, newerSize);
  assert.equal((await both.load(other.ledger)).tree_size, 1);
  const store = new FileStore(file);
  await Promise.all([store.save('a', { tree_size: 1, root: '', note: '' }), store.save('b', { tree_size: 2, root: '', note: '' })]);
  assert.deepEqual([(await store.load('a')).tree_size, (await store.load('b')).tree_size, (await store.load(env.ledger)).tree_size], [1, 2, newerSize]);
  assert.deepEqual(readdirSync(dir), ['checkpoints.json'], 'no temporary file left');
  for (const c of [writer, reader, otherWriter, otherReader]) await c.close();
});

test('a consistency proof that fails is a fork with both notes, and leaves the store untouched', async () => {
  const env = await live();
  const writer = new Client({ baseUrl: env.base, apiKey: env.writer, ledger: env.ledger });
  const reader = new Client({ baseUrl: env.base, apiKey: env.reader, verifierKey: env.verifierKey });
  await writer.append([0, 1, 2].map(invoice));
  const file = join(mkdtempSync(join(tmpdir(), 'tracker-')), 'checkpoints.json');
  const tracker = new CheckpointTracker(reader, new FileStore(file));
  const first = await tracker.update(env.ledger);
  const before = readFileSync(file, 'utf8');
  await writer.append([3, 4, 5].map(invoice));
  const newer = await reader.checkpointNote(env.ledger);
  const honest = reader.consistencyProof.bind(reader);
  reader.consistencyProof = async (...args) => (await honest(...args)).map((hash, i) => (i === 0 ? `${hash[0] === 'a' ? 'b' : 'a'}${hash.slice(1)}` : hash));
  await assert.rejects(tracker.track(env.ledger, newer), (e) => {
    assert.ok(e instanceof ForkError, String(e));
    assert.deepEqual([e.storedNote, e.seenNote], [first.note, newer]);
    return true;
  });
  assert.equal(readFileSync(file, 'utf8'), before);
  reader.consistencyProof = honest;
  assert.ok((await tracker.track(env.ledger, newer)).treeSize > first.treeSize, 'the honest proof verifies');
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
  // To a path: streamed, hashed, renamed into place; the digest answered.
  const dir = mkdtempSync(join(tmpdir(), 'export-'));
  const path = join(dir, 'export.zip');
  const digest = await reader.downloadExport(env.ledger, started.id, path);
  assert.equal(digest, done.sha256);
  assert.equal(createHash('sha256').update(readFileSync(path)).digest('hex'), digest);
  assert.deepEqual(readdirSync(dir), ['export.zip']);
  // The twin: an export reporting another SHA-256 fails, and leaves no file.
  const lying = new Client({
    baseUrl: env.base,
    apiKey: env.reader,
    fetch: async (url, init) => {
      const response = await fetch(url, init);
      if (!String(url).endsWith(`/exports/${started.id}`)) return response;
      const status = await response.json();
      return new Response(JSON.stringify({ ...status, sha256: '0'.repeat(64) }), { status: response.status, headers: response.headers });
    },
  });
  await assert.rejects(lying.downloadExport(env.ledger, started.id), /the export reported 0{64}/);
  const elsewhere = join(dir, 'lying.zip');
  await assert.rejects(lying.downloadExport(env.ledger, started.id, elsewhere), /the export reported 0{64}/);
  assert.deepEqual(readdirSync(dir), ['export.zip'], 'neither the file nor its temporary one left');
  await writer.close();
  await reader.close();
  await lying.close();
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
