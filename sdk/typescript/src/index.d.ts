// Types of @auditstore/client (docs/SDK.md).

export interface AuditEvent {
  id?: string;
  actor: { type: string; id: string; name?: string };
  action: string;
  resource: { type: string; id: string; name?: string };
  occurred_at?: string;
  metadata?: Record<string, unknown>;
}

export interface StoredEvent extends AuditEvent {
  id: string;
  occurred_at: string;
  seq: number;
  leaf_hash: string;
  chain_hash: string;
  received_at?: string;
  tombstoned?: boolean;
}

export interface FlushReport {
  delivered: number;
  failed: number;
  dropped: number;
  pending: number;
}

export interface ClientOptions {
  baseUrl: string;
  apiKey: string;
  ledger?: string;
  /** A fetch to use (e.g. with an undici dispatcher trusting your CA). */
  fetch?: typeof fetch;
  timeoutMs?: number;
  queueSize?: number;
  whenFull?: { block: number } | 'drop';
  batchSize?: number;
  batchBytes?: number;
  flushIntervalMs?: number;
  maxRetries?: number;
  retryBaseMs?: number;
  retryMaxMs?: number;
  /** The pinned checkpoint verifier key, `<name>+<key id>+<base64>`. */
  verifierKey?: string;
  onDrop?: (error: AuditStoreError, events: AuditEvent[]) => void;
  onError?: (error: AuditStoreError, events: AuditEvent[]) => void;
}

export interface EventFilter {
  actor_type?: string;
  actor_id?: string;
  action?: string;
  resource_type?: string;
  resource_id?: string;
  from?: string;
  to?: string;
  limit?: number;
}

export interface VerifiedCheckpoint {
  origin: string;
  treeSize: number;
  /** Lowercase hex. */
  root: string;
  note: string;
}

export interface Appended {
  tree_size: number;
  events: { id: string; seq: number; leaf_hash: string; chain_hash: string }[];
}

export declare class Client {
  constructor(options: ClientOptions);
  readonly baseUrl: string;
  readonly ledger: string | null;
  /** Queues the event; a full queue throws QueueFullError, or drops it to `onDrop` with `whenFull: 'drop'`. */
  record(event: AuditEvent, options?: { ledger?: string }): void;
  /** Queues the event if there is room, else drops it and reports it to `onDrop`, whatever `whenFull` says. */
  recordNowait(event: AuditEvent, options?: { ledger?: string }): void;
  recordWait(event: AuditEvent, options?: { ledger?: string }): Promise<void>;
  /** Resolves once every event recorded before the call is delivered or given up, or after `timeoutMs`. */
  flush(timeoutMs?: number): Promise<FlushReport>;
  close(timeoutMs?: number): Promise<FlushReport>;
  report(): FlushReport;
  append(events: AuditEvent[], options?: { ledger?: string }): Promise<Appended>;
  getEvent(ledger: string, id: string): Promise<StoredEvent>;
  getVerifiedEvent(ledger: string, id: string): Promise<{ event: StoredEvent; checkpoint: VerifiedCheckpoint }>;
  listEvents(ledger: string, filter?: EventFilter, cursor?: string | null): Promise<{ events: StoredEvent[]; next_cursor: string | null }>;
  events(ledger: string, filter?: EventFilter): AsyncGenerator<StoredEvent>;
  checkpointNote(ledger: string, treeSize?: number): Promise<string>;
  checkpoint(ledger: string, treeSize?: number): Promise<VerifiedCheckpoint>;
  inclusionProof(ledger: string, seq: number, treeSize?: number): Promise<string[]>;
  consistencyProof(ledger: string, from: number, to?: number): Promise<string[]>;
  integrity(ledger: string): Promise<Record<string, unknown>>;
  evidence(ledger: string, id: string): Promise<string>;
  startExport(ledger: string, request: { format: 'jsonl' | 'csv' | 'parquet'; [filter: string]: unknown }): Promise<Record<string, unknown>>;
  exportStatus(ledger: string, id: string): Promise<Record<string, unknown>>;
  waitExport(
    ledger: string,
    id: string,
    /** `pollMs` defaults to `retryBaseMs`. */
    options?: { pollMs?: number; timeoutMs?: number; onProgress?: (written: number, total: number) => void },
  ): Promise<Record<string, unknown>>;
  /** The export's bytes, checked against its reported SHA-256. */
  downloadExport(ledger: string, id: string): Promise<Uint8Array>;
  /** Node: the export streamed to `path` (renamed into place only once its SHA-256 matches); answers the digest (hex). */
  downloadExport(ledger: string, id: string, path: string): Promise<string>;
}

