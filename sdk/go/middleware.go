package auditstore

import (
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"runtime/debug"
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
	// a nil answer records {"type": "anonymous", "id": "anonymous"}. An id
	// or name longer than 256 characters is cut; an actor the server would
	// still refuse is recorded as anonymous (logged once).
	Actor func(*http.Request) *Party
	// SkipAnonymous leaves requests for which Actor answers nil unrecorded
	// (one whose Actor panicked is recorded, as anonymous).
	SkipAnonymous bool
	// Exclude lists path prefixes not recorded (health checks, static files).
	Exclude []string
	// ClientIP finds the client address (a proxy header the application
	// trusts); nil takes the peer's address.
	ClientIP func(*http.Request) string
	// RouteOf names the request's route pattern (a router's), "" for a
	// request no route matched, recorded as "unmatched"; nil takes the
	// request path, cut to 256 characters.
	//
	// An extractor (Actor, ClientIP, RouteOf) that panics never fails the
	// request: the panic is logged and the event recorded without what it
	// would have found (anonymous, the peer's address, "unmatched").
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
	m := &middleware{client: client, options: options, ledger: options.Ledger, logger: client.in.settings.Logger}
	if m.ledger == "" {
		m.ledger = client.in.settings.Ledger
	}
	if m.ledger == "" {
		m.logger.Printf("auditstore: the middleware has no ledger (Config.Ledger or MiddlewareOptions.Ledger): no request will be recorded")
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
				// the panic goes on to net/http as it was: recording never
				// panics, since the application's extractors are guarded.
				recovered := recover()
				status := rec.result()
				if recovered != nil && !rec.wrote {
					status = http.StatusInternalServerError
				}
				m.record(r, handle, status)
				if recovered != nil {
					panic(recovered)
				}
			}()
			next.ServeHTTP(rec.wrap(), r.WithContext(context.WithValue(r.Context(), auditKey{}, handle)))
		})
	}
}

// unmatchedRoute is the route and resource id of a request no route matched
// (docs/SDK.md §8).
const unmatchedRoute = "unmatched"

// middleware is one Middleware call's settings.
type middleware struct {
	client  *Client
	ledger  string
	options MiddlewareOptions
	logger  *log.Logger
	// badActor logs once that the Actor extractor answers actors the server
	// would refuse, rather than once per request.
	badActor sync.Once
}

// record queues the request's event without ever waiting; a failure is
// logged and dropped, never the request's.
func (m *middleware) record(r *http.Request, handle *RequestAudit, status int) {
	handle.mu.Lock()
	action, resourceType, resourceID, actor, skip := handle.action, handle.resourceType, handle.resourceID, handle.actor, handle.skip
	handle.mu.Unlock()
	if skip {
		return
	}
	options := m.options
	found := true
	if actor == nil && options.Actor != nil {
		found = m.extract("Actor", func() { actor = options.Actor(r) })
	}
	if actor == nil {
		// An extractor that panicked found nothing: the request is recorded
		// without its actor, not skipped as an anonymous one.
		if found && options.SkipAnonymous {
			return
		}
		actor = &Party{Type: "anonymous", ID: "anonymous"}
	}
	route := r.URL.Path
	if options.RouteOf != nil && !m.extract("RouteOf", func() { route = options.RouteOf(r) }) {
		route = unmatchedRoute
	}
	// An empty route (a RouteOf that matched nothing, a CONNECT request's
	// empty path) would be a resource id the server refuses.
	if route = requestText(route); route == "" {
		route = unmatchedRoute
	}
	if action == "" {
		action, resourceType, resourceID = "http."+strings.ToLower(r.Method), "route", route
	}
	metadata := map[string]interface{}{"method": r.Method, "route": route, "status": status}
	peer := ""
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		peer = host
	}
	// A ClientIP that panics leaves the peer's address.
	ip := peer
	if options.ClientIP != nil {
		m.extract("ClientIP", func() { ip = options.ClientIP(r) })
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
	event := Event{Actor: m.fitActor(*actor), Action: action, Resource: Party{Type: resourceType, ID: resourceID}, Metadata: metadata}
	if err := m.client.in.record(m.ledger, event, true); err != nil {
		m.logger.Printf("auditstore: a request's event was not queued: %v", err)
	}
}

// extract runs one of the application's extractors. One that panics is the
// application's failure, not the request's (docs/SDK.md §8): the panic is
// logged, by its type only, since its value may quote the request, and
// extract answers false so the event is recorded without what the
// extractor would have found.
func (m *middleware) extract(name string, call func()) (ok bool) {
	defer func() {
		// ok is still false after any panic, panic(nil) included, whose
		// recover() answers nil before Go 1.21.
		if !ok {
			recovered := recover()
			m.logger.Printf("auditstore: the middleware's %s extractor panicked (%T); the request is recorded without it\n%s",
				name, recovered, debug.Stack())
		}
	}()
	call()
	return true
}

// fitActor makes an actor from the application fit an event: its id and
// name cut as requestText cuts request strings, so that a long user id is
// still recorded. One the server would still refuse (an empty id, a type
// with a space) is recorded as anonymous rather than lost with its event.
func (m *middleware) fitActor(actor Party) Party {
	fitted := Party{Type: actor.Type, ID: requestText(actor.ID), Name: requestText(actor.Name)}
	err := checkParty("actor", fitted)
	if err == nil {
		return fitted
	}
	m.badActor.Do(func() {
		field := "actor"
		var failure *Error
		if errors.As(err, &failure) && failure.Field != "" {
			field = failure.Field
		}
		m.logger.Printf("auditstore: the middleware's actor has an invalid %s; such requests are recorded as anonymous", field)
	})
	return Party{Type: "anonymous", ID: "anonymous"}
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
