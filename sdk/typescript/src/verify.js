// Verification, trusting nothing of the server's (docs/SDK.md §6), with
// what Node 20+ and browsers provide (Web Crypto SHA-256 and Ed25519) and
// the `canonicalize` RFC 8785 library: leaf hashes from an event's content
// (FORMAT.md §2–4), C2SP signed checkpoints against a pinned key (§10),
// RFC 9162 inclusion and consistency proofs (§7, §8) and evidence files
// (§12).

import canonicalize from 'canonicalize';
import { VerificationError } from './errors.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: true });

// Node hashes synchronously with its own crypto module, which spares every
// hash of a proof Web Crypto's asynchronous round trip (ten times the
// verification rate); browsers use Web Crypto.
const nodeHash =
  typeof process !== 'undefined' && process.versions?.node
    ? (await import('node:crypto')).createHash
    : null;

export async function sha256(bytes) {
  if (nodeHash) return new Uint8Array(nodeHash('sha256').update(bytes).digest());
  return new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
}

export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function fromHex(text) {
  if (typeof text !== 'string' || !/^([0-9a-f]{2})*$/.test(text)) throw new VerificationError(`not lowercase hex: ${text}`);
  const bytes = new Uint8Array(text.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return bytes;
}

// A SHA-256 hash given as hex: anything but 32 bytes is not one, and a
// shorter "hash" must not pass for a proof element or a root.
function hash32(text) {
  const bytes = fromHex(text);
  if (bytes.length !== 32) throw new VerificationError(`a SHA-256 hash is 32 bytes, not ${bytes.length}`);
  return bytes;
}

function fromBase64(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) throw new VerificationError('not base64');
  const raw = atob(text);
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

/** RFC 8785 canonical JSON, as a string. */
export function jcs(value) {
  return canonicalize(value);
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

/** `occurred_at` normalised as FORMAT.md §2 says: UTC, exactly three
 * fractional digits, truncated; a leap second becomes .999. */
export function normaliseTime(text) {
  const m = TIME.exec(text);
  if (!m) throw new VerificationError(`occurred_at ${text} is not an RFC 3339 date-time`);
  const [, y, mo, d, h, mi, s, frac, offset] = m;
  const leap = Number(s) === 60;
  const ms = leap ? 999 : Number(((frac ?? '.').slice(1) + '000').slice(0, 3));
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), leap ? 59 : Number(s), ms);
  if (date.getUTCMonth() !== Number(mo) - 1 || date.getUTCDate() !== Number(d) || Number(h) > 23 || Number(mi) > 59) {
    throw new VerificationError(`occurred_at ${text} is not a valid date-time`);
  }
  let shift = 0;
  if (offset !== 'Z' && offset !== 'z') {
    const sign = offset[0] === '-' ? -1 : 1;
    shift = sign * (Number(offset.slice(1, 3)) * 60 + Number(offset.slice(4, 6))) * 60_000;
  }
  const utc = new Date(date.getTime() - shift);
  const year = utc.getUTCFullYear();
  if (year < 0 || year > 9999) throw new VerificationError(`occurred_at ${text} is outside years 0000–9999`);
  return utc.toISOString();
}

// Exactly the members the entry commits to: any other would be content no
// hash covers, shown as if it were signed (FORMAT.md §1, §4).
const PARTY_MEMBERS = new Set(['type', 'id', 'name']);

function party(value, what) {
  if (!value || typeof value !== 'object' || Array.isArray(value) || typeof value.type !== 'string' || typeof value.id !== 'string') {
    throw new VerificationError(`${what} must have a type and an id`);
  }
  if (Object.keys(value).some((k) => !PARTY_MEMBERS.has(k))) throw new VerificationError(`${what} has members other than type, id and name`);
  if ('name' in value && typeof value.name !== 'string') throw new VerificationError(`${what}'s name must be a string`);
  const out = { type: value.type, id: value.id };
  if ('name' in value) out.name = value.name;
  return out;
}

