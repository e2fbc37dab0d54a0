// Package auditstore is the Go client of AuditStore, an audit-trail server
// whose ledgers are append-only RFC 9162 Merkle trees with signed
// checkpoints. It follows docs/SDK.md, the behaviour every AuditStore SDK
// shares, with the standard library only.
//
// Sending: Record puts an event into a bounded queue and returns; a
// background goroutine sends batches (at most 1,000 events or 4 MiB, at
// least every FlushInterval), one request at a time, so a ledger's events
// are appended in the order recorded. Every event gets its UUIDv7 id
// (RFC 9562) and its occurred_at before the first attempt, so retries
// (network errors, 408, 429, 5xx; full-jitter backoff, never sooner than
// Retry-After) are idempotent. Flush and Close(ctx) return once what was
// recorded is acknowledged. Append sends one batch now.
//
//	client, err := auditstore.New(auditstore.Config{BaseURL: url, APIKey: key, Ledger: ledger})
//	if err != nil { … }
//	defer client.Close(context.Background())
//	err = client.Record(auditstore.Event{
//		Actor:    auditstore.Party{Type: "user", ID: "u_42"},
//		Action:   "invoice.updated",
//		Resource: auditstore.Party{Type: "invoice", ID: "inv_7"},
//	})
//
// Reading: GetEvent, ListEvents, Pages and Events (iterators following the
// cursor), CheckpointNote, InclusionProof, ConsistencyProof, Integrity,
// Evidence, and exports (StartExport, WaitExport, DownloadExport, checked
// against the SHA-256 the export reported).
//
// Verifying, trusting nothing of the server's (Config.VerifierKey pins the
// key of GET /v1/checkpoint-key, fetched once, out of band): LeafHash
// computes an event's hash from its content (docs/FORMAT.md §2–4, RFC 8785
// JCS), VerifyCheckpoint checks a C2SP signed note with crypto/ed25519
// (§10), VerifyInclusion and VerifyConsistency check RFC 9162 proofs (§7,
// §8), VerifyEvidence checks an evidence file offline (§12);
// Client.Checkpoint and Client.GetVerifiedEvent do it in one call. A
// CheckpointTracker proves every newer checkpoint consistent with the last
// one it verified and fails with ErrFork or ErrRollback.
//
// Middleware records one event per handled net/http request; handlers name
// it with FromContext(r.Context()).Set(action, resourceType, resourceID).
//
// Errors are *Error values whose Kind (ErrProblem, ErrNetwork,
// ErrVerification, ErrFork, ErrRollback, ErrQueueFull, ErrClosed, …) works
// with errors.Is. The API key appears in no error, log line, or fmt or JSON
// representation of a Config or Client.
package auditstore
