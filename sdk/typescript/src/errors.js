// One error family (docs/SDK.md §4). The API key never appears in any.

/** Base class of every error this client throws. */
export class AuditStoreError extends Error {
  constructor(message, options) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The server answered an RFC 9457 problem document. */
export class ProblemError extends AuditStoreError {
  constructor(problem, retryAfterMs) {
    super(`AuditStore answered ${problem.status}: ${problem.detail ?? problem.title ?? ''}`);
    this.status = problem.status;
    this.title = problem.title ?? '';
    this.detail = problem.detail ?? '';
    this.field = problem.field ?? null;
    this.type = problem.type ?? 'about:blank';
    this.retryAfterMs = retryAfterMs ?? null;
  }
}

/** No answer: connection, TLS or timeout. */
export class NetworkError extends AuditStoreError {}

/** Something did not verify. */
export class VerificationError extends AuditStoreError {}

/** Two different trees of one size: the server showed two histories. */
export class ForkError extends AuditStoreError {
  constructor(ledger, size, stored, seen, storedNote = '', seenNote = '') {
    super(`FORK: ledger ${ledger} has two different trees of size ${size} (stored root ${stored}, new root ${seen})`);
    // The two signed notes are the evidence of the two histories.
    Object.assign(this, { ledger, size, stored, seen, storedNote, seenNote });
  }
}

/** A smaller tree than one already verified: the server rolled back. */
export class RollbackError extends AuditStoreError {
  constructor(ledger, stored, seen) {
    super(`ROLLBACK: ledger ${ledger} was verified at size ${stored}, now shown at size ${seen}`);
    Object.assign(this, { ledger, stored, seen });
  }
}

/** The event queue is full. */
export class QueueFullError extends AuditStoreError {
  constructor() {
    super('the event queue is full');
  }
}

/** The client was closed. */
export class ClosedError extends AuditStoreError {
  constructor() {
    super('the client is closed');
  }
}

/** Whether retrying the same request can help (docs/SDK.md §3). */
export function isRetryable(error) {
  if (error instanceof NetworkError) return true;
  if (error instanceof ProblemError) return error.status === 408 || error.status === 429 || error.status >= 500;
  return false;
}
