package auditstore

// GetVerifiedEvent against a stand-in that answers as AuditStore does, from
// the vector events and a checkpoint signed offline with a test key: every
// event verifies, and each tampered twin (of the event's content, its
// leaf_hash, its parties' members, the proof, the note) fails. An event
// decoded from JSON with members no hash commits to never verifies either.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// ledgerServer serves GET event, checkpoint and inclusion proof of one
// ledger; each answer can be replaced by a tampered one.
type ledgerServer struct {
	*httptest.Server
	mu     sync.Mutex
	events map[string]string // id → the answer's JSON
	note   string
	proofs map[uint64][]Hash // seq → the proof in the tree of size
	size   uint64
}

func newLedgerServer(t *testing.T) *ledgerServer {
	s := &ledgerServer{events: map[string]string{}, proofs: map[uint64][]Hash{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// answer replaces the answer for an event id.
func (s *ledgerServer) answer(id, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events[id] = body
}

func (s *ledgerServer) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	const prefix = "/v1/ledgers/acme-prod"
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, prefix+"/events/"):
		if body, ok := s.events[strings.TrimPrefix(path, prefix+"/events/")]; ok {
			_, _ = w.Write([]byte(body))
			return
		}
	case path == prefix+"/checkpoint":
		_, _ = w.Write([]byte(s.note))
		return
	case path == prefix+"/proofs/inclusion":
		seq, _ := strconv.ParseUint(r.URL.Query().Get("seq"), 10, 64)
		if proof, ok := s.proofs[seq]; ok && r.URL.Query().Get("tree_size") == strconv.FormatUint(s.size, 10) {
			hexes := []string{}
			for _, h := range proof {
				hexes = append(hexes, h.String())
			}
			_ = json.NewEncoder(w).Encode(map[string]interface{}{"leaf_index": seq, "tree_size": s.size, "proof": hexes})
			return
		}
	}
	w.WriteHeader(http.StatusNotFound)
	_, _ = w.Write([]byte(`{"type":"about:blank","title":"Not Found","status":404}`))
}

// storedAnswer is an event answer as the server writes it: the normalised
// event with its place in the ledger.
func storedAnswer(t *testing.T, e Event, seq int, leaf Hash) string {
	t.Helper()
	n, err := normalise(e)
	if err != nil {
		t.Fatal(err)
	}
	chain := nodeHash(leaf, leaf) // any hash: nothing here checks the chain
	return fmt.Sprintf(`{"chain_hash":"%s","leaf_hash":"%s","received_at":null,"seq":%d,`, chain, leaf, seq) +
		string(n.canonicalEvent()[1:])
}

// verifiedFixture is a ledger of the vector events served as AuditStore
// would, with a client pinning the key that signed its checkpoint.
type verifiedFixture struct {
	server *ledgerServer
	client *Client
	key    *VerifierKey
	events []Event
	leaves []Hash
	note   string
	good   string // the answer for evt_0009 (seq 8)
}

func newVerifiedFixture(t *testing.T) *verifiedFixture {
	key, private := testKey(t, "audit.example.com", 7)
	events, leaves := vectorLeaves(t)
	f := &verifiedFixture{server: newLedgerServer(t), key: key, events: events, leaves: leaves}
	f.note = signedCheckpoint(key, private, "audit.example.com/ledgers/acme-prod", len(leaves), treeHash(leaves))
	f.server.mu.Lock()
	f.server.note, f.server.size = f.note, uint64(len(leaves))
	for seq, e := range events {
		f.server.events[e.ID] = storedAnswer(t, e, seq, leaves[seq])
		f.server.proofs[uint64(seq)] = inclusionPath(seq, leaves)
	}
	f.good = f.server.events["evt_0009"]
	f.server.mu.Unlock()
	f.client = testClient(t, Config{BaseURL: f.server.URL, Ledger: "acme-prod", VerifierKey: key.String(), MaxRetries: NoRetries})
	return f
}

