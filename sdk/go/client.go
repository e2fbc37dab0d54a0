package auditstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// Version is this SDK's version, sent in the User-Agent header.
const Version = "0.1.0"

// Client is an AuditStore client (docs/SDK.md): Record queues events for its
// background sender, Append sends now, the reads and verified reads go to
// the server with the same retries. It is safe for concurrent use; call
// Close before the program exits, since Go runs nothing at exit.
//
// A Client never shows its API key: every fmt verb prints auds_<key id>_….
type Client struct {
	in *clientState
}

type clientState struct {
	settings  *settings
	transport *transport
	verifier  *VerifierKey
	stats     stats
	queue     chan item
	// slots bounds the events recorded and not yet delivered or given up
	// (queued, batched or in flight) to QueueSize: Record takes one, the
	// sender gives it back once the event's batch is resolved.
	slots   chan struct{}
	flushes chan flushRequest
	stop    chan struct{}
	closing chan struct{}
	done    chan struct{}
	cancel  context.CancelFunc

	// mu makes Close wait for the Records already sending: once closed is
	// set under it, nothing more enters the queue.
	mu        sync.RWMutex
	closed    bool
	closeOnce sync.Once
}

// New makes a client and starts its background sender.
func New(config Config) (*Client, error) {
	s, err := config.resolve()
	if err != nil {
		return nil, err
	}
	t, err := newTransport(s)
	if err != nil {
		return nil, err
	}
	in := &clientState{
		settings:  s,
		transport: t,
		queue:     make(chan item, s.QueueSize),
		slots:     make(chan struct{}, s.QueueSize),
		flushes:   make(chan flushRequest),
		stop:      make(chan struct{}),
		closing:   make(chan struct{}),
		done:      make(chan struct{}),
	}
	if s.VerifierKey != "" {
		if in.verifier, err = ParseVerifierKey(s.VerifierKey); err != nil {
			return nil, &Error{Kind: ErrInvalid, Message: "VerifierKey", Err: err}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	in.cancel = cancel
	worker := &sender{
		queue: in.queue, slots: in.slots, flushes: in.flushes, stop: in.stop, transport: t, settings: s,
		stats: &in.stats, batches: map[string]*batch{}, ctx: ctx,
	}
	go worker.run(in.done)
	return &Client{in: in}, nil
}

// Record queues an event for the configured ledger and returns; the
// background sender delivers it. It never waits for the network: when the
// queue is full, the Drop policy reports the event to OnDrop, the Block
// policy waits for room at most its timeout, then answers ErrQueueFull.
// After Close it answers ErrClosed. An event the server would refuse
// (docs/FORMAT.md §1) is refused here with ErrInvalid naming its Field,
// since the server refuses a batch as a whole and one bad event would fail
// the events batched with it.
func (c *Client) Record(event Event) error {
	return c.RecordTo(c.in.settings.Ledger, event)
}

// RecordTo is Record for another ledger.
func (c *Client) RecordTo(ledger string, event Event) error {
	return c.in.record(ledger, event, false)
}

// record queues one event; noWait (the middleware's) treats a full queue as
// Drop whatever the policy, since a request must never wait for AuditStore.
func (in *clientState) record(ledger string, event Event, noWait bool) error {
	if ledger == "" {
		return newError(ErrInvalid, "no ledger given (Config.Ledger)")
	}
	prepared, data, err := in.prepare(event)
	if err != nil {
		return err
	}
	if err := checkIngest(prepared); err != nil {
		return err
	}
	dropped, err := in.enqueue(item{ledger: ledger, event: prepared, json: data}, noWait)
	if dropped {
		// Reported outside the lock, so that even a callback that calls
		// Close against ReportFunc's advice cannot deadlock on it.
		report(in.settings, in.settings.OnDrop, &Error{Kind: ErrQueueFull}, []Event{prepared}, "dropped")
	}
	return err
}

// enqueue puts an item into the queue as the policy says; dropped says the
// caller has an event to report to OnDrop.
func (in *clientState) enqueue(it item, noWait bool) (dropped bool, err error) {
	in.mu.RLock()
	defer in.mu.RUnlock()
	if in.closed {
		return false, &Error{Kind: ErrClosed}
	}
	if !in.takeSlot(noWait) {
		if noWait || in.settings.whenDrop {
			in.stats.dropped.Add(1)
			return true, nil
		}
		select {
		case <-in.closing:
			return false, &Error{Kind: ErrClosed}
		default:
			return false, &Error{Kind: ErrQueueFull, Message: fmt.Sprintf("no room within %s", in.settings.blockWait)}
		}
	}
	in.stats.recorded.Add(1)
	// Never blocks: every item in the queue holds one of QueueSize slots.
	in.queue <- it
	return false, nil
}

// takeSlot takes room for one event, waiting as the Block policy says.
func (in *clientState) takeSlot(noWait bool) bool {
	select {
	case in.slots <- struct{}{}:
		return true
	default:
	}
	if noWait || in.settings.whenDrop || in.settings.blockWait == 0 {
		return false
	}
	timer := time.NewTimer(in.settings.blockWait)
	defer timer.Stop()
	select {
	case in.slots <- struct{}{}:
		return true
	case <-timer.C:
	case <-in.closing:
	}
	return false
}

// prepare gives the event an id (UUIDv7) and occurred_at (now) if it has
// none, here in the caller's goroutine, so the id is fixed before the first
// attempt and every retry is idempotent; and encodes it.
func (in *clientState) prepare(event Event) (Event, []byte, error) {
	if event.ID == "" {
		id, err := newUUIDv7(time.Now())
		if err != nil {
			return event, nil, err
		}
		event.ID = id
	}
	if event.OccurredAt == "" {
		event.OccurredAt = formatMillis(time.Now())
	}
	data, err := json.Marshal(event)
	if err != nil {
		return event, nil, &Error{Kind: ErrInvalid, Message: "the event does not encode as JSON", Err: err}
	}
	if len(data)+envelopeBytes > in.settings.BatchBytes {
		return event, nil, newError(ErrInvalid, "the event is %d bytes, more than a batch may carry", len(data))
	}
	return event, data, nil
}

// formatMillis writes a time as AuditStore does: RFC 3339, UTC, exactly
// three fractional digits.
func formatMillis(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// newUUIDv7 makes an RFC 9562 §5.7 UUID: 48 bits of Unix milliseconds, the
// version (7), 12 random bits, the variant (10), 62 random bits.
func newUUIDv7(now time.Time) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[6:]); err != nil {
		return "", &Error{Kind: ErrInvalid, Message: "no randomness for an event id", Err: err}
	}
	ms := uint64(now.UnixMilli())
	for i := 5; i >= 0; i-- {
		b[i] = byte(ms)
		ms >>= 8
	}
	b[6] = b[6]&0x0f | 0x70
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:]), nil
}

