package auditstore

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Middleware (docs/SDK.md §8) records one event per handled request through
// the client's queue (never Append), so a slow or unreachable AuditStore
// never fails or delays a request: when the queue is full the event is
// dropped and reported to OnDrop, whatever the WhenFull policy.

// MiddlewareOptions configures Middleware.
type MiddlewareOptions struct {
	// Actor finds who the request acts for (its authenticated user); nil or
	// a nil answer records {"type": "anonymous", "id": "anonymous"}.
	Actor func(*http.Request) *Party
	// SkipAnonymous leaves requests without an actor unrecorded.
	SkipAnonymous bool
	// Exclude lists path prefixes not recorded (health checks, static files).
	Exclude []string
	// ClientIP finds the client address (a proxy header the application
	// trusts); nil takes the peer's address.
	ClientIP func(*http.Request) string
	// RouteOf names the request's route pattern (a router's); nil takes the
	// request path.
	RouteOf func(*http.Request) string
	// Ledger records to another ledger than the client's.
	Ledger string
}

// RequestAudit is the per-request handle a handler names its event with:
// auditstore.FromContext(r.Context()).Set("invoice.updated", "invoice", id).
// A nil *RequestAudit (no middleware) ignores every call.
type RequestAudit struct {
	mu           sync.Mutex
	action       string
	resourceType string
	resourceID   string
	actor        *Party
	skip         bool
}

type auditKey struct{}

// FromContext is the request's handle, or nil outside the middleware.
func FromContext(ctx context.Context) *RequestAudit {
	a, _ := ctx.Value(auditKey{}).(*RequestAudit)
	return a
}

// Set names the request's action and resource; without it the event is
// http.<method> on {"type": "route", "id": <route>}.
func (a *RequestAudit) Set(action, resourceType, resourceID string) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.action, a.resourceType, a.resourceID = action, resourceType, resourceID
}

// SetActor names who the request acts for, when the handler knows better
// than the Actor option (authentication inside the handler).
func (a *RequestAudit) SetActor(actor Party) {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.actor = &actor
}

// Skip leaves this request unrecorded.
func (a *RequestAudit) Skip() {
	if a == nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.skip = true
}

// Middleware wraps handlers so that each request they handle is recorded.
func Middleware(client *Client, options MiddlewareOptions) func(http.Handler) http.Handler {
	ledger := options.Ledger
	if ledger == "" {
		ledger = client.in.settings.Ledger
	}
	if ledger == "" {
		client.in.settings.Logger.Printf("auditstore: the middleware has no ledger (Config.Ledger or MiddlewareOptions.Ledger): no request will be recorded")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, prefix := range options.Exclude {
				if strings.HasPrefix(r.URL.Path, prefix) {
					next.ServeHTTP(w, r)
					return
				}
			}
			handle := &RequestAudit{}
			rec := &recorder{w: w}
			defer func() {
				// A panicking handler's request is recorded as a 500, then
				// the panic goes on to net/http.
				recovered := recover()
				status := rec.result()
				if recovered != nil && !rec.wrote {
					status = http.StatusInternalServerError
				}
				recordRequest(client, ledger, options, r, handle, status)
				if recovered != nil {
					panic(recovered)
				}
			}()
			next.ServeHTTP(rec.wrap(), r.WithContext(context.WithValue(r.Context(), auditKey{}, handle)))
		})
	}
}

// recordRequest queues the request's event without ever waiting; a failure
// is logged and dropped, never the request's.
func recordRequest(client *Client, ledger string, options MiddlewareOptions, r *http.Request, handle *RequestAudit, status int) {
	handle.mu.Lock()
	action, resourceType, resourceID, actor, skip := handle.action, handle.resourceType, handle.resourceID, handle.actor, handle.skip
	handle.mu.Unlock()
	if skip {
		return
	}
	if actor == nil && options.Actor != nil {
		actor = options.Actor(r)
	}
	if actor == nil {
		if options.SkipAnonymous {
			return
		}
		actor = &Party{Type: "anonymous", ID: "anonymous"}
	}
	route := r.URL.Path
	if options.RouteOf != nil {
		route = options.RouteOf(r)
	}
	route = requestText(route)
	if action == "" {
		action, resourceType, resourceID = "http."+strings.ToLower(r.Method), "route", route
	}
	metadata := map[string]interface{}{"method": r.Method, "route": route, "status": status}
	ip := ""
	if options.ClientIP != nil {
		ip = options.ClientIP(r)
	} else if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		ip = host
	}
	if ip != "" {
		metadata["client_ip"] = requestText(ip)
	}
	if agent := r.UserAgent(); agent != "" {
		metadata["user_agent"] = requestText(agent)
	}
	if id := r.Header.Get("X-Request-Id"); id != "" {
		metadata["request_id"] = requestText(id)
	}
	event := Event{Actor: *actor, Action: action, Resource: Party{Type: resourceType, ID: resourceID}, Metadata: metadata}
	if err := client.in.record(ledger, event, true); err != nil {
		client.in.settings.Logger.Printf("auditstore: a request's event was not queued: %v", err)
	}
}

