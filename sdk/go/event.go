package auditstore

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
)

// Party is an event's actor or resource (docs/FORMAT.md §1): Type is 1–64
// characters of [A-Za-z0-9._:-], ID 1–256 characters without control
// characters, Name optional (empty means absent).
type Party struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// Event is one audit event as a client sends it (docs/FORMAT.md §1). Record
// and Append give an event without ID a UUIDv7 and one without OccurredAt
// the current time, before the first attempt, so every retry is idempotent.
type Event struct {
	// ID is the idempotency key: 1–128 characters of [A-Za-z0-9._:-].
	ID       string `json:"id,omitempty"`
	Actor    Party  `json:"actor"`
	Action   string `json:"action"`
	Resource Party  `json:"resource"`
	// OccurredAt is an RFC 3339 date-time, any offset; the server
	// normalises it to UTC with milliseconds (FORMAT.md §2).
	OccurredAt string `json:"occurred_at,omitempty"`
	// Metadata is any JSON object (nil means {}). Integers beyond ±(2^53−1)
	// are refused by the server: send them as strings.
	Metadata map[string]interface{} `json:"metadata,omitempty"`

	// uncommitted says what the JSON answer this event was read from
	// carried that no hash commits to (StoredEvent.UnmarshalJSON), so that
	// no verification accepts it.
	uncommitted string
}

// StoredEvent is an event as the server answers it: the normalised event
// and its place in the ledger. A tombstoned event (retention) keeps only its
// ID and hashes. Decoded from JSON, it remembers whether the answer was
// exactly what a leaf hash commits to (see UnmarshalJSON).
type StoredEvent struct {
	Event
	Seq        uint64 `json:"seq"`
	LeafHash   Hash   `json:"leaf_hash"`
	ChainHash  Hash   `json:"chain_hash"`
	ReceivedAt string `json:"received_at,omitempty"`
	Tombstoned bool   `json:"tombstoned,omitempty"`
	ArchivedAt string `json:"archived_at,omitempty"`
}

// AppendedEvent is where an appended event landed.
type AppendedEvent struct {
	ID        string `json:"id"`
	Seq       uint64 `json:"seq"`
	LeafHash  Hash   `json:"leaf_hash"`
	ChainHash Hash   `json:"chain_hash"`
}

// AppendResult is the server's answer to an append: a tree size that
// includes every event of the batch, and where each landed.
type AppendResult struct {
	TreeSize uint64          `json:"tree_size"`
	Events   []AppendedEvent `json:"events"`
}

// Hash is a SHA-256 hash: a leaf hash, a chain hash, a Merkle tree node or
// root. It is written as lowercase hex (FORMAT.md conventions).
type Hash [32]byte

// String is the lowercase hex of the hash.
func (h Hash) String() string {
	return hex.EncodeToString(h[:])
}

// MarshalJSON writes the hash as a hex string.
func (h Hash) MarshalJSON() ([]byte, error) {
	return json.Marshal(h.String())
}

// UnmarshalJSON reads a hash from a lowercase hex string.
func (h *Hash) UnmarshalJSON(data []byte) error {
	var text string
	if err := json.Unmarshal(data, &text); err != nil {
		return newError(ErrProtocol, "a hash is a hex string")
	}
	parsed, err := ParseHash(text)
	if err != nil {
		return err
	}
	*h = parsed
	return nil
}

// ParseHash reads 64 lowercase hex digits.
func ParseHash(text string) (Hash, error) {
	var h Hash
	if len(text) != 2*len(h) {
		return h, verificationError("a hash is 64 hex digits, got %d characters", len(text))
	}
	for i := 0; i < len(text); i++ {
		c := text[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return h, verificationError("a hash is lowercase hex")
		}
	}
	if _, err := hex.Decode(h[:], []byte(text)); err != nil {
		return h, verificationError("a hash is lowercase hex")
	}
	return h, nil
}

// parseHashes reads a list of hex hashes (a proof), naming the bad one.
func parseHashes(texts []string) ([]Hash, error) {
	out := make([]Hash, len(texts))
	for i, text := range texts {
		h, err := ParseHash(text)
		if err != nil {
			return nil, newError(ErrProtocol, "proof hash %d: %v", i, err)
		}
		out[i] = h
	}
	return out, nil
}

// Report is what became of the events recorded so far (Flush and Close
// answer it): acknowledged by the server, given up (reported to OnError),
// dropped (reported to OnDrop), and still queued or in flight.
type Report struct {
	Delivered uint64
	Failed    uint64
	Dropped   uint64
	Pending   uint64
}

// String shows the four counts.
func (r Report) String() string {
	return fmt.Sprintf("delivered %d, failed %d, dropped %d, pending %d", r.Delivered, r.Failed, r.Dropped, r.Pending)
}