// Flush waits until every event recorded before the call is acknowledged
// (a 2xx: durably committed) or given up, or ctx is done; the report says
// what became of the events so far, Pending how many are left. The error is
// ctx's when it ended the wait.
func (c *Client) Flush(ctx context.Context) (Report, error) {
	request := flushRequest{done: make(chan struct{})}
	select {
	case c.in.flushes <- request:
	case <-c.in.done:
		return c.in.stats.report(), nil
	case <-ctx.Done():
		return c.in.stats.report(), &Error{Kind: ErrNetwork, Message: "flush", Err: ctx.Err()}
	}
	select {
	case <-request.done:
		return c.in.stats.report(), nil
	case <-c.in.done:
		return c.in.stats.report(), nil
	case <-ctx.Done():
		return c.in.stats.report(), &Error{Kind: ErrNetwork, Message: "flush", Err: ctx.Err()}
	}
}

// Close stops Record (later calls answer ErrClosed), sends what is queued
// and stops the sender; the report says what became of every event. If ctx
// ends first, Close answers at once with what is still Pending, and the
// sender reports those events to OnError instead of sending them, so none
// vanishes unreported. Calling Close again answers the report.
func (c *Client) Close(ctx context.Context) (Report, error) {
	in := c.in
	in.closeOnce.Do(func() {
		close(in.closing)
		in.mu.Lock()
		in.closed = true
		in.mu.Unlock()
		close(in.stop)
	})
	select {
	case <-in.done:
		in.cancel()
		return in.stats.report(), nil
	case <-ctx.Done():
		in.cancel()
		return in.stats.report(), &Error{Kind: ErrNetwork, Message: "close", Err: ctx.Err()}
	}
}

// Report says what became of the events recorded so far.
func (c *Client) Report() Report {
	return c.in.stats.report()
}

// Append sends events to the configured ledger now, in one request with the
// retries of docs/SDK.md §3 (ids and times assigned to those without), and
// answers where each landed.
func (c *Client) Append(ctx context.Context, events []Event) (*AppendResult, error) {
	return c.AppendTo(ctx, c.in.settings.Ledger, events)
}

// AppendTo is Append for another ledger.
func (c *Client) AppendTo(ctx context.Context, ledger string, events []Event) (*AppendResult, error) {
	if ledger == "" {
		return nil, newError(ErrInvalid, "no ledger given (Config.Ledger)")
	}
	body := []byte(`{"events":[`)
	for i, event := range events {
		_, data, err := c.in.prepare(event)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, data...)
	}
	body = append(body, "]}"...)
	var out AppendResult
	if err := c.in.transport.getJSON(ctx, http.MethodPost, ledgerPath(ledger)+"/events", body, &out); err != nil {
		return nil, err
	}
	if len(out.Events) != len(events) {
		return nil, newError(ErrProtocol, "an append of %d events answered %d", len(events), len(out.Events))
	}
	return &out, nil
}

func ledgerPath(ledger string) string {
	return "/ledgers/" + url.PathEscape(ledger)
}

// pinned is the verifier key every verification needs.
func (c *Client) pinned() (*VerifierKey, error) {
	if c.in.verifier == nil {
		return nil, newError(ErrInvalid, "no verifier key is pinned (Config.VerifierKey)")
	}
	return c.in.verifier, nil
}

func (c *Client) describe() string {
	s := c.in.settings
	return fmt.Sprintf("auditstore.Client{BaseURL:%q, APIKey:%q, Ledger:%q}", s.BaseURL, shownKey(s.APIKey), s.Ledger)
}

// String shows the client with its key as auds_<key id>_….
func (c Client) String() string {
	if c.in == nil {
		return "auditstore.Client{}"
	}
	return c.describe()
}

// GoString is String, so %#v hides the key too.
func (c Client) GoString() string {
	return c.String()
}

// Format prints the redacted form for every verb.
func (c Client) Format(f fmt.State, verb rune) {
	text := c.String()
	if verb == 'q' {
		text = fmt.Sprintf("%q", text)
	}
	_, _ = f.Write([]byte(text))
}

// MarshalJSON writes the client without its key.
func (c Client) MarshalJSON() ([]byte, error) {
	return json.Marshal(c.String())
}
