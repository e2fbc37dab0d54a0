// The client (docs/SDK.md §1–§5): `record` through a bounded in-memory
// queue drained by a background pump in batches, `append` now, reads, and
// verified reads. Uses only what Node 20+ and browsers provide (fetch, Web
// Crypto, AbortSignal.timeout).

import { ClosedError, NetworkError, ProblemError, QueueFullError, VerificationError, isRetryable } from './errors.js';
import { leafHash, originNamesLedger, parseVerifierKey, verifyCheckpoint, verifyInclusion } from './verify.js';

const ENVELOPE_BYTES = 13; // {"events":[ ]}
const encoder = new TextEncoder();
const KEY = Symbol('apiKey');

/** A UUIDv7 (RFC 9562): 48 bits of Unix ms, then random bits. */
export function uuidv7() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  let ms = BigInt(Date.now());
  for (let i = 5; i >= 0; i--) {
    bytes[i] = Number(ms & 0xffn);
    ms >>= 8n;
  }
  bytes[6] = (bytes[6] & 0x0f) | 0x70;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3), in ms. */
export function retryAfterMs(value, now = Date.now()) {
  if (value == null) return null;
  const text = String(value).trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? null : Math.max(0, at - now);
}

function shownKey(secret) {
  const m = /^auds_([^_]+)_/.exec(secret);
  return m ? `auds_${m[1]}_…` : '…';
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export class Client {
  /**
   * @param {object} options see index.d.ts (ClientOptions)
   */
  constructor(options) {
    const o = { ...options };
    if (!/^https?:\/\//.test(o.baseUrl ?? '')) throw new TypeError('baseUrl must be an http(s) URL');
    if (!o.apiKey) throw new TypeError('apiKey is required');
    this.baseUrl = o.baseUrl.replace(/\/+$/, '');
    Object.defineProperty(this, KEY, { value: o.apiKey, enumerable: false });
    this.keyShown = shownKey(o.apiKey);
    this.ledger = o.ledger ?? null;
    this.fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
    this.timeoutMs = o.timeoutMs ?? 10_000;
    this.queueSize = o.queueSize ?? 10_000;
    this.whenFull = o.whenFull ?? { block: 1000 };
    this.batchSize = o.batchSize ?? 1000;
    this.batchBytes = o.batchBytes ?? 4 * 1024 * 1024;
    this.flushIntervalMs = o.flushIntervalMs ?? 1000;
    this.maxRetries = o.maxRetries ?? 8;
    this.retryBaseMs = o.retryBaseMs ?? 500;
    this.retryMaxMs = o.retryMaxMs ?? 30_000;
    this.onDrop = o.onDrop ?? ((error, events) => console.warn(`AuditStore: ${events.length} event(s) dropped: ${error.message}`));
    this.onError = o.onError ?? ((error, events) => console.warn(`AuditStore: ${events.length} event(s) given up: ${error.message}`));
    if (this.batchSize < 1 || this.batchSize > 1000) throw new TypeError('batchSize is 1 to 1000');
    if (this.batchBytes < 1024 || this.batchBytes > 4 * 1024 * 1024) throw new TypeError('batchBytes is 1 KiB to 4 MiB');
    this.verifierKeyText = o.verifierKey ?? null;
    this.verifier = null;
    this.queue = [];
    // Events queued per ledger, so a record costs O(1) whatever the queue holds.
    this.waiting = new Map();
    this.pumping = null;
    this.timer = null;
    this.closed = false;
    this.waiters = [];
    this.stats = { recorded: 0, delivered: 0, failed: 0, dropped: 0 };
    // Node: what is queued is sent before the process exits on its own.
    if (typeof process !== 'undefined' && process.on) {
      this.exitHook = () => {
        if (this.queue.length) this.kick();
      };
      process.on('beforeExit', this.exitHook);
    }
  }

  toJSON() {
    return { baseUrl: this.baseUrl, apiKey: this.keyShown, ledger: this.ledger };
  }

  [Symbol.for('nodejs.util.inspect.custom')]() {
    return `Client ${JSON.stringify(this.toJSON())}`;
  }

  /** The wait before retry `n` (1 for the first): full jitter under the
   * exponential bound, at least Retry-After. */
  backoffMs(n, retryAfter) {
    const bound = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (n - 1));
    return Math.max(Math.random() * bound, retryAfter ?? 0);
  }

  async request(method, path, body, { text = false } = {}) {
    for (let attempt = 0; ; attempt++) {
      let error;
      try {
        const response = await this.fetch(`${this.baseUrl}/v1${path}`, {
          method,
          headers: {
            authorization: `Bearer ${this[KEY]}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(this.timeoutMs),
        });
        if (response.ok) {
          if (text === 'response') return response;
          return text ? response.text() : response.json();
        }
        const wait = retryAfterMs(response.headers.get('retry-after'));
        let problem;
        try {
          problem = await response.json();
        } catch {
          problem = { status: response.status, title: response.statusText, detail: '' };
        }
        error = new ProblemError({ ...problem, status: response.status }, wait);
      } catch (e) {
        if (e instanceof ProblemError) throw e;
        error = new NetworkError(`AuditStore could not be reached: ${e?.cause?.message ?? e?.message ?? e}`);
      }
      if (!isRetryable(error) || attempt >= this.maxRetries) throw error;
      await sleep(this.backoffMs(attempt + 1, error.retryAfterMs));
    }
  }

  prepare(event) {
    if (!event || typeof event !== 'object' || Array.isArray(event)) throw new TypeError('an event is an object');
    const out = { ...event };
    if (out.id === undefined) out.id = uuidv7();
    if (out.occurred_at === undefined) out.occurred_at = new Date().toISOString();
    const bytes = encoder.encode(JSON.stringify(out)).length;
    if (bytes + ENVELOPE_BYTES > this.batchBytes) throw new TypeError(`the event is ${bytes} bytes, more than a batch may carry`);
    return { event: out, bytes };
  }

  ledgerOf(ledger) {
    const id = ledger ?? this.ledger;
    if (!id) throw new TypeError('no ledger given (options.ledger)');
    return id;
  }

  /** Queues an event and returns at once; the background pump sends it. */
  record(event, { ledger } = {}) {
    if (this.closed) throw new ClosedError();
    const target = this.ledgerOf(ledger);
    const prepared = this.prepare(event);
    if (this.queue.length >= this.queueSize) {
      if (this.whenFull === 'drop') {
        this.stats.dropped++;
        this.onDrop(new QueueFullError(), [prepared.event]);
        return;
      }
      throw new QueueFullError();
    }
    this.enqueue(target, prepared);
  }

  /** Queues an event, waiting for room as `whenFull: {block: ms}` allows. */
  async recordWait(event, { ledger } = {}) {
    if (this.closed) throw new ClosedError();
    const target = this.ledgerOf(ledger);
    const prepared = this.prepare(event);
    const deadline = Date.now() + (this.whenFull?.block ?? 0);
    while (this.queue.length >= this.queueSize) {
      if (Date.now() >= deadline) throw new QueueFullError();
      this.kick();
      await sleep(10);
    }
    this.enqueue(target, prepared);
  }

  enqueue(ledger, { event, bytes }) {
    this.queue.push({ ledger, event, bytes });
    this.stats.recorded++;
    const waiting = (this.waiting.get(ledger) ?? 0) + 1;
    this.waiting.set(ledger, waiting);
    if (waiting >= this.batchSize) this.kick();
    else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.kick();
      }, this.flushIntervalMs);
      this.timer.unref?.();
    }
  }

  kick() {
    if (!this.pumping) {
      this.pumping = this.pump().finally(() => {
        this.pumping = null;
        if (this.queue.length) this.kick();
        else for (const done of this.waiters.splice(0)) done();
      });
    }
    return this.pumping;
  }

  /** Sends batches until the queue is empty, one request at a time; a
   * batch takes a ledger's events in order up to the size limits. */
  async pump() {
    while (this.queue.length) {
      const ledger = this.queue[0].ledger;
      const batch = [];
      let bytes = ENVELOPE_BYTES;
      const rest = [];
      // Once one of the ledger's events waits, the later ones wait too (order).
      let full = false;
      for (const item of this.queue) {
        if (item.ledger === ledger && !full && batch.length < this.batchSize && bytes + item.bytes + 1 <= this.batchBytes) {
          batch.push(item.event);
          bytes += item.bytes + 1;
        } else {
          if (item.ledger === ledger) full = true;
          rest.push(item);
        }
      }
      this.queue = rest;
      const left = (this.waiting.get(ledger) ?? 0) - batch.length;
      if (left > 0) this.waiting.set(ledger, left);
      else this.waiting.delete(ledger);
      try {
        await this.request('POST', `/ledgers/${encodeURIComponent(ledger)}/events`, { events: batch });
        this.stats.delivered += batch.length;
      } catch (error) {
        this.stats.failed += batch.length;
        try {
          this.onError(error, batch);
        } catch {
          // A reporting callback's failure is not the sender's.
        }
      }
    }
  }

  report() {
    const { recorded, delivered, failed, dropped } = this.stats;
    return { delivered, failed, dropped, pending: recorded - delivered - failed };
  }

  /** Resolves once every event recorded before the call is acknowledged or
   * given up, or `timeoutMs` passed; with what became of them. */
  async flush(timeoutMs = 10_000) {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    const drained = this.queue.length || this.pumping ? new Promise((resolve) => this.waiters.push(resolve)) : Promise.resolve();
    if (this.queue.length) this.kick();
    let timer;
    await Promise.race([drained, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    return this.report();
  }

  /** Stops `record`, flushes, and removes the exit hook. */
  async close(timeoutMs = 10_000) {
    this.closed = true;
    const report = await this.flush(timeoutMs);
    if (this.exitHook) process.off('beforeExit', this.exitHook);
    return report;
  }

  /** Appends `events` now (ids assigned to those without) and answers
   * where each landed: `{tree_size, events: [{id, seq, leaf_hash, chain_hash}]}`. */
  async append(events, { ledger } = {}) {
    const target = this.ledgerOf(ledger);
    const prepared = events.map((e) => this.prepare(e).event);
    return this.request('POST', `/ledgers/${encodeURIComponent(target)}/events`, { events: prepared });
  }

  async getEvent(ledger, id) {
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/events/${encodeURIComponent(id)}`);
  }

  /** One page: `{events, next_cursor}`. */
  async listEvents(ledger, filter = {}, cursor = null) {
    const query = new URLSearchParams();
    for (const k of ['actor_type', 'actor_id', 'action', 'resource_type', 'resource_id', 'from', 'to', 'limit']) {
      if (filter[k] !== undefined && filter[k] !== null) query.set(k, String(filter[k]));
    }
    if (cursor) query.set('cursor', cursor);
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/events?${query}`);
  }

  /** Every event of a listing, newest first, following the cursor. */
  async *events(ledger, filter = {}) {
    let cursor = null;
    do {
      const page = await this.listEvents(ledger, filter, cursor);
      yield* page.events;
      cursor = page.next_cursor;
    } while (cursor);
  }

  async checkpointNote(ledger, treeSize) {
    const size = treeSize === undefined ? '' : `?tree_size=${treeSize}`;
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/checkpoint${size}`, undefined, { text: true });
  }

  async pinnedKey() {
    if (!this.verifierKeyText) throw new TypeError('no verifier key is pinned (options.verifierKey)');
    this.verifier ??= await parseVerifierKey(this.verifierKeyText);
    return this.verifier;
  }

  /** The checkpoint, its signature verified against the pinned key. */
  async checkpoint(ledger, treeSize) {
    const checkpoint = await verifyCheckpoint(await this.checkpointNote(ledger, treeSize), await this.pinnedKey());
    if (!originNamesLedger(checkpoint.origin, ledger)) throw new VerificationError(`the checkpoint is of ${checkpoint.origin}, not of ledger ${ledger}`);
    if (treeSize !== undefined && checkpoint.treeSize !== treeSize) throw new VerificationError('the checkpoint is of another tree size than asked');
    return checkpoint;
  }

  async inclusionProof(ledger, seq, treeSize) {
    const size = treeSize === undefined ? '' : `&tree_size=${treeSize}`;
    return (await this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/proofs/inclusion?seq=${seq}${size}`)).proof;
  }

  async consistencyProof(ledger, from, to) {
    const end = to === undefined ? '' : `&to=${to}`;
    return (await this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/proofs/consistency?from=${from}${end}`)).proof;
  }

  /** One event, proven included in the latest signed checkpoint: its leaf
   * hash computed here, the proof against the checkpoint's root, the
   * checkpoint's signature against the pinned key. */
  async getVerifiedEvent(ledger, id) {
    const event = await this.getEvent(ledger, id);
    if (event.tombstoned) throw new VerificationError(`event ${id} is a tombstone: its content is archived`);
    const local = await leafHash(event);
    if (local !== event.leaf_hash) throw new VerificationError(`event ${id}'s content does not hash to the leaf hash it came with`);
    const checkpoint = await this.checkpoint(ledger);
    const proof = await this.inclusionProof(ledger, event.seq, checkpoint.treeSize);
    await verifyInclusion(event.seq, checkpoint.treeSize, local, proof, checkpoint.root);
    return { event, checkpoint };
  }

  async integrity(ledger) {
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/integrity`);
  }

  async evidence(ledger, id) {
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/events/${encodeURIComponent(id)}/evidence`, undefined, { text: true });
  }

  async startExport(ledger, request) {
    return this.request('POST', `/ledgers/${encodeURIComponent(ledger)}/exports`, request);
  }

  async exportStatus(ledger, id) {
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/exports/${encodeURIComponent(id)}`);
  }

  /** Polls until the export is done (its status) or failed, reporting
   * `onProgress(eventsWritten, eventsTotal)`. */
  async waitExport(ledger, id, { pollMs = 500, timeoutMs = 600_000, onProgress = () => {} } = {}) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const status = await this.exportStatus(ledger, id);
      onProgress(status.events_written ?? 0, status.events_total ?? 0);
      if (status.status === 'done') return status;
      if (status.status === 'failed' || status.status === 'expired') throw new VerificationError(`export ${id} ${status.status}: ${status.reason ?? 'no reason given'}`);
      if (Date.now() >= deadline) throw new NetworkError(`export ${id} was not done within ${timeoutMs} ms`);
      await sleep(pollMs);
    }
  }

  /** A done export's file, checked against the SHA-256 it reported. */
  async downloadExport(ledger, id) {
    const status = await this.exportStatus(ledger, id);
    if (!status.sha256) throw new VerificationError(`export ${id} is not done (${status.status})`);
    const response = await this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/exports/${encodeURIComponent(id)}/download`, undefined, { text: 'response' });
    const bytes = new Uint8Array(await response.arrayBuffer());
    const digest = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)), (b) => b.toString(16).padStart(2, '0')).join('');
    if (digest !== status.sha256) throw new VerificationError(`the downloaded export has SHA-256 ${digest}, the export reported ${status.sha256}`);
    return bytes;
  }
}