/** The RFC 9162 leaf hash (lowercase hex) of an event, computed from its
 * content: `id`, `actor`, `action`, `resource`, `occurred_at`, `metadata`
 * (FORMAT.md §4). Other top-level members (`seq`, `received_at`…) are not
 * part of it; an actor or resource with members other than type, id and
 * name is refused, since nothing would commit to them. */
export async function leafHash(event) {
  if (!event || typeof event !== 'object') throw new VerificationError('an event is a JSON object');
  if (typeof event.id !== 'string') throw new VerificationError('the event has no id, so no leaf hash');
  if (typeof event.action !== 'string') throw new VerificationError('the event has no action');
  const metadata = event.metadata === undefined ? {} : event.metadata;
  if (!metadata || typeof metadata !== 'object' || Array.isArray(metadata)) throw new VerificationError('metadata is an object');
  const metadataHash = toHex(await sha256(encoder.encode(jcs(metadata))));
  const entry = jcs({
    id: event.id,
    actor: party(event.actor, 'actor'),
    action: event.action,
    resource: party(event.resource, 'resource'),
    occurred_at: normaliseTime(event.occurred_at),
    metadata_hash: metadataHash,
  });
  return toHex(await sha256(concat(new Uint8Array([0]), encoder.encode(entry))));
}

async function node(left, right) {
  return sha256(concat(new Uint8Array([1]), left, right));
}

/** RFC 9162 §2.1.3.2: `leaf` (hex) is leaf `index` of the tree of `size`
 * with `root` (hex), by `proof` (hex list). */
