package auditstore

import (
	"context"
	"net/http"
	"net/url"
	"runtime/debug"
	"sync/atomic"
	"time"
)

// envelopeBytes is the size of {"events":[ and ]}, the batch around events.
const envelopeBytes = 13

// item is one recorded event on its way: its ledger, the event (for the
// callbacks) and its JSON (what is sent).
type item struct {
	ledger string
	event  Event
	json   []byte
}

// flushRequest asks the sender to send everything it holds, then to close
// done.
type flushRequest struct {
	done chan struct{}
}

// stats counts what became of the recorded events.
type stats struct {
	recorded  atomic.Uint64
	delivered atomic.Uint64
	failed    atomic.Uint64
	dropped   atomic.Uint64
}

func (s *stats) report() Report {
	// Read the outcomes first: an event resolved between the reads is then
	// counted as pending rather than twice.
	delivered := s.delivered.Load()
	failed := s.failed.Load()
	recorded := s.recorded.Load()
	pending := uint64(0)
	if recorded > delivered+failed {
		pending = recorded - delivered - failed
	}
	return Report{Delivered: delivered, Failed: failed, Dropped: s.dropped.Load(), Pending: pending}
}

// batch is a ledger's events waiting to be sent, in the order recorded.
type batch struct {
	events []item
	bytes  int
	since  time.Time
}

// sender is the background goroutine of docs/SDK.md §2: it takes events
// from the bounded queue in order, batches them per ledger (at most
// BatchSize events and BatchBytes bytes a request), sends a batch when it
// is full or FlushInterval after its first event, one request at a time, so
// each ledger's events are appended in the order they were recorded.
type sender struct {
	queue     chan item
	slots     chan struct{}
	flushes   chan flushRequest
	stop      chan struct{}
	transport *transport
	settings  *settings
	stats     *stats
	batches   map[string]*batch
	order     []string // ledgers with a batch, oldest batch first
	timer     *time.Timer
	armed     bool
	// ctx is cancelled when Close gives up waiting: what is left is then
	// reported to OnError rather than sent.
	ctx context.Context
}

func (s *sender) run(done chan<- struct{}) {
	defer close(done)
	s.timer = time.NewTimer(time.Hour)
	s.timer.Stop()
	for {
		var due <-chan time.Time
		if s.armed {
			due = s.timer.C
		}
		select {
		case it := <-s.queue:
			s.add(it)
		case <-due:
			s.armed = false
			s.sendDue(time.Now())
		case request := <-s.flushes:
			s.drain()
			close(request.done)
		case <-s.stop:
			// Close has made Record refuse before it stopped us, so the
			// queue holds all there will ever be.
			s.drain()
			return
		}
	}
}

// drain sends everything recorded so far. Every event recorded before a
// Flush or Close call is in the queue by now (its Record returned before the
// call), so that is what is taken, not what keeps arriving.
func (s *sender) drain() {
	for n := len(s.queue); n > 0; n-- {
		s.add(<-s.queue)
	}
	s.sendAll()
}

// add puts an event into its ledger's batch, sending the batch first if the
// event would overflow its bytes, and after if it is full.
func (s *sender) add(it item) {
	b := s.batches[it.ledger]
	if b != nil && b.bytes+len(it.json)+1 > s.settings.BatchBytes {
		s.sendLedger(it.ledger)
		b = nil
	}
	if b == nil {
		b = &batch{bytes: envelopeBytes, since: time.Now()}
		s.batches[it.ledger] = b
		s.order = append(s.order, it.ledger)
		if !s.armed {
			s.arm(b.since.Add(s.settings.FlushInterval))
		}
	}
	b.events = append(b.events, it)
	b.bytes += len(it.json) + 1
	if len(b.events) >= s.settings.BatchSize {
		s.sendLedger(it.ledger)
	}
}

func (s *sender) arm(at time.Time) {
	if !s.timer.Stop() && s.armed {
		select {
		case <-s.timer.C:
		default:
		}
	}
	s.timer.Reset(time.Until(at))
	s.armed = true
}

// sendDue sends the batches whose first event has waited FlushInterval, and
// sets the timer for the next.
func (s *sender) sendDue(now time.Time) {
	for len(s.order) > 0 {
		first := s.batches[s.order[0]]
		if deadline := first.since.Add(s.settings.FlushInterval); deadline.After(now) {
			s.arm(deadline)
			return
		}
		s.sendLedger(s.order[0])
	}
}

func (s *sender) sendAll() {
	for len(s.order) > 0 {
		s.sendLedger(s.order[0])
	}
}

// sendLedger takes the ledger's batch out and sends it.
func (s *sender) sendLedger(ledger string) {
	b := s.batches[ledger]
	delete(s.batches, ledger)
	for i, name := range s.order {
		if name == ledger {
			s.order = append(s.order[:i], s.order[i+1:]...)
			break
		}
	}
	if b != nil && len(b.events) > 0 {
		s.send(ledger, b)
	}
}

// send posts one batch with the transport's retries; a failure is reported
// and the sender goes on with the next batch.
func (s *sender) send(ledger string, b *batch) {
	body := make([]byte, 0, b.bytes)
	body = append(body, `{"events":[`...)
	for i, it := range b.events {
		if i > 0 {
			body = append(body, ',')
		}
		body = append(body, it.json...)
	}
	body = append(body, "]}"...)
	count := uint64(len(b.events))
	// The batch is resolved either way: its events make room in the queue.
	defer func() {
		for range b.events {
			<-s.slots
		}
	}()
	var err error
	if s.ctx.Err() != nil {
		err = &Error{Kind: ErrClosed, Message: "Close gave up waiting before this batch was sent", Err: s.ctx.Err()}
	} else {
		_, err = s.transport.do(s.ctx, http.MethodPost, "/ledgers/"+url.PathEscape(ledger)+"/events", body)
	}
	if err == nil {
		s.stats.delivered.Add(count)
		return
	}
	s.stats.failed.Add(count)
	events := make([]Event, len(b.events))
	for i, it := range b.events {
		events[i] = it.event
	}
	report(s.settings, s.settings.OnError, err, events, "given up")
}

// report hands events to a callback (or logs them), never letting the
// callback's panic take the sender down with it.
func report(s *settings, callback ReportFunc, err error, events []Event, what string) {
	defer func() {
		if recovered := recover(); recovered != nil {
			s.Logger.Printf("auditstore: the %s callback panicked: %v\n%s", what, recovered, debug.Stack())
		}
	}()
	if callback == nil {
		s.Logger.Printf("auditstore: %d event(s) %s: %v", len(events), what, err)
		return
	}
	callback(err, events)
}
