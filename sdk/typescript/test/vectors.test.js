// Local verification against the published vectors: every event's leaf
// hash (docs/vectors/events.json), the shared RFC 8785 vectors, the RFC
// 6962 inclusion and consistency proofs of transparency-dev/merkle, the
// time normalisation examples of FORMAT.md §2 and the signed-note example
// of §10, each with a tampered twin; and the strict parsing of §10 against
// notes signed by a key of the tests' own.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  VerificationError, jcs, leafHash, normaliseTime, parseVerifierKey, verifyCheckpoint, verifyConsistency, verifyInclusion,
} from '../src/index.js';
import { keyId, signer } from './support.js';

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

test('a party with members no hash covers is refused; top-level extras of a stored event are not hashed', async () => {
  const { event, leaf_hash: hash } = vectors.events[0];
  assert.equal(await leafHash({ ...event, seq: 7, leaf_hash: hash, received_at: '2026-01-01T00:00:00.000Z' }), hash);
  await assert.rejects(leafHash({ ...event, actor: { ...event.actor, role: 'admin' } }), /actor has members other than type, id and name/);
  await assert.rejects(leafHash({ ...event, resource: { ...event.resource, owner: 'x' } }), /resource has members other/);
  await assert.rejects(leafHash({ ...event, actor: { ...event.actor, name: 7 } }), /actor's name must be a string/);
  await assert.rejects(leafHash({ ...event, actor: { type: 'user', id: 1 } }), /type and an id/);
});

const b64hex = (text) => Buffer.from(text, 'base64').toString('hex');

function rfc6962(kind) {
  const dir = `${root}../shared/vectors/rfc6962/${kind}`;
  const files = [];
  const walk = (at) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(at, entry.name));
      else if (entry.name.endsWith('.json')) files.push(join(at, entry.name));
    }
  };
  walk(dir);
  assert.equal(files.length, 98, kind);
  return files.sort().map((file) => [file, JSON.parse(readFileSync(file, 'utf8'))]);
}

async function verdicts(kind, check) {
  let good = 0;
  let bad = 0;
  for (const [file, v] of rfc6962(kind)) {
    let failed = false;
    try {
      await check(v);
    } catch (e) {
      assert.ok(e instanceof VerificationError, `${file}: ${e}`);
      failed = true;
    }
    assert.equal(failed, Boolean(v.wantErr), `${file}: ${v.desc}`);
    if (failed) bad++;
    else good++;
  }
  assert.ok(good > 0 && bad > 0);
}

test('the RFC 6962 inclusion vectors: good ones verify, wantErr ones fail', async () => {
  await verdicts('inclusion', (v) => verifyInclusion(v.leafIdx, v.treeSize, b64hex(v.leafHash), (v.proof ?? []).map(b64hex), b64hex(v.root)));
});

test('the RFC 6962 consistency vectors: good ones verify, wantErr ones fail', async () => {
  await verdicts('consistency', (v) => verifyConsistency(v.size1, v.size2, b64hex(v.root1), b64hex(v.root2), (v.proof ?? []).map(b64hex)));
});

test('a proof’s hashes are 32 bytes each: leaf, root and every element, with their twins', async () => {
  const inclusion = rfc6962('inclusion').map(([, v]) => v).find((v) => !v.wantErr && (v.proof ?? []).length >= 2);
  const args = [inclusion.leafIdx, inclusion.treeSize, b64hex(inclusion.leafHash), inclusion.proof.map(b64hex), b64hex(inclusion.root)];
  await verifyInclusion(...args);
  const short = (hex) => hex.slice(0, 62);
  const long = (hex) => `${hex}00`;
  await assert.rejects(verifyInclusion(args[0], args[1], short(args[2]), args[3], args[4]), /32 bytes, not 31/);
  await assert.rejects(verifyInclusion(args[0], args[1], args[2], args[3], long(args[4])), /32 bytes, not 33/);
  await assert.rejects(verifyInclusion(args[0], args[1], args[2], [args[3][0], short(args[3][1])], args[4]), /32 bytes, not 31/);
  const consistency = rfc6962('consistency').map(([, v]) => v).find((v) => !v.wantErr && (v.proof ?? []).length >= 2);
  const c = [consistency.size1, consistency.size2, b64hex(consistency.root1), b64hex(consistency.root2), consistency.proof.map(b64hex)];
  await verifyConsistency(...c);
  await assert.rejects(verifyConsistency(c[0], c[1], short(c[2]), c[3], c[4]), /32 bytes, not 31/);
  await assert.rejects(verifyConsistency(c[0], c[1], c[2], long(c[3]), c[4]), /32 bytes, not 33/);
  await assert.rejects(verifyConsistency(c[0], c[1], c[2], c[3], [c[4][0], long(c[4][1])]), /32 bytes, not 33/);
});

test('FORMAT.md §10 parsing: control characters, signature lines and extension lines, each with its twin', async () => {
  const key = signer('tests.example');
  const root = Buffer.alloc(32, 7).toString('base64');
  const body = (extra = '') => `tests.example/ledgers/l\n5\n${root}\n${extra}`;
  const good = await verifyCheckpoint(key.note(body()), key.verifierKey);
  assert.deepEqual([good.origin, good.treeSize, good.root], ['tests.example/ledgers/l', 5, '07'.repeat(32)]);
  // Non-empty extension lines are accepted; empty ones are not.
  assert.equal((await verifyCheckpoint(key.note(body('ext\n')), key.verifierKey)).treeSize, 5);
  await assert.rejects(verifyCheckpoint(key.note(body('\next\n')), key.verifierKey), /malformed checkpoint body/);
  await assert.rejects(verifyCheckpoint(key.note(body('\n')), key.verifierKey), /malformed checkpoint body/);
  // Control characters: C0 (but newline), DEL and C1 anywhere in the note.
  assert.equal((await verifyCheckpoint(key.note(body('caf\u00e9\n')), key.verifierKey)).treeSize, 5);
  for (const control of ['\u0001', '\t', '\u007f', '\u0080', '\u0085', '\u009f']) {
    await assert.rejects(verifyCheckpoint(key.note(body(`a${control}b\n`)), key.verifierKey), /malformed note/, JSON.stringify(control));
  }
  // At most 100 signature lines, those by other keys ignored.
  const other = signer('other.example');
  const text = `${body()}`;
  const lines = (n) => `${text}\n${other.line(text).repeat(n - 1)}${key.line(text)}`;
  assert.equal((await verifyCheckpoint(lines(100), key.verifierKey)).treeSize, 5);
  await assert.rejects(verifyCheckpoint(lines(101), key.verifierKey), /more than 100 signature lines/);
});

test('small-order and non-canonical Ed25519 verifier keys are refused', async () => {
  const verifierKey = (point) => {
    const raw = Buffer.concat([Buffer.from([1]), Buffer.from(point, 'hex')]);
    return `weak+${keyId('weak', raw).toString('hex')}+${raw.toString('base64')}`;
  };
  // The identity point (y = 1), and y = p (a non-canonical spelling of y = 0).
  await assert.rejects(parseVerifierKey(verifierKey(`01${'00'.repeat(31)}`)), /small-order/);
  await assert.rejects(parseVerifierKey(verifierKey(`ed${'ff'.repeat(30)}7f`)), /non-canonical/);
  // The twin: a real key parses.
  assert.equal((await parseVerifierKey(signer('strong').verifierKey)).name, 'strong');
});
