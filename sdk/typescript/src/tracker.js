// The checkpoint tracker (docs/SDK.md §7): the last checkpoint verified
// per ledger, kept in a store, and every newer one proven consistent with
// it (RFC 9162 §2.1.4) before it replaces it. Two trees of one size are a
// ForkError, a smaller tree a RollbackError.

import { ForkError, RollbackError, VerificationError } from './errors.js';
import { originNamesLedger, verifyCheckpoint, verifyConsistency } from './verify.js';

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
 * atomically: written beside it and renamed. */
export class FileStore {
  constructor(path) {
    this.path = path;
  }
  async read() {
    const fs = await import('node:fs/promises');
    try {
      return JSON.parse(await fs.readFile(this.path, 'utf8'));
    } catch (e) {
      if (e.code === 'ENOENT') return {};
      throw e;
    }
  }
  async load(ledger) {
    return (await this.read())[ledger] ?? null;
  }
  async save(ledger, checkpoint) {
    const fs = await import('node:fs/promises');
    const all = await this.read();
    all[ledger] = checkpoint;
    const temporary = `${this.path}.tmp`;
    await fs.writeFile(temporary, JSON.stringify(all, null, 2));
    await fs.rename(temporary, this.path);
  }
}

export class CheckpointTracker {
  /** @param client a Client with a pinned verifier key @param store MemoryStore, FileStore or your own */
  constructor(client, store = new MemoryStore()) {
    this.client = client;
    this.store = store;
  }

  async stored(ledger) {
    return this.store.load(ledger);
  }

  /** Fetches the ledger's latest checkpoint and tracks it. */
  async update(ledger) {
    return this.track(ledger, await this.client.checkpointNote(ledger));
  }

  /** Checks `note` (signature, then consistency with what is stored) and
   * stores it when it is newer. */
  async track(ledger, note) {
    const seen = await verifyCheckpoint(note, await this.client.pinnedKey());
    if (!originNamesLedger(seen.origin, ledger)) throw new VerificationError(`the checkpoint is of ${seen.origin}, not of ledger ${ledger}`);
    const stored = await this.store.load(ledger);
    const record = { tree_size: seen.treeSize, root: seen.root, note };
    // Every tree extends the empty one.
    if (!stored || stored.tree_size === 0) {
      await this.store.save(ledger, record);
      return seen;
    }
    if (seen.treeSize < stored.tree_size) throw new RollbackError(ledger, stored.tree_size, seen.treeSize);
    if (seen.treeSize === stored.tree_size) {
      if (seen.root !== stored.root) throw new ForkError(ledger, seen.treeSize, stored.root, seen.root);
      return seen;
    }
    const proof = await this.client.consistencyProof(ledger, stored.tree_size, seen.treeSize);
    try {
      await verifyConsistency(stored.tree_size, seen.treeSize, stored.root, seen.root, proof);
    } catch (e) {
      throw new ForkError(ledger, stored.tree_size, stored.root, `${seen.root} at size ${seen.treeSize} (${e.message})`);
    }
    await this.store.save(ledger, record);
    return seen;
  }
}
