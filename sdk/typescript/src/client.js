// The client (docs/SDK.md §1–§5): `record` through a bounded in-memory
// queue drained by a background pump in batches, `append` now, reads, and
// verified reads. Uses only what Node 20+ and browsers provide (fetch, Web
// Crypto, AbortSignal.timeout).

import { ClosedError, NetworkError, ProblemError, QueueFullError, VerificationError, isRetryable } from './errors.js';
import { bytesOf, downloadTo } from './download.js';
import { retryAfterMs, shownKey, sleep, uuidv7 } from './util.js';
import { originNamesLedger, parseVerifierKey, verifyCheckpoint, verifyEvent } from './verify.js';

export { retryAfterMs, uuidv7 };

const ENVELOPE_BYTES = 13; // {"events":[ ]}
const encoder = new TextEncoder();
const KEY = Symbol('apiKey');

/** The body of a batch, from each event's JSON text as `prepare` made it:
 * the bytes sent are those measured, on every attempt. */
function batchBody(texts) {
  return `{"events":[${texts.join(',')}]}`;
}

// A callback of the application's failing is not the sender's failure.
function notify(callback, error, events) {
  try {
    callback(error, events);
  } catch {
    // Nothing to do: the events are counted either way.
  }
}

// What the events of a batch were when recorded, for a callback: parsed
// from the JSON sent, so a later change to the caller's objects shows not.
const recorded = (items) => items.map((item) => JSON.parse(item.json));

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
    // Every queued event is numbered in recorded order, so `flush` can wait
    // for those recorded before it and not for the ones after.
    this.numbered = 0;
    this.inFlight = [];
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

  /** One API call with the retries of SDK.md §3. `body` is JSON text (sent
   * as it is) or a value serialised once, so every attempt sends the same
   * bytes. `as`: 'json', 'text', or 'response' (the response once its
   * headers are in, the timeout then lifted, for a download's body). */
  async request(method, path, body, { as = 'json' } = {}) {
    const payload = body === undefined || typeof body === 'string' ? body : JSON.stringify(body);
    for (let attempt = 0; ; attempt++) {
      let error;
      try {
        return await this.attempt(method, path, payload, as);
      } catch (e) {
        error = e instanceof ProblemError ? e : new NetworkError(`AuditStore could not be reached: ${e?.cause?.message ?? e?.message ?? e}`);
      }
      if (!isRetryable(error) || attempt >= this.maxRetries) throw error;
      await sleep(this.backoffMs(attempt + 1, error.retryAfterMs));
    }
  }

  /** One attempt, within the request timeout: over the whole exchange,
   * but for 'response' only until the headers are in (a download's body may
   * well take longer). */
  async attempt(method, path, payload, as) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const response = await this.fetch(`${this.baseUrl}/v1${path}`, {
        method,
        headers: {
          authorization: `Bearer ${this[KEY]}`,
          ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: payload,
        // A followed redirect would turn a POST into a GET elsewhere.
        redirect: 'manual',
        signal: controller.signal,
      });
      if (as === 'response' && response.ok) return response;
      if (response.ok) {
        // Awaited here, so a body that fails to arrive is a NetworkError,
        // retried like any other (safe: events carry their ids).
        return await (as === 'text' ? response.text() : response.json());
      }
      throw await this.problem(response);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The error a non-2xx response stands for. */
  async problem(response) {
    if (response.type === 'opaqueredirect' || (response.status >= 300 && response.status < 400)) return redirected(response);
    const wait = retryAfterMs(response.headers.get('retry-after'));
    let problem;
    try {
      problem = await response.json();
    } catch {
      problem = { status: response.status, title: response.statusText, detail: '' };
    }
    return new ProblemError({ ...problem, status: response.status }, wait);
  }

  /** The event with its id and time, serialised once: its JSON text is what
   * every attempt sends, whatever the caller later does to its objects. */
  prepare(event) {
    if (!event || typeof event !== 'object' || Array.isArray(event)) throw new TypeError('an event is an object');
    const out = { ...event };
    if (out.id === undefined) out.id = uuidv7();
    if (out.occurred_at === undefined) out.occurred_at = new Date().toISOString();
    const json = JSON.stringify(out);
    const bytes = encoder.encode(json).length;
    if (bytes + ENVELOPE_BYTES > this.batchBytes) throw new TypeError(`the event is ${bytes} bytes, more than a batch may carry`);
    return { json, bytes };
  }

  ledgerOf(ledger) {
    const id = ledger ?? this.ledger;
    if (!id) throw new TypeError('no ledger given (options.ledger)');
    return id;
  }

  /** Queues an event and returns at once; the background pump sends it. */
  record(event, { ledger } = {}) {
    this.recordNow(event, ledger, this.whenFull === 'drop');
  }

  /** Queues an event if there is room, else drops it and reports it to
   * `onDrop`, whatever `whenFull` says: never waits, never throws
   * QueueFullError (the middleware's way, SDK.md §2, §8). */
  recordNowait(event, { ledger } = {}) {
    this.recordNow(event, ledger, true);
  }

  recordNow(event, ledger, drop) {
    if (this.closed) throw new ClosedError();
    const target = this.ledgerOf(ledger);
    const prepared = this.prepare(event);
    if (this.queue.length >= this.queueSize) {
      if (!drop) throw new QueueFullError();
      this.stats.dropped++;
      notify(this.onDrop, new QueueFullError(), [JSON.parse(prepared.json)]);
      return;
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

  enqueue(ledger, { json, bytes }) {
    this.queue.push({ number: ++this.numbered, ledger, json, bytes });
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
        this.settle();
      });
    }
    return this.pumping;
  }

  /** Sends batches until the queue is empty, one request at a time. */
  async pump() {
    while (this.queue.length) {
      const batch = this.take();
      this.inFlight = batch.items;
      try {
        await this.request('POST', `/ledgers/${encodeURIComponent(batch.ledger)}/events`, batchBody(batch.items.map((item) => item.json)));
        this.stats.delivered += batch.items.length;
      } catch (error) {
        this.stats.failed += batch.items.length;
        notify(this.onError, error, recorded(batch.items));
      }
      this.inFlight = [];
      this.settle();
    }
  }

  /** The oldest event's ledger's next batch: its events in order, within
   * the limits; the events it passes keep their place. The first always
   * fits (`prepare` refused an event that would not fit alone), so no
   * batch is empty. */
  take() {
    const ledger = this.queue[0].ledger;
    const items = [];
    let bytes = ENVELOPE_BYTES;
    const rest = [];
    // Once one of the ledger's events waits, the later ones wait too (order).
    let full = false;
    for (const item of this.queue) {
      // A comma before every event but the first.
      const grown = bytes + item.bytes + (items.length ? 1 : 0);
      if (item.ledger === ledger && !full && items.length < this.batchSize && (grown <= this.batchBytes || !items.length)) {
        items.push(item);
        bytes = grown;
      } else {
        if (item.ledger === ledger) full = true;
        rest.push(item);
      }
    }
    this.queue = rest;
    const left = (this.waiting.get(ledger) ?? 0) - items.length;
    if (left > 0) this.waiting.set(ledger, left);
    else this.waiting.delete(ledger);
    return { ledger, items };
  }

  /** The number of the oldest event neither delivered nor given up, or
   * null. The queue stays in recorded order (`take` keeps what it passes in
   * place), so it is the first queued one or the first in flight. */
  lowestPending() {
    const lows = [this.inFlight[0]?.number, this.queue[0]?.number].filter((n) => n !== undefined);
    return lows.length ? Math.min(...lows) : null;
  }

  // Resolves the flushes whose events are all delivered or given up.
  settle() {
    const low = this.lowestPending();
    this.waiters = this.waiters.filter(({ upto, done }) => {
      if (low !== null && low <= upto) return true;
      done();
      return false;
    });
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
    const upto = this.numbered;
    let waiter;
    const settled = new Promise((resolve) => (waiter = { upto, done: resolve }));
    this.waiters.push(waiter);
    if (this.queue.length) this.kick();
    this.settle();
    let timer;
    await Promise.race([settled, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    this.waiters = this.waiters.filter((w) => w !== waiter);
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
    const texts = events.map((e) => this.prepare(e).json);
    return this.request('POST', `/ledgers/${encodeURIComponent(target)}/events`, batchBody(texts));
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
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/checkpoint${size}`, undefined, { as: 'text' });
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
   * checkpoint's signature against the pinned key (`verifyEvent`). */
  async getVerifiedEvent(ledger, id) {
    const event = await this.getEvent(ledger, id);
    if (event.tombstoned) throw new VerificationError(`event ${id} is a tombstone: its content is archived`);
    const checkpoint = await this.checkpoint(ledger);
    const proof = await this.inclusionProof(ledger, event.seq, checkpoint.treeSize);
    await verifyEvent(event, proof, checkpoint);
    return { event, checkpoint };
  }

  async integrity(ledger) {
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/integrity`);
  }

  async evidence(ledger, id) {
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/events/${encodeURIComponent(id)}/evidence`, undefined, { as: 'text' });
  }

  async startExport(ledger, request) {
    return this.request('POST', `/ledgers/${encodeURIComponent(ledger)}/exports`, request);
  }

  async exportStatus(ledger, id) {
    return this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/exports/${encodeURIComponent(id)}`);
  }

  /** Polls until the export is done (its status) or failed, reporting
   * `onProgress(eventsWritten, eventsTotal)`; every `pollMs`, by default
   * the retry backoff's base (SDK.md §5). */
  async waitExport(ledger, id, { pollMs = this.retryBaseMs, timeoutMs = 600_000, onProgress = () => {} } = {}) {
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

  /** A done export's file, checked against the SHA-256 it reported. With
   * `path` (Node): streamed to a temporary file beside it while hashed,
   * renamed to `path` once the digest matches (a mismatch leaves no file);
   * answers the digest. Without: the bytes (browsers). */
  async downloadExport(ledger, id, path) {
    const status = await this.exportStatus(ledger, id);
    if (!status.sha256) throw new VerificationError(`export ${id} is not done (${status.status})`);
    const response = await this.request('GET', `/ledgers/${encodeURIComponent(ledger)}/exports/${encodeURIComponent(id)}/download`, undefined, { as: 'response' });
    if (path !== undefined) return downloadTo(response, path, id, status.sha256);
    return bytesOf(response, id, status.sha256);
  }
}

// A redirect is not followed (a POST would become a GET elsewhere) nor
// retried: the base URL is wrong, which only its owner can mend. A browser
// shows an opaque redirect with status 0 and no location.
function redirected(response) {
  response.body?.cancel().catch(() => {});
  const status = response.status || 302;
  const location = response.headers.get('location');
  const detail = `a redirect (${status}${location ? ` to ${location}` : ''}), which this client does not follow`;
  return new ProblemError({ status, title: 'Redirect', detail });
}
