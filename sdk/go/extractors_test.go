package auditstore

// The middleware and the application's code it runs: an extractor that
// panics fails neither the request nor its event (nor hides the handler's
// own panic), what extractors answer is made to fit an event, and the
// wrapped writer keeps http.Pusher.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// syncBuffer is a log destination the test reads while the client writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// recordedBy is every event the stand-in received, by request id.
func recordedBy(t *testing.T, client *Client, server *standIn) map[string]Event {
	t.Helper()
	report, err := client.Flush(context.Background())
	if err != nil || report.Failed != 0 || report.Pending != 0 {
		t.Fatalf("%v %v", report, err)
	}
	out := map[string]Event{}
	for _, r := range server.requests() {
		for _, e := range r.events {
			id, _ := e.Metadata["request_id"].(string)
			out[id] = e
		}
	}
	return out
}

func serveOnce(handler http.Handler, method, target, requestID string) *httptest.ResponseRecorder {
	request := httptest.NewRequest(method, target, nil)
	request.Header.Set("X-Request-Id", requestID)
	answer := httptest.NewRecorder()
	handler.ServeHTTP(answer, request)
	return answer
}

func TestAPanickingExtractorFailsNeitherTheRequestNorItsEvent(t *testing.T) {
	server := newStandIn(t)
	logs := &syncBuffer{}
	client := testClient(t, Config{BaseURL: server.URL, Logger: log.New(logs, "", 0)})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	const secret = "token-from-the-request"
	for name, options := range map[string]MiddlewareOptions{
		// SkipAnonymous skips a nil answer, not a panic: the request is
		// recorded without its actor.
		"actor":     {Actor: func(*http.Request) *Party { panic(secret) }, SkipAnonymous: true},
		"route":     {RouteOf: func(*http.Request) string { panic(errors.New(secret)) }},
		"client-ip": {ClientIP: func(r *http.Request) string { return []string{secret}[len(r.URL.Path)] }},
	} {
		answer := serveOnce(Middleware(client, options)(ok), "GET", "/invoices/7", name)
		if answer.Code != http.StatusOK || answer.Body.String() != "ok" {
			t.Errorf("%s: answered %d %q", name, answer.Code, answer.Body)
		}
	}
	events := recordedBy(t, client, server)
	anonymous := Party{Type: "anonymous", ID: "anonymous"}
	if e, ok := events["actor"]; !ok || e.Actor != anonymous || e.Resource.ID != "/invoices/7" {
		t.Errorf("a panicking Actor: %+v", e)
	}
	if e, ok := events["route"]; !ok || e.Resource != (Party{Type: "route", ID: "unmatched"}) || e.Metadata["route"] != "unmatched" {
		t.Errorf("a panicking RouteOf: %+v", e)
	}
	// httptest.NewRequest comes from 192.0.2.1:1234.
	if e, ok := events["client-ip"]; !ok || e.Metadata["client_ip"] != "192.0.2.1" {
		t.Errorf("a panicking ClientIP: %+v", e)
	}
	text := logs.String()
	if strings.Count(text, "extractor panicked") != 3 || !strings.Contains(text, "Actor extractor panicked (string)") ||
		!strings.Contains(text, "RouteOf extractor") || !strings.Contains(text, "ClientIP extractor") {
		t.Errorf("logged:\n%s", text)
	}
	if strings.Contains(text, secret) {
		t.Errorf("the log quotes the panic's value:\n%s", text)
	}
}

func TestAHandlersPanicGoesOnUnchangedWhenAnExtractorPanicsToo(t *testing.T) {
	server := newStandIn(t)
	client := testClient(t, Config{BaseURL: server.URL, Logger: log.New(io.Discard, "", 0)})
	type handlerBug struct{ n int }
	handler := Middleware(client, MiddlewareOptions{Actor: func(*http.Request) *Party { panic("extractor bug") }})(
		http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(handlerBug{7}) }))
	recovered := func() (value interface{}) {
		defer func() { value = recover() }()
		serveOnce(handler, "POST", "/pay", "both")
		return nil
	}()
	if recovered != (handlerBug{7}) {
		t.Fatalf("net/http would see the panic %#v", recovered)
	}
	e := recordedBy(t, client, server)["both"]
	if e.Metadata["status"] != float64(500) || e.Actor.Type != "anonymous" || e.Action != "http.post" {
		t.Fatalf("%+v", e)
	}
}