export declare function uuidv7(): string;
export declare function retryAfterMs(value: string | null | undefined, now?: number): number | null;
export declare function leafHash(event: AuditEvent): Promise<string>;
export declare function jcs(value: unknown): string;
export declare function normaliseTime(text: string): string;
export declare function verifyCheckpoint(note: string, verifierKey: string): Promise<VerifiedCheckpoint>;
export declare function verifyInclusion(index: number, size: number, leaf: string, proof: string[], root: string): Promise<void>;
export declare function verifyConsistency(oldSize: number, newSize: number, oldRoot: string, newRoot: string, proof: string[]): Promise<void>;
/** The event's leaf hash computed from its content (a differing sent `leaf_hash` fails, a tombstone fails), proven
 * entry `event.seq` of the checkpoint's tree; answers the leaf hash (hex). */
export declare function verifyEvent(
  event: AuditEvent & { seq: number; leaf_hash?: string; tombstoned?: boolean },
  proof: string[],
  checkpoint: VerifiedCheckpoint,
): Promise<string>;
export declare function verifyEvidence(text: string, verifierKey: string): Promise<{ ledger: string; seq: number; treeSize: number; event: AuditEvent }>;
export declare function parseVerifierKey(text: string): Promise<{ name: string; id: string; text: string }>;

export interface TrackedCheckpoint {
  tree_size: number;
  root: string;
  note: string;
}
export interface CheckpointStore {
  load(ledger: string): Promise<TrackedCheckpoint | null>;
  save(ledger: string, checkpoint: TrackedCheckpoint): Promise<void>;
}
export declare class MemoryStore implements CheckpointStore {
  load(ledger: string): Promise<TrackedCheckpoint | null>;
  save(ledger: string, checkpoint: TrackedCheckpoint): Promise<void>;
}
export declare class FileStore implements CheckpointStore {
  constructor(path: string);
  load(ledger: string): Promise<TrackedCheckpoint | null>;
  save(ledger: string, checkpoint: TrackedCheckpoint): Promise<void>;
}
export declare class CheckpointTracker {
  constructor(client: Client, store?: CheckpointStore);
  stored(ledger: string): Promise<TrackedCheckpoint | null>;
  update(ledger: string): Promise<VerifiedCheckpoint>;
  track(ledger: string, note: string): Promise<VerifiedCheckpoint>;
}

export declare class AuditHandle {
  set(action: string, resourceType: string, resourceId: string): void;
}

export declare class AuditStoreError extends Error {}
export declare class ProblemError extends AuditStoreError {
  status: number;
  title: string;
  detail: string;
  field: string | null;
  type: string;
  retryAfterMs: number | null;
}
export declare class NetworkError extends AuditStoreError {}
export declare class VerificationError extends AuditStoreError {}
export declare class ForkError extends AuditStoreError {
  ledger: string;
  size: number;
  stored: string;
  seen: string;
  /** The stored signed note, where known (else ''). */
  storedNote: string;
  /** The newly seen signed note. */
  seenNote: string;
}
export declare class RollbackError extends AuditStoreError {
  ledger: string;
  stored: number;
  seen: number;
}
export declare class QueueFullError extends AuditStoreError {}
export declare class ClosedError extends AuditStoreError {}
export declare function isRetryable(error: unknown): boolean;
