package auditstore

// The sending and retry rules of docs/SDK.md §2–§4 against a local
// stand-in: 503 with Retry-After twice then 201 (the same ids three times,
// the wait honoured), a 400 never retried but reported, a full queue that
// drops or refuses, batches within their limits and in order, and a key
// that shows nowhere.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var uuidV7 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

type seenRequest struct {
	at     time.Time
	path   string
	auth   string
	size   int
	events []Event
}

// standIn answers each request with the next of answers ({status,
// retry-after}), then 201 with the events it was sent.
type standIn struct {
	*httptest.Server
	mu      sync.Mutex
	answers [][2]string
	seen    []seenRequest
	hold    time.Duration
}

func newStandIn(t *testing.T, answers ...[2]string) *standIn {
	s := &standIn{answers: answers}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Events []Event `json:"events"`
	}
	data := make([]byte, 0, 1024)
	buf := make([]byte, 4096)
	for {
		n, err := r.Body.Read(buf)
		data = append(data, buf[:n]...)
		if err != nil {
			break
		}
	}
	_ = json.Unmarshal(data, &body)
	s.mu.Lock()
	s.seen = append(s.seen, seenRequest{at: time.Now(), path: r.URL.Path, auth: r.Header.Get("Authorization"), size: len(data), events: body.Events})
	var answer [2]string
	if len(s.answers) > 0 {
		answer, s.answers = s.answers[0], s.answers[1:]
	}
	hold := s.hold
	s.mu.Unlock()
	if hold > 0 {
		select {
		case <-time.After(hold):
		case <-r.Context().Done():
			return
		}
	}
	if answer[0] == "" || answer[0] == "201" {
		out := AppendResult{TreeSize: uint64(len(body.Events))}
		for i, e := range body.Events {
			out.Events = append(out.Events, AppendedEvent{ID: e.ID, Seq: uint64(i)})
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(out)
		return
	}
	if answer[0] == "drop" {
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
		return
	}
	w.Header().Set("Content-Type", "application/problem+json")
	if answer[1] != "" {
		w.Header().Set("Retry-After", answer[1])
	}
	var status int
	fmt.Sscan(answer[0], &status)
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"type":"about:blank","title":"t","status":%d,"detail":"told to","field":"events[0]"}`, status)
}

func (s *standIn) requests() []seenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seenRequest(nil), s.seen...)
}

func testEvent(n int) Event {
	return Event{Actor: Party{Type: "user", ID: "u"}, Action: "a.b", Resource: Party{Type: "r", ID: fmt.Sprint(n)}}
}

func testClient(t *testing.T, config Config) *Client {
	t.Helper()
	if config.APIKey == "" {
		config.APIKey = "auds_k_secret"
	}
	if config.Ledger == "" {
		config.Ledger = "ldg_1"
	}
	client, err := New(config)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = client.Close(context.Background()) })
	return client
}

func TestA503WithRetryAfterIsRetriedWithTheSameIdsAfterTheWait(t *testing.T) {
	server := newStandIn(t, [2]string{"503", "1"}, [2]string{"503", "1"})
	client := testClient(t, Config{BaseURL: server.URL, RetryBase: 10 * time.Millisecond})
	appended, err := client.Append(context.Background(), []Event{testEvent(1), testEvent(2)})
	if err != nil {
		t.Fatal(err)
	}
	seen := server.requests()
	if len(appended.Events) != 2 || len(seen) != 3 {
		t.Fatalf("%d events answered, %d attempts", len(appended.Events), len(seen))
	}
	for i, attempt := range seen {
		if attempt.auth != "Bearer auds_k_secret" || attempt.path != "/v1/ledgers/ldg_1/events" {
			t.Errorf("attempt %d: %q %q", i, attempt.auth, attempt.path)
		}
		for j, e := range attempt.events {
			if e.ID != seen[0].events[j].ID || e.OccurredAt != seen[0].events[j].OccurredAt {
				t.Errorf("attempt %d carries event %d as %s at %s", i, j, e.ID, e.OccurredAt)
			}
			if !uuidV7.MatchString(e.ID) || len(e.OccurredAt) != len("2026-11-26T10:00:00.123Z") || !strings.HasSuffix(e.OccurredAt, "Z") {
				t.Errorf("event %d: id %s, occurred_at %s", j, e.ID, e.OccurredAt)
			}
		}
		if i > 0 && attempt.at.Sub(seen[i-1].at) < 950*time.Millisecond {
			t.Errorf("attempt %d came %s after the last: Retry-After: 1 not honoured", i, attempt.at.Sub(seen[i-1].at))
		}
	}
	if appended.Events[0].ID != seen[0].events[0].ID {
		t.Error("the answer names other ids")
	}
}

func TestA400IsNotRetriedAndABackgroundBatchIsReported(t *testing.T) {
	server := newStandIn(t, [2]string{"400", ""}, [2]string{"400", ""})
	var mu sync.Mutex
	var reported []string
	client := testClient(t, Config{BaseURL: server.URL, OnError: func(err error, events []Event) {
		mu.Lock()
		defer mu.Unlock()
		reported = append(reported, fmt.Sprintf("%d %v", len(events), err))
	}})
	_, err := client.Append(context.Background(), []Event{testEvent(1)})
	var problem *Error
	if !errors.As(err, &problem) || !errors.Is(err, ErrProblem) || problem.Status != 400 || problem.Field != "events[0]" ||
		problem.Detail != "told to" || problem.Retryable() {
		t.Fatalf("%#v", err)
	}
	if len(server.requests()) != 1 {
		t.Fatalf("a 400 was retried: %d attempts", len(server.requests()))
	}
	if err := client.Record(testEvent(2)); err != nil {
		t.Fatal(err)
	}
	report, err := client.Close(context.Background())
	if err != nil || report.Delivered != 0 || report.Failed != 1 || report.Pending != 0 {
		t.Fatalf("%v %v", report, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(reported) != 1 || !strings.HasPrefix(reported[0], "1 auditstore: AuditStore answered 400 t: told to (field events[0])") {
		t.Fatalf("reported %q", reported)
	}
	if err := client.Record(testEvent(3)); !errors.Is(err, ErrClosed) {
		t.Fatalf("a record after close: %v", err)
	}
}

func TestAFullQueueDropsAndReportsOrRefusesAsConfigured(t *testing.T) {
	server := newStandIn(t)
	var dropped int
	var mu sync.Mutex
	client := testClient(t, Config{BaseURL: server.URL, QueueSize: 5, FlushInterval: time.Minute, WhenFull: Drop,
		OnDrop: func(err error, events []Event) {
			mu.Lock()
			defer mu.Unlock()
			if errors.Is(err, ErrQueueFull) {
				dropped += len(events)
			}
		}})
	for i := 0; i < 50; i++ {
		if err := client.Record(testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	report, err := client.Close(context.Background())
	if err != nil || report.Dropped != 45 || report.Delivered != 5 || dropped != 45 {
		t.Fatalf("%v %v, %d reported", report, err, dropped)
	}

	strict := testClient(t, Config{BaseURL: server.URL, QueueSize: 1, FlushInterval: time.Minute, WhenFull: Block(200 * time.Millisecond)})
	if err := strict.Record(testEvent(1)); err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	err = strict.Record(testEvent(2))
	if !errors.Is(err, ErrQueueFull) || time.Since(started) < 190*time.Millisecond {
		t.Fatalf("%v after %s", err, time.Since(started))
	}
	if report, _ := strict.Close(context.Background()); report.Delivered != 1 {
		t.Fatalf("%v", report)
	}
}

func TestBatchesKeepTheirLimitsAndTheOrderOfEachLedger(t *testing.T) {
	server := newStandIn(t)
	client := testClient(t, Config{BaseURL: server.URL, BatchSize: 400, BatchBytes: 16 << 10})
	var want = map[string][]string{}
	for i := 0; i < 2500; i++ {
		ledger := []string{"ldg_a", "ldg_b"}[i%3/2]
		e := testEvent(i)
		e.ID = fmt.Sprintf("evt_%05d", i)
		if err := client.RecordTo(ledger, e); err != nil {
			t.Fatal(err)
		}
		want["/v1/ledgers/"+ledger+"/events"] = append(want["/v1/ledgers/"+ledger+"/events"], e.ID)
	}
	report, err := client.Flush(context.Background())
	if err != nil || report.Delivered != 2500 || report.Pending != 0 {
		t.Fatalf("%v %v", report, err)
	}
	got := map[string][]string{}
	for _, r := range server.requests() {
		if len(r.events) > 400 || r.size > 16<<10 {
			t.Errorf("a batch of %d events, %d bytes", len(r.events), r.size)
		}
		for _, e := range r.events {
			got[r.path] = append(got[r.path], e.ID)
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("the ledgers' events arrived out of order")
	}
}

func TestAnEventIsSentAfterTheFlushIntervalAndANetworkErrorIsRetried(t *testing.T) {
	server := newStandIn(t, [2]string{"drop", ""})
	client := testClient(t, Config{BaseURL: server.URL, FlushInterval: 200 * time.Millisecond, RetryBase: 10 * time.Millisecond})
	if err := client.Record(testEvent(1)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for client.Report().Delivered != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	seen := server.requests()
	if client.Report().Delivered != 1 || len(seen) != 2 || seen[0].events[0].ID != seen[1].events[0].ID {
		t.Fatalf("%v after %d attempts", client.Report(), len(seen))
	}
}

func TestCloseThatGivesUpReportsWhatIsLeftToOnError(t *testing.T) {
	server := newStandIn(t)
	server.hold = 10 * time.Second
	gaveUp := make(chan int, 10)
	client := testClient(t, Config{BaseURL: server.URL, OnError: func(err error, events []Event) { gaveUp <- len(events) }})
	for i := 0; i < 3; i++ {
		if err := client.Record(testEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	report, err := client.Close(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || report.Pending != 3 {
		t.Fatalf("%v %v", report, err)
	}
	select {
	case n := <-gaveUp:
		if n != 3 {
			t.Fatalf("%d events reported", n)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the events were never reported")
	}
}

func TestRetriesFollowTheRules(t *testing.T) {
	client := testClient(t, Config{BaseURL: "https://a.example"})
	transport := client.in.transport
	for i := 0; i < 200; i++ {
		if d := transport.backoff(1, 0); d > 500*time.Millisecond {
			t.Fatalf("retry 1 waits %s", d)
		}
		if d := transport.backoff(3, 0); d > 2*time.Second {
			t.Fatalf("retry 3 waits %s", d)
		}
		if d := transport.backoff(60, 0); d > 30*time.Second {
			t.Fatalf("retry 60 waits %s", d)
		}
		if d := transport.backoff(1, 3*time.Second); d < 3*time.Second {
			t.Fatalf("Retry-After 3 s, waits %s", d)
		}
	}
	now, _ := http.ParseTime("Wed, 21 Oct 2026 07:28:00 GMT")
	for value, want := range map[string]time.Duration{"7": 7 * time.Second, " 0 ": 0,
		"Wed, 21 Oct 2026 07:28:30 GMT": 30 * time.Second, "Wed, 21 Oct 2026 07:27:00 GMT": 0} {
		if got, ok := parseRetryAfter(value, now); !ok || got != want {
			t.Errorf("Retry-After %q: %s %v", value, got, ok)
		}
	}
	for _, value := range []string{"", "later", "-1", "1.5"} {
		if _, ok := parseRetryAfter(value, now); ok {
			t.Errorf("Retry-After %q was read", value)
		}
	}
	for _, status := range []int{408, 429, 500, 502, 503, 504, 599} {
		if !(&Error{Kind: ErrProblem, Status: status}).Retryable() {
			t.Errorf("%d is not retried", status)
		}
	}
	for _, status := range []int{400, 401, 403, 404, 409, 413, 422} {
		if (&Error{Kind: ErrProblem, Status: status}).Retryable() {
			t.Errorf("%d is retried", status)
		}
	}
	if !(&Error{Kind: ErrNetwork}).Retryable() || (&Error{Kind: ErrVerification}).Retryable() {
		t.Error("network errors are retried, verification errors not")
	}
}

func TestTheKeyShowsNowhere(t *testing.T) {
	server := newStandIn(t, [2]string{"401", ""})
	config := Config{BaseURL: server.URL, APIKey: "auds_0123abcd_s3cr3tS3CR3T", Ledger: "ldg_1", MaxRetries: NoRetries}
	client := testClient(t, config)
	_, err := client.Append(context.Background(), []Event{testEvent(1)})
	if !errors.Is(err, ErrProblem) {
		t.Fatalf("%v", err)
	}
	configJSON, _ := json.Marshal(config)
	clientJSON, _ := json.Marshal(client)
	holder := struct {
		Config Config
		Client *Client
	}{config, client}
	var shown strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		for _, value := range []interface{}{config, &config, client, *client, holder, err} {
			fmt.Fprintf(&shown, verb+"\n", value)
		}
	}
	fmt.Fprintln(&shown, config.String(), config.GoString(), client.String(), string(configJSON), string(clientJSON), err.Error())
	text := shown.String()
	if strings.Contains(strings.ToLower(text), "s3cr3t") {
		t.Fatalf("the key shows:\n%s", text)
	}
	if !strings.Contains(text, "auds_0123abcd_…") {
		t.Fatalf("the key id does not show:\n%s", text)
	}
	if shownKey("garbage") != "…" || shownKey("auds_") != "…" {
		t.Error("a key without an id shows")
	}
}
