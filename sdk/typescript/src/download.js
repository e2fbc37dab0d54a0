// Export downloads (docs/SDK.md §5): the file checked against the SHA-256
// its export reported, streamed to a path under Node, or its bytes.

import { NetworkError, VerificationError } from './errors.js';

const isNode = typeof process !== 'undefined' && Boolean(process.versions?.node);

/** Streams `response` to a temporary file beside `path` while hashing it,
 * renames it to `path` once the digest matches (a mismatch leaves no file);
 * answers the digest. */
export async function downloadTo(response, path, id, expected) {
  if (!isNode) throw new TypeError('downloading to a path needs Node; without one the bytes are answered');
  const [{ open, rename, unlink }, { createHash, randomBytes }] = await Promise.all([import('node:fs/promises'), import('node:crypto')]);
  const part = `${path}.${process.pid}.${randomBytes(6).toString('hex')}.part`;
  const hash = createHash('sha256');
  const file = await open(part, 'wx');
  try {
    try {
      for await (const chunk of response.body ?? []) {
        hash.update(chunk);
        await file.write(chunk);
      }
    } catch (e) {
      throw new NetworkError(`export ${id}'s download broke off: ${e?.cause?.message ?? e?.message ?? e}`);
    }
    await file.sync();
    await file.close();
    checkDigest(id, hash.digest('hex'), expected);
    await rename(part, path);
    return expected;
  } catch (e) {
    await file.close().catch(() => {});
    await unlink(part).catch(() => {});
    throw e;
  }
}

/** The whole body (browsers), checked. */
export async function bytesOf(response, id, expected) {
  let bytes;
  try {
    bytes = new Uint8Array(await response.arrayBuffer());
  } catch (e) {
    throw new NetworkError(`export ${id}'s download broke off: ${e?.cause?.message ?? e?.message ?? e}`);
  }
  checkDigest(id, hexOf(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))), expected);
  return bytes;
}

const hexOf = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');

export function checkDigest(id, digest, expected) {
  if (digest !== expected) throw new VerificationError(`the downloaded export has SHA-256 ${digest}, the export reported ${expected}`);
}