// requestText makes text from a request (a path, a header) fit an event:
// valid UTF-8, control characters replaced, at most 256 characters, so
// that an odd request is still recorded rather than refused.
func requestText(text string) string {
	text = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(text, string(utf8.RuneError)))
	if utf8.RuneCountInString(text) > maxTextLen {
		runes := []rune(text)
		text = string(runes[:maxTextLen-1]) + "…"
	}
	return text
}

// recorder captures the status a handler answers, passing everything on.
type recorder struct {
	w        http.ResponseWriter
	status   int
	wrote    bool
	hijacked bool
}

func (r *recorder) Header() http.Header {
	return r.w.Header()
}

func (r *recorder) WriteHeader(status int) {
	// 1xx answers are interim: the final status comes after them.
	if !r.wrote && status >= 200 {
		r.status, r.wrote = status, true
	}
	r.w.WriteHeader(status)
}

func (r *recorder) Write(data []byte) (int, error) {
	r.written()
	return r.w.Write(data)
}

// Unwrap lets http.ResponseController (Go 1.20 and later) reach the
// underlying writer's other abilities.
func (r *recorder) Unwrap() http.ResponseWriter {
	return r.w
}

func (r *recorder) written() {
	if !r.wrote {
		r.status, r.wrote = http.StatusOK, true
	}
}

// result is the status to record: what was written, 200 when nothing was
// (net/http answers 200 then), 101 for a connection taken over (an upgrade).
func (r *recorder) result() int {
	switch {
	case r.wrote:
		return r.status
	case r.hijacked:
		return http.StatusSwitchingProtocols
	}
	return http.StatusOK
}

func (r *recorder) flush() {
	r.written()
	r.w.(http.Flusher).Flush()
}

func (r *recorder) hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := r.w.(http.Hijacker).Hijack()
	if err == nil {
		r.hijacked = true
	}
	return conn, rw, err
}

func (r *recorder) readFrom(src io.Reader) (int64, error) {
	r.written()
	return r.w.(io.ReaderFrom).ReadFrom(src)
}

type flushFunc func()

func (f flushFunc) Flush() { f() }

type hijackFunc func() (net.Conn, *bufio.ReadWriter, error)

func (f hijackFunc) Hijack() (net.Conn, *bufio.ReadWriter, error) { return f() }

type readFromFunc func(io.Reader) (int64, error)

func (f readFromFunc) ReadFrom(src io.Reader) (int64, error) { return f(src) }

// wrap answers a ResponseWriter with exactly the optional interfaces the
// wrapped writer has (http.Flusher, http.Hijacker, io.ReaderFrom), so a
// handler's type assertions answer as they would without the middleware.
func (r *recorder) wrap() http.ResponseWriter {
	_, canFlush := r.w.(http.Flusher)
	_, canHijack := r.w.(http.Hijacker)
	_, canReadFrom := r.w.(io.ReaderFrom)
	f, h, rf := flushFunc(r.flush), hijackFunc(r.hijack), readFromFunc(r.readFrom)
	switch {
	case canFlush && canHijack && canReadFrom:
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
			io.ReaderFrom
		}{r, f, h, rf}
	case canFlush && canHijack:
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
		}{r, f, h}
	case canFlush && canReadFrom:
		return struct {
			*recorder
			http.Flusher
			io.ReaderFrom
		}{r, f, rf}
	case canHijack && canReadFrom:
		return struct {
			*recorder
			http.Hijacker
			io.ReaderFrom
		}{r, h, rf}
	case canFlush:
		return struct {
			*recorder
			http.Flusher
		}{r, f}
	case canHijack:
		return struct {
			*recorder
			http.Hijacker
		}{r, h}
	case canReadFrom:
		return struct {
			*recorder
			io.ReaderFrom
		}{r, rf}
	}
	return r
}
