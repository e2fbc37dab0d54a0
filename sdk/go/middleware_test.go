package auditstore

// The net/http middleware: one event per request against a live AuditStore
// with the handler's action and the request context, excluded routes left
// out; the wrapped ResponseWriter keeps exactly the optional interfaces of
// the writer it wraps; requests are served while AuditStore is unreachable
// or its queue full.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func actorOf(r *http.Request) *Party {
	if user := r.Header.Get("X-User"); user != "" {
		return &Party{Type: "user", ID: user}
	}
	return nil
}

func invoiceApp(client *Client) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/invoices/", func(w http.ResponseWriter, r *http.Request) {
		FromContext(r.Context()).Set("invoice.updated", "invoice", strings.TrimPrefix(r.URL.Path, "/invoices/"))
		_, _ = io.WriteString(w, "updated")
	})
	mux.HandleFunc("/reports", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "report") })
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	return Middleware(client, MiddlewareOptions{Actor: actorOf, Exclude: []string{"/healthz"}})(mux)
}

func get(t *testing.T, request *http.Request) string {
	t.Helper()
	answer, err := http.DefaultClient.Do(request)
	if err != nil {
		t.Fatal(err)
	}
	defer answer.Body.Close()
	body, _ := io.ReadAll(answer.Body)
	if answer.StatusCode/100 != 2 {
		t.Fatalf("%s: %d", request.URL, answer.StatusCode)
	}
	return string(body)
}

func TestLiveMiddlewareRecordsOneEventPerRequestWithTheHandlersActionAndTheRequestContext(t *testing.T) {
	env := live(t)
	client := env.client(t, env.writer, Config{})
	app := httptest.NewServer(invoiceApp(client))
	defer app.Close()
	update, _ := http.NewRequest("POST", app.URL+"/invoices/inv_7", nil)
	update.Header.Set("X-User", "jane")
	update.Header.Set("X-Request-Id", "req-1")
	if body := get(t, update); body != "updated" {
		t.Fatalf("%q", body)
	}
	reports, _ := http.NewRequest("GET", app.URL+"/reports", nil)
	reports.Header.Set("User-Agent", "tests/1")
	get(t, reports)
	health, _ := http.NewRequest("GET", app.URL+"/healthz", nil)
	get(t, health)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if report, err := client.Flush(ctx); err != nil || report.Delivered != 2 {
		t.Fatalf("%v %v", report, err)
	}
	reader := env.client(t, env.reader, Config{})
	page, err := reader.ListEvents(ctx, env.ledger, Filter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Events) != 2 {
		t.Fatalf("%d events: the excluded route is recorded?", len(page.Events))
	}
	byAction := map[string]StoredEvent{}
	for _, e := range page.Events {
		byAction[e.Action] = e
	}
	u, ok := byAction["invoice.updated"]
	if !ok || u.Actor != (Party{Type: "user", ID: "jane"}) || u.Resource != (Party{Type: "invoice", ID: "inv_7"}) ||
		u.Metadata["request_id"] != "req-1" || u.Metadata["status"] != json.Number("200") || u.Metadata["method"] != "POST" ||
		u.Metadata["route"] != "/invoices/inv_7" || u.Metadata["client_ip"] != "127.0.0.1" {
		t.Errorf("the update: %+v", u)
	}
	r, ok := byAction["http.get"]
	if !ok || r.Actor != (Party{Type: "anonymous", ID: "anonymous"}) || r.Resource != (Party{Type: "route", ID: "/reports"}) ||
		r.Metadata["user_agent"] != "tests/1" || r.Metadata["status"] != json.Number("200") || r.Metadata["route"] != "/reports" {
		t.Errorf("the read: %+v", r)
	}
	if _, has := r.Metadata["request_id"]; has {
		t.Error("a request without X-Request-Id has a request_id")
	}
}

// plainWriter is a ResponseWriter with none of the optional interfaces.
type plainWriter struct {
	header http.Header
	status int
}

func (w *plainWriter) Header() http.Header         { return w.header }
func (w *plainWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *plainWriter) WriteHeader(status int)      { w.status = status }

type flushingWriter struct {
	plainWriter
	flushed bool
}

func (w *flushingWriter) Flush() { w.flushed = true }

// abilities names the optional interfaces a handler sees.
func abilities(w http.ResponseWriter) string {
	var out []string
	if _, ok := w.(http.Flusher); ok {
		out = append(out, "flusher")
	}
	if _, ok := w.(http.Hijacker); ok {
		out = append(out, "hijacker")
	}
	if _, ok := w.(io.ReaderFrom); ok {
		out = append(out, "readerfrom")
	}
	if _, ok := w.(http.Pusher); ok {
		out = append(out, "pusher")
	}
	return strings.Join(out, " ")
}