func TestWhatExtractorsAnswerIsMadeToFitAnEvent(t *testing.T) {
	server := newStandIn(t)
	logs := &syncBuffer{}
	client := testClient(t, Config{BaseURL: server.URL, Logger: log.New(logs, "", 0)})
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	long := strings.Repeat("é", 300)
	routed := Middleware(client, MiddlewareOptions{
		Actor:   func(*http.Request) *Party { return &Party{Type: "user", ID: long, Name: long} },
		RouteOf: func(*http.Request) string { return "" }, // no route matched
	})(ok)
	serveOnce(routed, "GET", "/nowhere", "long")
	// A CONNECT request's path is empty.
	serveOnce(Middleware(client, MiddlewareOptions{})(ok), "CONNECT", "example.com:443", "connect")
	invalid := Middleware(client, MiddlewareOptions{Actor: func(*http.Request) *Party { return &Party{Type: "user account", ID: "u_1"} }})(ok)
	serveOnce(invalid, "GET", "/a", "invalid-1")
	serveOnce(invalid, "GET", "/b", "invalid-2")
	events := recordedBy(t, client, server)
	if report := client.Report(); report.Delivered != 4 || report.Dropped != 0 || report.Failed != 0 {
		t.Fatalf("%v", report)
	}
	e := events["long"]
	cut := strings.Repeat("é", maxTextLen-1) + "…"
	if e.Actor != (Party{Type: "user", ID: cut, Name: cut}) || utf8.RuneCountInString(e.Actor.ID) != maxTextLen {
		t.Errorf("a 300-character actor recorded as %+v", e.Actor)
	}
	if e.Resource != (Party{Type: "route", ID: "unmatched"}) || e.Metadata["route"] != "unmatched" {
		t.Errorf("an empty route recorded as %+v, %v", e.Resource, e.Metadata["route"])
	}
	if c := events["connect"]; c.Resource != (Party{Type: "route", ID: "unmatched"}) || c.Action != "http.connect" {
		t.Errorf("a CONNECT request recorded as %+v", c)
	}
	for _, id := range []string{"invalid-1", "invalid-2"} {
		if a := events[id].Actor; a != (Party{Type: "anonymous", ID: "anonymous"}) {
			t.Errorf("%s: an actor the server refuses recorded as %+v", id, a)
		}
	}
	if n := strings.Count(logs.String(), "invalid actor.type"); n != 1 {
		t.Errorf("the invalid actor logged %d times:\n%s", n, logs.String())
	}
}

// pushingWriter is a writer that can push (an HTTP/2 one's ability).
type pushingWriter struct {
	plainWriter
	pushed []string
}

func (w *pushingWriter) Push(target string, _ *http.PushOptions) error {
	w.pushed = append(w.pushed, target)
	return nil
}

// flushPushWriter can flush and push.
type flushPushWriter struct {
	flushingWriter
	pushingWriter
}

func (w *flushPushWriter) Header() http.Header         { return w.flushingWriter.Header() }
func (w *flushPushWriter) Write(b []byte) (int, error) { return w.flushingWriter.Write(b) }
func (w *flushPushWriter) WriteHeader(status int)      { w.flushingWriter.WriteHeader(status) }

// allWriter has every optional ability.
type allWriter struct{ flushPushWriter }

func (*allWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, errors.New("no") }
func (*allWriter) ReadFrom(src io.Reader) (int64, error)        { return io.Copy(io.Discard, src) }

func TestTheWrappedWriterKeepsPusher(t *testing.T) {
	client := testClient(t, Config{BaseURL: newStandIn(t).URL})
	var seen string
	handler := Middleware(client, MiddlewareOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = abilities(w)
		if pusher, ok := w.(http.Pusher); ok {
			_ = pusher.Push("/style.css", nil)
		}
	}))
	pushing := &pushingWriter{plainWriter: plainWriter{header: http.Header{}}}
	handler.ServeHTTP(pushing, httptest.NewRequest("GET", "/", nil))
	if seen != "pusher" || len(pushing.pushed) != 1 || pushing.pushed[0] != "/style.css" {
		t.Errorf("over a pushing writer the handler sees %q and pushed %q", seen, pushing.pushed)
	}
	both := &flushPushWriter{}
	both.flushingWriter.header = http.Header{}
	handler.ServeHTTP(both, httptest.NewRequest("GET", "/", nil))
	if seen != "flusher pusher" || len(both.pushingWriter.pushed) != 1 {
		t.Errorf("over a flushing, pushing writer the handler sees %q", seen)
	}
	all := &allWriter{}
	all.flushingWriter.header = http.Header{}
	handler.ServeHTTP(all, httptest.NewRequest("GET", "/", nil))
	if seen != "flusher hijacker readerfrom pusher" {
		t.Errorf("over a writer with every ability the handler sees %q", seen)
	}
}
