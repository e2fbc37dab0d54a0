package auditstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	mathrand "math/rand"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The most bytes of an error answer read: a problem document is small, and
// an answer from something that is not AuditStore may be anything.
const maxProblemBytes = 64 << 10

// transport sends requests with the retry rules of docs/SDK.md §3:
// connection errors, timeouts, 408, 429 and 5xx are retried with
// full-jitter exponential backoff, never sooner than the answer's
// Retry-After; other 4xx never.
type transport struct {
	http       *http.Client
	base       string
	key        string
	timeout    time.Duration
	maxRetries int
	retryBase  time.Duration
	retryMax   time.Duration

	randMu sync.Mutex
	rand   *mathrand.Rand
}

func newTransport(s *settings) (*transport, error) {
	var inner *http.Transport
	if base, ok := http.DefaultTransport.(*http.Transport); ok {
		inner = base.Clone()
	} else {
		// An application replaced the default: start from net/http's settings.
		inner = &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConns: 100, IdleConnTimeout: 90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second, ExpectContinueTimeout: time.Second}
	}
	// A custom TLS configuration turns HTTP/2 off unless asked for again.
	inner.ForceAttemptHTTP2 = true
	inner.MaxIdleConnsPerHost = 16
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(s.caPEM) > 0 {
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(s.caPEM) {
			return nil, newError(ErrInvalid, "CACertificate holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	inner.TLSClientConfig = tlsConfig
	var seed [8]byte
	if _, err := rand.Read(seed[:]); err != nil {
		return nil, &Error{Kind: ErrInvalid, Message: "no randomness for the backoff", Err: err}
	}
	return &transport{
		http: &http.Client{
			Transport: inner,
			// An API answer is never a redirect; following one would send a
			// POST elsewhere.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		base:       s.BaseURL,
		key:        s.APIKey,
		timeout:    s.Timeout,
		maxRetries: s.MaxRetries,
		retryBase:  s.RetryBase,
		retryMax:   s.RetryMax,
		rand:       mathrand.New(mathrand.NewSource(int64(binary.LittleEndian.Uint64(seed[:])))),
	}, nil
}

// backoff is the wait before retry n (1 for the first): a random duration
// in [0, min(RetryMax, RetryBase × 2^(n-1))], at least retryAfter.
func (t *transport) backoff(n int, retryAfter time.Duration) time.Duration {
	bound := t.retryMax
	if n-1 < 40 {
		if b := t.retryBase << uint(n-1); b > 0 && b < bound {
			bound = b
		}
	}
	t.randMu.Lock()
	wait := time.Duration(t.rand.Int63n(int64(bound) + 1))
	t.randMu.Unlock()
	if wait < retryAfter {
		wait = retryAfter
	}
	return wait
}

// parseRetryAfter reads Retry-After: delay-seconds or an HTTP date (RFC 9110
// §10.2.3). It answers false when there is none or it is unreadable.
func parseRetryAfter(value string, now time.Time) (time.Duration, bool) {
	value = strings.TrimSpace(value)
	if value == "" {
		return 0, false
	}
	if seconds, err := strconv.ParseUint(value, 10, 32); err == nil {
		return time.Duration(seconds) * time.Second, true
	}
	at, err := http.ParseTime(value)
	if err != nil {
		return 0, false
	}
	if wait := at.Sub(now); wait > 0 {
		return wait, true
	}
	return 0, true
}

// response is a successful answer, its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

// do sends one request, with retries, and reads the whole answer within each
// attempt's timeout.
func (t *transport) do(ctx context.Context, method, path string, body []byte) (*response, error) {
	var out *response
	err := t.retry(ctx, func(attempt context.Context) error {
		answer, err := t.once(attempt, method, path, body)
		if err != nil {
			return err
		}
		defer answer.Body.Close()
		data, err := io.ReadAll(answer.Body)
		if err != nil {
			return &Error{Kind: ErrNetwork, Message: method + " " + path + ": reading the answer", Err: err}
		}
		out = &response{status: answer.StatusCode, header: answer.Header, body: data}
		return nil
	}, t.timeout)
	return out, err
}

// stream sends a GET with retries and hands back the open answer: the
// timeout covers the connection and the headers, the caller reads the body
// (a download may take longer than one request's timeout) and closes it.
func (t *transport) stream(ctx context.Context, path string) (*http.Response, error) {
	var out *http.Response
	err := t.retry(ctx, func(attemptCtx context.Context) error {
		bodyCtx, cancel := context.WithCancel(attemptCtx)
		timer := time.AfterFunc(t.timeout, cancel)
		answer, err := t.once(bodyCtx, http.MethodGet, path, nil)
		if err != nil {
			timer.Stop()
			cancel()
			return err
		}
		if !timer.Stop() {
			// The timer fired as the answer came: its body is cut off.
			answer.Body.Close()
			cancel()
			return &Error{Kind: ErrNetwork, Message: "GET " + path + ": timed out"}
		}
		answer.Body = &cancelOnClose{ReadCloser: answer.Body, cancel: cancel}
		out = answer
		return nil
	}, 0)
	return out, err
}

// cancelOnClose releases a streamed answer's context with its body.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (c *cancelOnClose) Close() error {
	err := c.ReadCloser.Close()
	c.cancel()
	return err
}

// retry runs attempt until it succeeds, fails for good, or the retries are
// spent. A timeout above zero bounds each attempt as a whole.
func (t *transport) retry(ctx context.Context, attempt func(context.Context) error, timeout time.Duration) error {
	for n := 0; ; n++ {
		var err error
		if timeout > 0 {
			attemptCtx, cancel := context.WithTimeout(ctx, timeout)
			err = attempt(attemptCtx)
			cancel()
		} else {
			err = attempt(ctx)
		}
		if err == nil {
			return nil
		}
		var failure *Error
		if !errors.As(err, &failure) {
			failure = &Error{Kind: ErrNetwork, Err: err}
		}
		// The caller's own cancellation is final.
		if ctx.Err() != nil {
			return &Error{Kind: ErrNetwork, Message: "cancelled", Err: ctx.Err()}
		}
		if !failure.Retryable() || n >= t.maxRetries {
			return failure
		}
		timer := time.NewTimer(t.backoff(n+1, failure.RetryAfter))
		select {
		case <-ctx.Done():
			timer.Stop()
			return &Error{Kind: ErrNetwork, Message: "cancelled while waiting to retry", Err: ctx.Err()}
		case <-timer.C:
		}
	}
}

// once sends one attempt; a non-2xx answer becomes an ErrProblem.
func (t *transport) once(ctx context.Context, method, path string, body []byte) (*http.Response, error) {
	var reader io.Reader
	if body != nil {
		reader = bytes.NewReader(body)
	}
	request, err := http.NewRequestWithContext(ctx, method, t.base+"/v1"+path, reader)
	if err != nil {
		return nil, &Error{Kind: ErrInvalid, Message: "the request", Err: err}
	}
	request.Header.Set("Authorization", "Bearer "+t.key)
	request.Header.Set("User-Agent", "auditstore-go/"+Version)
	if body != nil {
		request.Header.Set("Content-Type", "application/json")
	}
	answer, err := t.http.Do(request)
	if err != nil {
		// *url.Error names the method and URL, never the headers.
		return nil, &Error{Kind: ErrNetwork, Err: err}
	}
	if answer.StatusCode >= 200 && answer.StatusCode < 300 {
		return answer, nil
	}
	defer answer.Body.Close()
	return nil, problem(answer)
}

// problem reads an error answer's RFC 9457 document (or makes one from its
// status when it has none).
func problem(answer *http.Response) *Error {
	data, _ := io.ReadAll(io.LimitReader(answer.Body, maxProblemBytes))
	var doc struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
		Field  string `json:"field"`
	}
	e := &Error{Kind: ErrProblem, Status: answer.StatusCode}
	if json.Unmarshal(data, &doc) == nil {
		e.Type, e.Title, e.Detail, e.Field = doc.Type, doc.Title, doc.Detail, doc.Field
	} else {
		e.Title = http.StatusText(answer.StatusCode)
		e.Detail = truncate(strings.TrimSpace(string(data)), 300)
	}
	if e.Type == "" {
		e.Type = "about:blank"
	}
	e.RetryAfter, _ = parseRetryAfter(answer.Header.Get("Retry-After"), time.Now())
	return e
}

func truncate(text string, most int) string {
	if len(text) <= most {
		return text
	}
	cut := most
	for cut > 0 && text[cut]&0xc0 == 0x80 {
		cut--
	}
	return text[:cut] + "…"
}

// getJSON sends a request and decodes its JSON answer into out, numbers as
// json.Number so that metadata keeps every digit it was sent with.
func (t *transport) getJSON(ctx context.Context, method, path string, body []byte, out interface{}) error {
	answer, err := t.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	decoder := json.NewDecoder(bytes.NewReader(answer.body))
	decoder.UseNumber()
	if err := decoder.Decode(out); err != nil {
		return &Error{Kind: ErrProtocol, Message: method + " " + path + " answered no JSON of the documented shape", Err: err}
	}
	return nil
}