func TestTheWrappedWriterKeepsExactlyTheInterfacesOfTheWrappedOne(t *testing.T) {
	server := newStandIn(t)
	client := testClient(t, Config{BaseURL: server.URL})
	var seen atomic.Value
	wrapped := Middleware(client, MiddlewareOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(abilities(w))
		switch r.URL.Path {
		case "/stream":
			w.WriteHeader(http.StatusAccepted)
			_, _ = io.WriteString(w, "a")
			w.(http.Flusher).Flush()
		case "/hijack":
			conn, buffered, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			_, _ = buffered.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 8\r\nConnection: close\r\n\r\nhijacked")
			_ = buffered.Flush()
			conn.Close()
		case "/missing":
			http.NotFound(w, r)
		}
	}))
	// httptest.NewServer's writers can flush, be hijacked and read from. The
	// client reads the hijacked answer before the handler returns, so the test
	// waits for the middleware to have recorded it before it flushes.
	hijacked := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wrapped.ServeHTTP(w, r)
		if r.URL.Path == "/hijack" {
			close(hijacked)
		}
	}))
	defer app.Close()
	for path, want := range map[string]string{"/stream": "a", "/hijack": "hijacked"} {
		request, _ := http.NewRequest("GET", app.URL+path, nil)
		if body := get(t, request); body != want {
			t.Errorf("%s: %q", path, body)
		}
		if seen.Load() != "flusher hijacker readerfrom" {
			t.Errorf("under net/http the handler sees %q", seen.Load())
		}
	}
	<-hijacked
	answer, err := http.Get(app.URL + "/missing")
	if err != nil || answer.StatusCode != 404 {
		t.Fatalf("%v %v", answer, err)
	}
	answer.Body.Close()
	// Writers with fewer abilities are not claimed to have more.
	plain := &plainWriter{header: http.Header{}}
	wrapped.ServeHTTP(plain, httptest.NewRequest("GET", "/plain", nil))
	if seen.Load() != "" {
		t.Errorf("over a plain writer the handler sees %q", seen.Load())
	}
	odd := httptest.NewRequest("GET", "/odd", nil)
	odd.URL.Path = "/odd\x00\xff" + strings.Repeat("x", 300)
	odd.Header.Set("User-Agent", "agent\x7f")
	wrapped.ServeHTTP(plain, odd)
	flushing := &flushingWriter{plainWriter: plainWriter{header: http.Header{}}}
	wrapped.ServeHTTP(flushing, httptest.NewRequest("GET", "/stream", nil))
	if seen.Load() != "flusher" || !flushing.flushed || flushing.status != http.StatusAccepted {
		t.Errorf("over a flushing writer the handler sees %q", seen.Load())
	}
	if _, err := client.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	statuses := map[string]string{}
	for _, r := range server.requests() {
		for _, e := range r.events {
			statuses[e.Resource.ID] += strings.TrimSpace(jsonText(e.Metadata["status"])) + " "
		}
	}
	want := map[string]string{"/stream": "202 202 ", "/hijack": "101 ", "/missing": "404 ", "/plain": "200 ",
		"/odd\ufffd\ufffd" + strings.Repeat("x", 249) + "…": "200 "}
	for route, status := range want {
		if statuses[route] != status {
			t.Errorf("%s recorded with status %q, want %q", route, statuses[route], status)
		}
	}
}

func jsonText(value interface{}) string {
	data, _ := json.Marshal(value)
	return string(data)
}

func TestAPanickingHandlersRequestIsRecordedAs500(t *testing.T) {
	server := newStandIn(t)
	client := testClient(t, Config{BaseURL: server.URL})
	app := httptest.NewUnstartedServer(Middleware(client, MiddlewareOptions{})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("handler bug")
	})))
	app.Config.ErrorLog = log.New(io.Discard, "", 0)
	app.Start()
	defer app.Close()
	if answer, err := http.Get(app.URL + "/boom"); err == nil {
		answer.Body.Close()
	}
	if report, _ := client.Flush(context.Background()); report.Delivered != 1 {
		t.Fatalf("%v", report)
	}
	e := server.requests()[0].events[0]
	if e.Metadata["status"] != float64(500) || e.Action != "http.get" {
		t.Fatalf("%+v", e)
	}
}

func TestRequestsAreServedWhileAuditStoreIsUnreachableOrItsQueueFull(t *testing.T) {
	down := testClient(t, Config{BaseURL: "https://127.0.0.1:9", APIKey: "auds_k_s", Ledger: "ldg_1", MaxRetries: NoRetries,
		OnError: func(error, []Event) {}})
	var dropped atomic.Int64
	full := testClient(t, Config{BaseURL: "https://127.0.0.1:9", QueueSize: 1, WhenFull: Block(5 * time.Second),
		FlushInterval: time.Minute, OnDrop: func(_ error, events []Event) { dropped.Add(int64(len(events))) },
		OnError: func(error, []Event) {}, MaxRetries: NoRetries})
	for _, client := range []*Client{down, full} {
		app := httptest.NewServer(invoiceApp(client))
		started := time.Now()
		for i := 0; i < 20; i++ {
			request, _ := http.NewRequest("GET", app.URL+"/reports", nil)
			get(t, request)
		}
		if elapsed := time.Since(started); elapsed > 2*time.Second {
			t.Errorf("20 requests took %s", elapsed)
		}
		app.Close()
	}
	report, err := down.Close(context.Background())
	if err != nil || report.Failed != 20 || report.Delivered != 0 {
		t.Fatalf("%v %v", report, err)
	}
	if report := full.Report(); report.Dropped != 19 || dropped.Load() != 19 {
		t.Fatalf("%v, %d reported", report, dropped.Load())
	}
	if FromContext(context.Background()) != nil {
		t.Fatal("a handle outside the middleware")
	}
	FromContext(context.Background()).Set("a.b", "c", "d") // a nil handle ignores the call
}

// hijackOnly is a writer that can be hijacked and nothing else.
type hijackOnly struct{ plainWriter }

func (hijackOnly) Hijack() (net.Conn, *bufio.ReadWriter, error) { return nil, nil, errors.New("no") }

func TestAHijackOnlyWriterStaysHijackOnly(t *testing.T) {
	client := testClient(t, Config{BaseURL: newStandIn(t).URL})
	var seen string
	Middleware(client, MiddlewareOptions{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = abilities(w)
	})).ServeHTTP(&hijackOnly{plainWriter{header: http.Header{}}}, httptest.NewRequest("GET", "/", nil))
	if seen != "hijacker" {
		t.Fatalf("%q", seen)
	}
}
