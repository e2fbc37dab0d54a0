package auditstore

import (
	"bufio"
	"io"
	"net"
	"net/http"
)

// The middleware's ResponseWriter: it records the status the handler
// answers and keeps every optional ability of the writer it wraps.

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

// push starts an HTTP/2 server push; it writes nothing of this response.
func (r *recorder) push(target string, options *http.PushOptions) error {
	return r.w.(http.Pusher).Push(target, options)
}

type flushFunc func()

func (f flushFunc) Flush() { f() }

type hijackFunc func() (net.Conn, *bufio.ReadWriter, error)

func (f hijackFunc) Hijack() (net.Conn, *bufio.ReadWriter, error) { return f() }

type readFromFunc func(io.Reader) (int64, error)

func (f readFromFunc) ReadFrom(src io.Reader) (int64, error) { return f(src) }

type pushFunc func(string, *http.PushOptions) error

func (f pushFunc) Push(target string, options *http.PushOptions) error { return f(target, options) }

// The optional interfaces of a ResponseWriter wrap keeps, as bits.
const (
	canFlush = 1 << iota
	canHijack
	canReadFrom
	canPush
)

// wrap answers a ResponseWriter with exactly the optional interfaces the
// wrapped writer has (http.Flusher, http.Hijacker, io.ReaderFrom,
// http.Pusher), so a handler's type assertions answer as they would
// without the middleware: one struct type for each combination, since Go
// has no other way to add methods to a value conditionally.
func (r *recorder) wrap() http.ResponseWriter {
	abilities := 0
	if _, ok := r.w.(http.Flusher); ok {
		abilities |= canFlush
	}
	if _, ok := r.w.(http.Hijacker); ok {
		abilities |= canHijack
	}
	if _, ok := r.w.(io.ReaderFrom); ok {
		abilities |= canReadFrom
	}
	if _, ok := r.w.(http.Pusher); ok {
		abilities |= canPush
	}
	f, h, rf, p := flushFunc(r.flush), hijackFunc(r.hijack), readFromFunc(r.readFrom), pushFunc(r.push)
	switch abilities {
	case canFlush | canHijack | canReadFrom | canPush:
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
			io.ReaderFrom
			http.Pusher
		}{r, f, h, rf, p}
	case canHijack | canReadFrom | canPush:
		return struct {
			*recorder
			http.Hijacker
			io.ReaderFrom
			http.Pusher
		}{r, h, rf, p}
	case canFlush | canReadFrom | canPush:
		return struct {
			*recorder
			http.Flusher
			io.ReaderFrom
			http.Pusher
		}{r, f, rf, p}
	case canReadFrom | canPush:
		return struct {
			*recorder
			io.ReaderFrom
			http.Pusher
		}{r, rf, p}
	case canFlush | canHijack | canPush:
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
			http.Pusher
		}{r, f, h, p}
	case canHijack | canPush:
		return struct {
			*recorder
			http.Hijacker
			http.Pusher
		}{r, h, p}
	case canFlush | canPush:
		return struct {
			*recorder
			http.Flusher
			http.Pusher
		}{r, f, p}
	case canPush:
		return struct {
			*recorder
			http.Pusher
		}{r, p}
	case canFlush | canHijack | canReadFrom:
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
			io.ReaderFrom
		}{r, f, h, rf}
	case canHijack | canReadFrom:
		return struct {
			*recorder
			http.Hijacker
			io.ReaderFrom
		}{r, h, rf}
	case canFlush | canReadFrom:
		return struct {
			*recorder
			http.Flusher
			io.ReaderFrom
		}{r, f, rf}
	case canReadFrom:
		return struct {
			*recorder
			io.ReaderFrom
		}{r, rf}
	case canFlush | canHijack:
		return struct {
			*recorder
			http.Flusher
			http.Hijacker
		}{r, f, h}
	case canHijack:
		return struct {
			*recorder
			http.Hijacker
		}{r, h}
	case canFlush:
		return struct {
			*recorder
			http.Flusher
		}{r, f}
	}
	return r
}
