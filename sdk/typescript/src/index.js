// @auditstore/client — docs/SDK.md is the behaviour this follows.
export { Client, uuidv7, retryAfterMs } from './client.js';
export * from './errors.js';
export { leafHash, jcs, normaliseTime, verifyCheckpoint, verifyInclusion, verifyConsistency, verifyEvidence, verifyEvent, parseVerifierKey } from './verify.js';
export { CheckpointTracker, FileStore, MemoryStore } from './tracker.js';
export { AuditHandle } from './middleware.js';
