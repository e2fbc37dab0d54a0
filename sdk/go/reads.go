package auditstore

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
)

// Reads (docs/SDK.md §5) and verified reads (§6). A tree size or "to" of 0
// means the current one (a tree of size 0 has no leaf to prove).

// Filter narrows a listing; empty members are left out. From (included) and
// To (excluded) are RFC 3339 times.
type Filter struct {
	ActorType    string
	ActorID      string
	Action       string
	ResourceType string
	ResourceID   string
	From         string
	To           string
	// Limit is the most events a page holds (the server's default when 0).
	Limit int
}

func (f Filter) query(cursor string) string {
	q := url.Values{}
	for name, value := range map[string]string{
		"actor_type": f.ActorType, "actor_id": f.ActorID, "action": f.Action, "resource_type": f.ResourceType,
		"resource_id": f.ResourceID, "from": f.From, "to": f.To, "cursor": cursor,
	} {
		if value != "" {
			q.Set(name, value)
		}
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	return q.Encode()
}

// Page is one page of a listing, newest first; NextCursor is empty after
// the last. A filtered page may hold fewer events than asked (even none)
// and still have a next one.
type Page struct {
	Events     []StoredEvent `json:"events"`
	NextCursor string        `json:"next_cursor"`
}

// GetEvent reads one event by id.
func (c *Client) GetEvent(ctx context.Context, ledger, id string) (*StoredEvent, error) {
	var out StoredEvent
	if err := c.in.transport.getJSON(ctx, http.MethodGet, ledgerPath(ledger)+"/events/"+url.PathEscape(id), nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListEvents reads the first page of a listing.
func (c *Client) ListEvents(ctx context.Context, ledger string, filter Filter) (*Page, error) {
	return c.listPage(ctx, ledger, filter, "")
}

func (c *Client) listPage(ctx context.Context, ledger string, filter Filter, cursor string) (*Page, error) {
	var out struct {
		Events     *[]StoredEvent `json:"events"`
		NextCursor *string        `json:"next_cursor"`
	}
	path := ledgerPath(ledger) + "/events?" + filter.query(cursor)
	if err := c.in.transport.getJSON(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	if out.Events == nil {
		return nil, newError(ErrProtocol, "a page without events")
	}
	page := &Page{Events: *out.Events}
	if out.NextCursor != nil {
		page.NextCursor = *out.NextCursor
	}
	return page, nil
}

// Pages iterates over every page of a listing, following next_cursor until
// it is null:
//
//	pages := client.Pages(ledger, filter)
//	for pages.Next(ctx) {
//		for _, event := range pages.Page().Events { … }
//	}
//	if err := pages.Err(); err != nil { … }
func (c *Client) Pages(ledger string, filter Filter) *PageIterator {
	return &PageIterator{client: c, ledger: ledger, filter: filter}
}

// PageIterator walks a listing page by page.
type PageIterator struct {
	client *Client
	ledger string
	filter Filter
	cursor string
	page   *Page
	err    error
	done   bool
}

// Next fetches the next page; false once there is none or a request failed
// (then Err says why).
func (it *PageIterator) Next(ctx context.Context) bool {
	if it.done {
		return false
	}
	page, err := it.client.listPage(ctx, it.ledger, it.filter, it.cursor)
	if err != nil {
		it.err, it.done, it.page = err, true, nil
		return false
	}
	if page.NextCursor != "" && page.NextCursor == it.cursor {
		it.err, it.done, it.page = newError(ErrProtocol, "the server answered the same cursor again"), true, nil
		return false
	}
	it.page, it.cursor, it.done = page, page.NextCursor, page.NextCursor == ""
	return true
}

// Page is the page Next fetched.
func (it *PageIterator) Page() *Page {
	return it.page
}

// Err is why Next stopped early, or nil.
func (it *PageIterator) Err() error {
	return it.err
}

// Events iterates over every event of a listing, newest first, fetching
// pages as it goes.
func (c *Client) Events(ledger string, filter Filter) *EventIterator {
	return &EventIterator{pages: c.Pages(ledger, filter)}
}

// EventIterator walks a listing event by event.
type EventIterator struct {
	pages   *PageIterator
	pending []StoredEvent
	current StoredEvent
}

// Next moves to the next event; false at the end or on an error (Err).
func (it *EventIterator) Next(ctx context.Context) bool {
	for len(it.pending) == 0 {
		if !it.pages.Next(ctx) {
			return false
		}
		it.pending = it.pages.Page().Events
	}
	it.current, it.pending = it.pending[0], it.pending[1:]
	return true
}

// Event is the event Next moved to.
func (it *EventIterator) Event() StoredEvent {
	return it.current
}

// Err is why Next stopped early, or nil.
func (it *EventIterator) Err() error {
	return it.pages.Err()
}

func sizeQuery(prefix string, size uint64) string {
	if size == 0 {
		return ""
	}
	return prefix + "tree_size=" + strconv.FormatUint(size, 10)
}

// CheckpointNote reads the ledger's signed checkpoint note as the server
// answers it, unverified (0: the current tree).
func (c *Client) CheckpointNote(ctx context.Context, ledger string, treeSize uint64) (string, error) {
	answer, err := c.in.transport.do(ctx, http.MethodGet, ledgerPath(ledger)+"/checkpoint"+sizeQuery("?", treeSize), nil)
	if err != nil {
		return "", err
	}
	return string(answer.body), nil
}

// Checkpoint reads the ledger's checkpoint (0: the current tree) and
// verifies it: the signature against the pinned key, the origin naming the
// ledger, the tree size the one asked for.
func (c *Client) Checkpoint(ctx context.Context, ledger string, treeSize uint64) (*Checkpoint, error) {
	key, err := c.pinned()
	if err != nil {
		return nil, err
	}
	note, err := c.CheckpointNote(ctx, ledger, treeSize)
	if err != nil {
		return nil, err
	}
	checkpoint, err := VerifyCheckpoint(note, key)
	if err != nil {
		return nil, err
	}
	if !OriginNamesLedger(checkpoint.Origin, ledger) {
		return nil, verificationError("the checkpoint is of %s, not of ledger %s", checkpoint.Origin, ledger)
	}
	if treeSize != 0 && checkpoint.TreeSize != treeSize {
		return nil, verificationError("the checkpoint is of size %d, not %d as asked", checkpoint.TreeSize, treeSize)
	}
	return checkpoint, nil
}

type proofAnswer struct {
	Proof *[]string `json:"proof"`
}

func (c *Client) proof(ctx context.Context, path string) ([]Hash, error) {
	var out proofAnswer
	if err := c.in.transport.getJSON(ctx, http.MethodGet, path, nil, &out); err != nil {
		return nil, err
	}
	if out.Proof == nil {
		return nil, newError(ErrProtocol, "an answer without its proof")
	}
	return parseHashes(*out.Proof)
}

// InclusionProof reads the RFC 9162 inclusion proof of leaf seq in the tree
// of treeSize (0: the current tree). Verify it with VerifyInclusion against
// a verified checkpoint of that size.
func (c *Client) InclusionProof(ctx context.Context, ledger string, seq, treeSize uint64) ([]Hash, error) {
	path := ledgerPath(ledger) + "/proofs/inclusion?seq=" + strconv.FormatUint(seq, 10) + sizeQuery("&", treeSize)
	return c.proof(ctx, path)
}

// ConsistencyProof reads the RFC 9162 consistency proof from the tree of
// size from to the tree of size to (0: the current tree).
func (c *Client) ConsistencyProof(ctx context.Context, ledger string, from, to uint64) ([]Hash, error) {
	path := ledgerPath(ledger) + "/proofs/consistency?from=" + strconv.FormatUint(from, 10)
	if to != 0 {
		path += "&to=" + strconv.FormatUint(to, 10)
	}
	return c.proof(ctx, path)
}

// Integrity is the server's tamper monitor's verdict on a ledger.
type Integrity struct {
	Ledger                 string            `json:"ledger"`
	Status                 string            `json:"status"`
	Stale                  bool              `json:"stale"`
	TreeSize               uint64            `json:"tree_size"`
	VerifiedSize           uint64            `json:"verified_size"`
	VerificationAgeSeconds int64             `json:"verification_age_seconds"`
	MonitorIntervalSeconds int64             `json:"monitor_interval_seconds"`
	Anomalies              []json.RawMessage `json:"anomalies"`
}

// Integrity reads the tamper monitor's verdict on the ledger.
func (c *Client) Integrity(ctx context.Context, ledger string) (*Integrity, error) {
	var out Integrity
	if err := c.in.transport.getJSON(ctx, http.MethodGet, ledgerPath(ledger)+"/integrity", nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Evidence reads an event's evidence file (docs/FORMAT.md §12), for
// VerifyEvidence, offline.
func (c *Client) Evidence(ctx context.Context, ledger, id string) (string, error) {
	answer, err := c.in.transport.do(ctx, http.MethodGet, ledgerPath(ledger)+"/events/"+url.PathEscape(id)+"/evidence", nil)
	if err != nil {
		return "", err
	}
	return string(answer.body), nil
}

// GetVerifiedEvent reads one event and proves it included in the ledger's
// current signed checkpoint, trusting nothing of the server's: the answer
// read strictly (no duplicate members, parties of exactly type, id and an
// optional non-empty name, nothing a hash would not commit to), its leaf
// hash computed here from its content (never the one sent with it), the
// inclusion proof checked against the checkpoint's root, the checkpoint's
// signature against the pinned key.
func (c *Client) GetVerifiedEvent(ctx context.Context, ledger, id string) (*StoredEvent, *Checkpoint, error) {
	if _, err := c.pinned(); err != nil {
		return nil, nil, err
	}
	event, err := c.GetEvent(ctx, ledger, id)
	if err != nil {
		return nil, nil, err
	}
	if event.Tombstoned {
		return nil, nil, verificationError("event %s is a tombstone: its content is archived", id)
	}
	if event.ID != id {
		return nil, nil, verificationError("asked for event %s, the server answered %q", id, truncate(event.ID, 128))
	}
	// GetEvent's decoding read the answer a second time, strictly.
	if err := checkCommitted(event.Event); err != nil {
		return nil, nil, err
	}
	local, err := LeafHash(event.Event)
	if err != nil {
		return nil, nil, err
	}
	if local != event.LeafHash {
		return nil, nil, verificationError("event %s's content does not hash to the leaf hash it came with", id)
	}
	checkpoint, err := c.Checkpoint(ctx, ledger, 0)
	if err != nil {
		return nil, nil, err
	}
	proof, err := c.InclusionProof(ctx, ledger, event.Seq, checkpoint.TreeSize)
	if err != nil {
		return nil, nil, err
	}
	if err := VerifyInclusion(event.Seq, checkpoint.TreeSize, local, proof, checkpoint.Root); err != nil {
		return nil, nil, err
	}
	return event, checkpoint, nil
}
