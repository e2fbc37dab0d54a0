// The checkpoint tracker (docs/SDK.md §7): the last checkpoint verified
// per ledger, kept in a store, and every newer one proven consistent with
// it (RFC 9162 §2.1.4) before it replaces it. Two trees of one size are a
// ForkError, a smaller tree a RollbackError.

import { ForkError, RollbackError, VerificationError } from './errors.js';
import { originNamesLedger, verifyCheckpoint, verifyConsistency } from './verify.js';

/** Runs `work` after every earlier call with the same key settled: a
 * promise chain per key, dropped once it is idle. */
function serialiser() {
  const chains = new Map();
  return (key, work) => {
    const run = (chains.get(key) ?? Promise.resolve()).then(work);
    const tail = run.catch(() => {});
    chains.set(key, tail);
    tail.then(() => {
      if (chains.get(key) === tail) chains.delete(key);
    });
    return run;
  };
}

// One save at a time per file, across every FileStore of this process:
// each save rewrites the whole file, so two at once (for two ledgers, from
// two stores or trackers opened on one path) would lose one. Node has no
// file lock, so processes are not excluded: give each process its own file.
const fileTurns = serialiser();

/** In memory. */
export class MemoryStore {
  constructor() {
    this.map = new Map();
  }
  async load(ledger) {
    return this.map.get(ledger) ?? null;
  }
  async save(ledger, checkpoint) {
    this.map.set(ledger, checkpoint);
  }
}

/** A JSON file of `{ledger: {tree_size, root, note}}` (Node), replaced
 * atomically: written to a temporary file beside it, flushed to disk and
 * renamed, so a crash leaves the old or the new one. Every FileStore of one
 * path in a process shares one turn to save; one process per file. */
export class FileStore {
  constructor(path) {
    this.path = path;
    // This store's saves keep the order they were made in, before they
    // queue for the file's turn.
    this.serial = serialiser();
  }
  async read() {
    const fs = await import('node:fs/promises');
    let data;
    try {
      data = JSON.parse(await fs.readFile(this.path, 'utf8'));
    } catch (e) {
      if (e.code === 'ENOENT') return {};
      throw e;
    }
    if (!data || typeof data !== 'object' || Array.isArray(data)) throw new VerificationError(`${this.path} is not a checkpoint store`);
    return data;
  }
  async load(ledger) {
    return (await this.read())[ledger] ?? null;
  }
  async save(ledger, checkpoint) {
    return this.serial('', async () => {
      const { resolve } = await import('node:path');
      return fileTurns(resolve(this.path), () => this.write(ledger, checkpoint));
    });
  }
  async write(ledger, checkpoint) {
    const [fs, { randomBytes }] = await Promise.all([import('node:fs/promises'), import('node:crypto')]);
    const all = await this.read();
    all[ledger] = checkpoint;
    // A name of its own, so two processes sharing the file never write one
    // temporary file together.
    const temporary = `${this.path}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
    const file = await fs.open(temporary, 'wx');
    try {
      await file.writeFile(JSON.stringify(all, null, 2));
      await file.sync();
      await file.close();
      await fs.rename(temporary, this.path);
    } catch (e) {
      await file.close().catch(() => {});
      await fs.unlink(temporary).catch(() => {});
      throw e;
    }
  }
}

export class CheckpointTracker {
  /** @param client a Client with a pinned verifier key @param store MemoryStore, FileStore or your own */
  constructor(client, store = new MemoryStore()) {
    this.client = client;
    this.store = store;
    this.serial = serialiser();
  }

  async stored(ledger) {
    return this.store.load(ledger);
  }

  /** Fetches the ledger's latest checkpoint and tracks it. */
  async update(ledger) {
    return this.track(ledger, await this.client.checkpointNote(ledger));
  }

  /** Checks `note` (signature, then consistency with what is stored) and
   * stores it when it is newer. One call per ledger at a time, so two
   * concurrent calls cannot store an older tree over a newer one. Calls
   * are judged in the order they were made: the signature is checked
   * inside the turn, since a check before it (asynchronous Web Crypto)
   * could finish in another order and let an older note, tracked after a
   * newer one, pass as the base the newer one extends. */
  async track(ledger, note) {
    return this.serial(ledger, async () => {
      const seen = await verifyCheckpoint(note, await this.client.pinnedKey());
      if (!originNamesLedger(seen.origin, ledger)) throw new VerificationError(`the checkpoint is of ${seen.origin}, not of ledger ${ledger}`);
      return this.judge(ledger, seen, note);
    });
  }

  async judge(ledger, seen, note) {
    const stored = await this.store.load(ledger);
    // Every tree extends the empty one.
    if (stored && stored.tree_size !== 0) {
      if (seen.treeSize < stored.tree_size) throw new RollbackError(ledger, stored.tree_size, seen.treeSize);
      if (seen.treeSize === stored.tree_size) {
        if (seen.root !== stored.root) throw new ForkError(ledger, seen.treeSize, stored.root, seen.root, stored.note ?? '', note);
        return seen;
      }
      await this.prove(ledger, stored, seen, note);
    }
    // Read again before writing: another tracker sharing the store may have
    // stored a newer tree meanwhile, which an older one must not replace.
    const latest = await this.store.load(ledger);
    if (!latest || latest.tree_size < seen.treeSize) await this.store.save(ledger, { tree_size: seen.treeSize, root: seen.root, note });
    return seen;
  }

  async prove(ledger, stored, seen, note) {
    const proof = await this.client.consistencyProof(ledger, stored.tree_size, seen.treeSize);
    try {
      await verifyConsistency(stored.tree_size, seen.treeSize, stored.root, seen.root, proof);
    } catch (e) {
      if (!(e instanceof VerificationError)) throw e;
      throw new ForkError(ledger, stored.tree_size, stored.root, `${seen.root} at size ${seen.treeSize} (${e.message})`, stored.note ?? '', note);
    }
  }
}