func TestGetVerifiedEventVerifiesEveryEventAndEveryTwinFails(t *testing.T) {
	f := newVerifiedFixture(t)
	ctx := context.Background()
	for seq, e := range f.events {
		got, checkpoint, err := f.client.GetVerifiedEvent(ctx, "acme-prod", e.ID)
		if err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		if got.Seq != uint64(seq) || got.LeafHash != f.leaves[seq] || checkpoint.TreeSize != uint64(len(f.leaves)) {
			t.Fatalf("%s verified as seq %d, leaf %s, tree %d", e.ID, got.Seq, got.LeafHash, checkpoint.TreeSize)
		}
	}
	_, otherPrivate := testKey(t, "audit.example.com", 8)
	other, _ := testKey(t, "audit.example.com", 8)
	key, private := testKey(t, "audit.example.com", 7)
	good := f.good
	replace := func(old, new string) string {
		if !strings.Contains(good, old) {
			t.Fatalf("%q is not in %s", old, good)
		}
		return strings.Replace(good, old, new, 1)
	}
	const actor, resource = `"actor":{"id":"u_9","type":"user"}`, `"resource":{"id":"sess_2","type":"session"}`
	// Each twin is the answer for evt_0009 and what its error names.
	twins := map[string][2]string{
		"an altered metadata value": {replace("bad_totp", "bad_totq"), "does not hash"},
		"a wrong leaf_hash":         {replace(f.leaves[8].String(), f.leaves[7].String()), "does not hash"},
		"an actor with an email":    {replace(actor, `"actor":{"email":"jane@example.com","id":"u_9","type":"user"}`), `"email"`},
		"a resource with an owner":  {replace(resource, `"resource":{"id":"sess_2","owner":"u_1","type":"session"}`), `"owner"`},
		"an actor's ID in capitals": {replace(actor, `"actor":{"ID":"u_9","type":"user"}`), `"ID"`},
		"a duplicate actor id":      {replace(actor, `"actor":{"id":"u_1","id":"u_9","type":"user"}`), "duplicate"},
		"a duplicate action":        {replace(`"action":"login.failed"`, `"action":"login.x","action":"login.failed"`), "duplicate"},
		"an action in capitals":     {replace(`"action":`, `"Action":`), `"Action"`},
		"a null name":               {replace(actor, `"actor":{"id":"u_9","name":null,"type":"user"}`), "name"},
		"an empty name":             {replace(resource, `"resource":{"id":"sess_2","name":"","type":"session"}`), "name"},
		"null metadata":             {replace(`"metadata":{"reason":"bad_totp"}`, `"metadata":null`), "metadata"},
	}
	for what, twin := range twins {
		f.server.answer("evt_0009", twin[0])
		_, _, err := f.client.GetVerifiedEvent(ctx, "acme-prod", "evt_0009")
		if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), twin[1]) {
			t.Errorf("%s: %v", what, err)
		}
		t.Logf("%s: %v", what, err)
	}
	f.server.answer("evt_0009", good)
	// null in place of {}: the same hash, yet not an event.
	empty := storedAnswer(t, f.events[1], 1, f.leaves[1])
	f.server.answer("evt_0002", strings.Replace(empty, `"metadata":{}`, `"metadata":null`, 1))
	if _, _, err := f.client.GetVerifiedEvent(ctx, "acme-prod", "evt_0002"); !errors.Is(err, ErrVerification) ||
		!strings.Contains(err.Error(), "metadata is not an object") {
		t.Errorf("null metadata: %v", err)
	}
	f.server.answer("evt_0002", empty)

	// The proof and the note.
	proof := inclusionPath(8, f.leaves)
	flipped := append([]Hash(nil), proof...)
	flipped[1][0] ^= 1
	root := treeHash(f.leaves)
	notes := map[string]string{
		"a note signed by another key": signedCheckpoint(other, otherPrivate, "audit.example.com/ledgers/acme-prod", len(f.leaves), root),
		"a note over another root":     signedCheckpoint(key, private, "audit.example.com/ledgers/acme-prod", len(f.leaves), f.leaves[0]),
		"a flipped signature byte":     flipSignature(f.note),
	}
	for what, note := range notes {
		f.server.mu.Lock()
		f.server.note = note
		f.server.mu.Unlock()
		if _, _, err := f.client.GetVerifiedEvent(ctx, "acme-prod", "evt_0009"); !errors.Is(err, ErrVerification) {
			t.Errorf("%s: %v", what, err)
		}
	}
	f.server.mu.Lock()
	f.server.note, f.server.proofs[8] = f.note, flipped
	f.server.mu.Unlock()
	if _, _, err := f.client.GetVerifiedEvent(ctx, "acme-prod", "evt_0009"); !errors.Is(err, ErrVerification) {
		t.Errorf("a flipped proof hash: %v", err)
	}
}

// flipSignature flips one bit of a note's last signature.
func flipSignature(note string) string {
	sig := strings.TrimSuffix(note[strings.LastIndex(note, " ")+1:], "\n")
	raw, _ := base64.StdEncoding.DecodeString(sig)
	raw[10] ^= 1
	return strings.Replace(note, sig, base64.StdEncoding.EncodeToString(raw), 1)
}

func TestAStoredEventReadFromJSONWithUncommittedMembersNeverVerifies(t *testing.T) {
	f := newVerifiedFixture(t)
	checkpoint, err := VerifyCheckpoint(f.note, f.key)
	if err != nil {
		t.Fatal(err)
	}
	proof := inclusionPath(8, f.leaves)
	extra := strings.Replace(f.good, `"actor":{"id":"u_9"`, `"actor":{"email":"jane@example.com","id":"u_9"`, 1)
	var page Page
	if err := json.Unmarshal([]byte(`{"events":[`+f.good+`,`+extra+`],"next_cursor":null}`), &page); err != nil {
		t.Fatalf("a page with an odd event is still read: %v", err)
	}
	good, odd := page.Events[0], page.Events[1]
	if err := VerifyEventInclusion(good.Event, good.Seq, proof, checkpoint); err != nil {
		t.Fatalf("the good event: %v", err)
	}
	if odd.Actor != good.Actor {
		t.Fatalf("encoding/json read the actor as %+v", odd.Actor)
	}
	err = VerifyEventInclusion(odd.Event, odd.Seq, proof, checkpoint)
	if !errors.Is(err, ErrVerification) || !strings.Contains(err.Error(), `actor has a member "email"`) {
		t.Fatalf("an actor with an email: %v", err)
	}
	// Through the client's own reads as well.
	f.server.answer("evt_0009", extra)
	read, err := f.client.GetEvent(context.Background(), "acme-prod", "evt_0009")
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyEventInclusion(read.Event, read.Seq, proof, checkpoint); !errors.Is(err, ErrVerification) {
		t.Fatalf("GetEvent then VerifyEventInclusion: %v", err)
	}
	// Metadata numbers keep their digits (json.Number), as getJSON reads them.
	var big StoredEvent
	if err := json.Unmarshal([]byte(storedAnswer(t, f.events[4], 4, f.leaves[4])), &big); err != nil {
		t.Fatal(err)
	}
	if big.Metadata["tiny"] != json.Number("5e-324") {
		t.Fatalf("a number read as %#v", big.Metadata["tiny"])
	}
	if err := VerifyEventInclusion(big.Event, big.Seq, inclusionPath(4, f.leaves), checkpoint); err != nil {
		t.Fatalf("evt_0005 decoded with encoding/json: %v", err)
	}
}
