// Local verification against the published vectors: every event's leaf
// hash (docs/vectors/events.json), the shared RFC 8785 vectors, the time
// normalisation examples of FORMAT.md §2 and the signed-note example of
// §10, each with a tampered twin.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { jcs, leafHash, normaliseTime, verifyCheckpoint, parseVerifierKey } from '../src/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const vectors = JSON.parse(readFileSync(`${root}docs/vectors/events.json`, 'utf8'));

test('every vector event hashes to its published leaf hash, and every twin differs', async () => {
  assert.ok(vectors.events.length >= 10);
  for (const vector of vectors.events) {
    assert.equal(await leafHash(vector.event), vector.leaf_hash, vector.event.id);
    const twins = [
      { ...vector.event, action: `${vector.event.action}x` },
      { ...vector.event, actor: { ...vector.event.actor, id: 'someone-else' } },
      { ...vector.event, metadata: { ...(vector.event.metadata ?? {}), added: true } },
    ];
    for (const twin of twins) assert.notEqual(await leafHash(twin), vector.leaf_hash);
  }
});

test('the shared RFC 8785 vectors canonicalise byte for byte', () => {
  const dir = `${root}../shared/vectors/jcs`;
  const inputs = readdirSync(`${dir}/input`);
  assert.ok(inputs.length >= 5);
  for (const name of inputs) {
    const input = JSON.parse(readFileSync(`${dir}/input/${name}`, 'utf8'));
    assert.equal(jcs(input), readFileSync(`${dir}/output/${name}`, 'utf8'), name);
  }
});

test('times normalise as FORMAT.md §2 says', () => {
  for (const [input, output] of [
    ['2026-11-26T12:30:00.123456789+02:30', '2026-11-26T10:00:00.123Z'],
    ['2026-12-31T20:00:00.9999-05:00', '2027-01-01T01:00:00.999Z'],
    ['2026-11-26T10:00:01Z', '2026-11-26T10:00:01.000Z'],
    ['1999-12-31T23:59:59.9999999Z', '1999-12-31T23:59:59.999Z'],
    ['2016-12-31t23:59:60.5z', '2016-12-31T23:59:59.999Z'],
  ]) {
    assert.equal(normaliseTime(input), output, input);
  }
  assert.throws(() => normaliseTime('yesterday'));
  assert.throws(() => normaliseTime('2026-02-30T00:00:00Z'));
});

test('the reference signed note verifies with its key, and not once altered', async () => {
  const key = 'PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW';
  const note =
    'If you think cryptography is the answer to your problem,\nthen you don\'t know what your problem is.\n\n' +
    '\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n';
  // The body is not a checkpoint, so only the signature part passes.
  await assert.rejects(verifyCheckpoint(note, key), /checkpoint body|tree size|root/);
  await assert.rejects(verifyCheckpoint(note.replace('answer', 'answers'), key), /does not verify/);
  await assert.rejects(parseVerifierKey(key.replace('c74f20a3', 'c74f20a4')), /key id/);
});
