// A live AuditStore for the tests: the test command (scripts/test.sh)
// starts the suite's server binary on a fresh data directory, bootstraps
// an account and passes its URL and admin key; NODE_EXTRA_CA_CERTS trusts
// its self-signed certificate. Each test gets a ledger and keys of its own.

import { createHash, generateKeyPairSync, sign } from 'node:crypto';

export async function live() {
  const base = process.env.AUDITSTORE_TEST_URL;
  const admin = process.env.AUDITSTORE_TEST_ADMIN_KEY;
  if (!base || !admin) throw new Error('AUDITSTORE_TEST_URL and AUDITSTORE_TEST_ADMIN_KEY: run these tests with `make test`');
  const post = async (path, body) => {
    const response = await fetch(`${base}/v1${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    return response.json();
  };
  const name = `ts-${Date.now()}-${Math.random().toString(16).slice(2, 8)}`;
  const ledger = (await post('/ledgers', { name })).id;
  const writer = (await post('/keys', { name: `${name}-w`, permission: 'write', ledgers: [ledger] })).secret;
  const reader = (await post('/keys', { name: `${name}-r`, permission: 'read', ledgers: [ledger] })).secret;
  const verifierKey = (await (await fetch(`${base}/v1/checkpoint-key`)).text()).trim();
  return { base, admin, ledger, writer, reader, verifierKey };
}

export function invoice(n) {
  return {
    actor: { type: 'user', id: `u_${n % 5}` },
    action: 'invoice.updated',
    resource: { type: 'invoice', id: `inv_${n}` },
    metadata: { n },
  };
}

/** The key id of FORMAT.md §10 for a key name and `0x01 || public key`. */
export function keyId(name, raw) {
  return createHash('sha256').update(Buffer.concat([Buffer.from(name), Buffer.from([0x0a]), raw])).digest().subarray(0, 4);
}

/** A fresh Ed25519 signing key of the tests' own: its verifier key and a
 * function signing a note text (ending in a newline) as a C2SP note. */
export function signer(name = 'tests.example') {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const raw = Buffer.concat([Buffer.from([1]), Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url')]);
  const id = keyId(name, raw);
  const line = (text) => `\u2014 ${name} ${Buffer.concat([id, sign(null, Buffer.from(text), privateKey)]).toString('base64')}\n`;
  return { name, verifierKey: `${name}+${id.toString('hex')}+${raw.toString('base64')}`, line, note: (text) => `${text}\n${line(text)}` };
}