export async function verifyInclusion(index, size, leaf, proof, root) {
  if (!(index < size)) throw new VerificationError(`leaf ${index} is not in a tree of ${size}`);
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  let r = hash32(leaf);
  for (const hex of proof) {
    const p = hash32(hex);
    if (sn === 0n) throw new VerificationError('the inclusion proof is too long');
    if (fn % 2n === 1n || fn === sn) {
      r = await node(p, r);
      if (fn % 2n === 0n) {
        while (fn % 2n === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      r = await node(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) throw new VerificationError('the inclusion proof is too short');
  if (!equal(r, hash32(root))) throw new VerificationError('the inclusion proof does not lead to the signed root');
}

/** RFC 9162 §2.1.4.2: the tree of `oldSize` with `oldRoot` is a prefix of
 * the tree of `newSize` with `newRoot`. */
export async function verifyConsistency(oldSize, newSize, oldRoot, newRoot, proof) {
  if (oldSize > newSize) throw new VerificationError(`the tree shrank from ${oldSize} to ${newSize}`);
  if (oldSize === 0) throw new VerificationError('no consistency proof from the empty tree');
  // Equal sizes need no proof: the roots are compared as they are (as RFC
  // 9162 and the transparency-dev vectors do), not hashed with anything.
  if (oldSize === newSize) {
    if (proof.length !== 0 || oldRoot !== newRoot) throw new VerificationError('two different trees of one size');
    return;
  }
  if (proof.length === 0) throw new VerificationError('an empty consistency proof');
  const first = hash32(oldRoot);
  const second = hash32(newRoot);
  let path = proof.map(hash32);
  const m = BigInt(oldSize);
  if ((m & (m - 1n)) === 0n) path = [first, ...path];
  let fn = m - 1n;
  let sn = BigInt(newSize) - 1n;
  while (fn % 2n === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) throw new VerificationError('the consistency proof is too long');
    if (fn % 2n === 1n || fn === sn) {
      fr = await node(c, fr);
      sr = await node(c, sr);
      if (fn % 2n === 0n) {
        while (fn % 2n === 0n && fn !== 0n) {
          fn >>= 1n;
          sn >>= 1n;
        }
      }
    } else {
      sr = await node(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n || !equal(fr, first) || !equal(sr, second)) {
    throw new VerificationError('the consistency proof does not join the two trees');
  }
}

// The eight points of small order on edwards25519 (8·P is the identity), in
// their canonical encodings (the list libsodium blocks; recomputed here from
// the curve equation): a signature "by" one of them proves nothing, so
// FORMAT.md §10 has verifiers refuse such keys. Encodings of y ≥ p are
// refused separately, so no other spelling of these points gets through.
const SMALL_ORDER = new Set([
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0000000000000000000000000000000000000000000000000000000000000080',
  '0100000000000000000000000000000000000000000000000000000000000000',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
]);
const FIELD_PRIME = 2n ** 255n - 19n;

// Whether a 32-byte Ed25519 public key is a small-order point or a
// non-canonical encoding (its y, the low 255 bits little-endian, ≥ p).
function weakKey(point) {
  if (SMALL_ORDER.has(toHex(point))) return true;
  let y = 0n;
  for (let i = 31; i >= 0; i--) y = (y << 8n) | BigInt(i === 31 ? point[i] & 0x7f : point[i]);
  return y >= FIELD_PRIME;
}

/** A parsed verifier key `<name>+<key id hex>+<base64(0x01 || key)>`. */
export async function parseVerifierKey(text) {
  // The base64 part may hold '+' itself: split at the first two only.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(String(text).trim());
  if (!m) throw new VerificationError('a verifier key is <name>+<key id>+<base64 key>');
  const [, name, id, b64] = m;
  const raw = fromBase64(b64);
  if (raw.length !== 33 || raw[0] !== 1) throw new VerificationError('not an Ed25519 verifier key');
  const computed = toHex((await sha256(concat(encoder.encode(name), new Uint8Array([0x0a]), raw))).slice(0, 4));
  if (computed !== id) throw new VerificationError('the verifier key id does not match its key');
  if (weakKey(raw.slice(1))) throw new VerificationError('a small-order or non-canonical Ed25519 key');
  const key = await crypto.subtle.importKey('raw', raw.slice(1), { name: 'Ed25519' }, false, ['verify']);
  return { name, id, key, text: m[0] };
}

/** A C2SP signed checkpoint verified against `verifier` (a parsed key or
 * its text): `{origin, treeSize, root (hex), note}`. */
export async function verifyCheckpoint(note, verifier) {
  const key = typeof verifier === 'string' ? await parseVerifierKey(verifier) : verifier;
  // Unicode control characters (C0 but newline, DEL, C1) are refused.
  if (typeof note !== 'string' || /[\u0000-\u0009\u000b-\u001f\u007f-\u009f]/.test(note)) throw new VerificationError('a malformed note');
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new VerificationError('a note without signatures');
  const text = note.slice(0, split + 1);
  const lines = note.slice(split + 2);
  if (!lines.endsWith('\n')) throw new VerificationError('a signature line must end in a newline');
  const signatureLines = lines.slice(0, -1).split('\n');
  if (signatureLines.length > 100) throw new VerificationError('more than 100 signature lines');
  let verified = 0;
  for (const line of signatureLines) {
    const m = /^\u2014 (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
    if (!m) throw new VerificationError('a malformed signature line');
    const [, name, b64] = m;
    const blob = fromBase64(b64);
    if (name !== key.name || blob.length < 4 || toHex(blob.slice(0, 4)) !== key.id) continue;
    const ok = blob.length === 68 && (await crypto.subtle.verify('Ed25519', key.key, blob.slice(4), encoder.encode(text)));
    if (!ok) throw new VerificationError('the checkpoint signature does not verify with the pinned key');
    verified++;
  }
  if (verified === 0) throw new VerificationError('no signature by the pinned key');
  const body = text.slice(0, -1).split('\n');
  // Extension lines after the root are ignored, but only non-empty ones.
  if (body.length < 3 || body.slice(3).some((line) => line === '')) throw new VerificationError('a malformed checkpoint body');
  const [origin, size, root] = body;
  if (!/^(0|[1-9][0-9]*)$/.test(size)) throw new VerificationError('a malformed tree size');
  const rootBytes = fromBase64(root);
  if (rootBytes.length !== 32) throw new VerificationError('a malformed root');
  return { origin, treeSize: Number(size), root: toHex(rootBytes), note };
}

/** Whether a checkpoint's origin names `ledger` (`<host>/ledgers/<ledger>`). */
export function originNamesLedger(origin, ledger) {
  return origin.endsWith(`/ledgers/${ledger}`);
}

const EVIDENCE_MEMBERS = ['action', 'actor', 'id', 'metadata', 'occurred_at', 'resource'];

// The extra data of an evidence file: exactly the canonical JSON of a
// normalised event (FORMAT.md §12), so each event has one encoding and no
// member rides along that the leaf hash does not cover.
function parseExtra(b64) {
  let json;
  let event;
  try {
    json = decoder.decode(fromBase64(b64));
    event = JSON.parse(json);
  } catch {
    throw new VerificationError('the extra data is not JSON');
  }
  if (!event || typeof event !== 'object' || Array.isArray(event) || jcs(event) !== json) {
    throw new VerificationError('the extra data is not the canonical JSON of the event');
  }
  const members = Object.keys(event).sort();
  if (members.length !== EVIDENCE_MEMBERS.length || members.some((k, i) => k !== EVIDENCE_MEMBERS[i])) {
    throw new VerificationError(`the extra data's event must have exactly the members ${EVIDENCE_MEMBERS.join(', ')}`);
  }
  if (!event.metadata || typeof event.metadata !== 'object' || Array.isArray(event.metadata)) {
    throw new VerificationError("the extra data's metadata is not an object");
  }
  if (typeof event.occurred_at !== 'string' || normaliseTime(event.occurred_at) !== event.occurred_at) {
    throw new VerificationError("the extra data's occurred_at is not normalised");
  }
  return event;
}

/** An evidence file (FORMAT.md §12) verified offline against the pinned
 * key: `{ledger, seq, treeSize, event}`. */
export async function verifyEvidence(text, verifier) {
  const lines = String(text).split('\n');
  if (lines[0] !== 'c2sp.org/tlog-proof@v1') throw new VerificationError('not a tlog-proof file');
  const extra = /^extra ([A-Za-z0-9+/=]+)$/.exec(lines[1] ?? '');
  const index = /^index (0|[1-9][0-9]*)$/.exec(lines[2] ?? '');
  if (!extra || !index) throw new VerificationError('a malformed evidence file');
  const proof = [];
  let at = 3;
  while (at < lines.length && lines[at] !== '') {
    const hash = fromBase64(lines[at]);
    if (hash.length !== 32 || proof.length >= 64) throw new VerificationError('a malformed proof line');
    proof.push(toHex(hash));
    at++;
  }
  if (lines[at] !== '') throw new VerificationError('the proof must end with an empty line');
  const note = lines.slice(at + 1).join('\n');
  const checkpoint = await verifyCheckpoint(note, verifier);
  const event = parseExtra(extra[1]);
  const seq = Number(index[1]);
  await verifyInclusion(seq, checkpoint.treeSize, await leafHash(event), proof, checkpoint.root);
  const ledger = checkpoint.origin.slice(checkpoint.origin.lastIndexOf('/ledgers/') + '/ledgers/'.length);
  if (!checkpoint.origin.includes('/ledgers/') || ledger === '') throw new VerificationError('the origin names no ledger');
  return { ledger, seq, treeSize: checkpoint.treeSize, event };
}

/** An event proven entry `event.seq` of the signed tree (SDK.md §6): its
 * leaf hash computed here from its content (never the one the server sent;
 * an event whose sent `leaf_hash` differs fails), the inclusion proof
 * against the checkpoint's root. Answers the leaf hash (hex). */
export async function verifyEvent(event, proof, checkpoint) {
  if (!event || typeof event !== 'object') throw new VerificationError('an event is a JSON object');
  if (event.tombstoned) throw new VerificationError(`event ${event.id} is a tombstone: its content is archived`);
  const local = await leafHash(event);
  if (event.leaf_hash !== undefined && event.leaf_hash !== local) {
    throw new VerificationError(`event ${event.id}'s content does not hash to the leaf hash it came with`);
  }
  if (!Number.isSafeInteger(event.seq) || event.seq < 0) throw new VerificationError('the event has no seq');
  await verifyInclusion(event.seq, checkpoint.treeSize, local, proof, checkpoint.root);
  return local;
}
