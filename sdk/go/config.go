package auditstore

import (
	"encoding/json"
	"fmt"
	"log"
	"os"
	"strings"
	"time"
)

// The documented defaults (docs/SDK.md §1).
const (
	DefaultTimeout       = 10 * time.Second
	DefaultQueueSize     = 10000
	DefaultBlockTimeout  = time.Second
	DefaultBatchSize     = 1000
	DefaultBatchBytes    = 4 << 20
	DefaultFlushInterval = time.Second
	DefaultMaxRetries    = 8
	DefaultRetryBase     = 500 * time.Millisecond
	DefaultRetryMax      = 30 * time.Second
)

// NoRetries as Config.MaxRetries sends every request once: zero means the
// default (8), as zero means the default everywhere in Config, so "none" is
// negative, as in net.Dialer.KeepAlive.
const NoRetries = -1

// WhenFull is what Record does when the queue is full: Block(timeout) or
// Drop. The zero value is the default, Block(1 s).
type WhenFull struct {
	set  bool
	drop bool
	wait time.Duration
}

// Block makes Record wait at most timeout for room, then fail with
// ErrQueueFull (Block(0) fails at once).
func Block(timeout time.Duration) WhenFull {
	if timeout < 0 {
		timeout = 0
	}
	return WhenFull{set: true, wait: timeout}
}

// Drop makes Record drop the event at once and report it to OnDrop.
var Drop = WhenFull{set: true, drop: true}

// String says which policy it is.
func (w WhenFull) String() string {
	switch {
	case !w.set:
		return fmt.Sprintf("block(%s)", DefaultBlockTimeout)
	case w.drop:
		return "drop"
	}
	return fmt.Sprintf("block(%s)", w.wait)
}

// ReportFunc is called with events that were dropped or given up on, and
// why. It should return quickly, and it must not call the client's Flush or
// Close: OnError runs on the background sender's goroutine, which both of
// them wait for, so either would wait for itself forever (unless its
// context ends); OnDrop runs in the goroutine whose Record dropped the
// event (a request's, for the middleware), which would then wait for the
// network, as Record never does. A callback that needs either starts a
// goroutine for it.
type ReportFunc func(err error, events []Event)

// Config is how a Client works (docs/SDK.md §1). BaseURL and APIKey are
// required; every zero value means the documented default.
//
// The API key is never printed: Config formats itself (String, GoString,
// Format, MarshalJSON) with the key shown as auds_<key id>_….
type Config struct {
	// BaseURL is the server, e.g. https://audit.example.com; /v1/… is
	// appended.
	BaseURL string
	// APIKey (auds_…) is sent as Authorization: Bearer.
	APIKey string
	// Ledger is the ledger Record and Append send to (RecordTo and AppendTo
	// name another).
	Ledger string
	// CACertificate is a PEM certificate (or several) to trust besides the
	// platform's roots, e.g. a self-signed server's.
	CACertificate []byte
	// CACertificateFile is the path of such a PEM file.
	CACertificateFile string
	// Timeout bounds one HTTP request, connection included (10 s).
	Timeout time.Duration
	// QueueSize bounds the background queue, in events (10,000).
	QueueSize int
	// WhenFull is what Record does when the queue is full (Block(1 s)).
	WhenFull WhenFull
	// BatchSize is the most events one background request carries (1,000,
	// the server's limit).
	BatchSize int
	// BatchBytes is the most bytes of JSON one background request carries
	// (4 MiB, the server's limit).
	BatchBytes int
	// FlushInterval is the longest an event waits in the queue before its
	// batch is sent (1 s).
	FlushInterval time.Duration
	// MaxRetries is the number of attempts after the first, for one request
	// (8; NoRetries for none).
	MaxRetries int
	// RetryBase and RetryMax bound the full-jitter backoff (0.5 s and 30 s).
	RetryBase time.Duration
	RetryMax  time.Duration
	// VerifierKey is the pinned checkpoint verifier key
	// (<name>+<key id>+<base64>, GET /v1/checkpoint-key once, out of band);
	// every verification needs it.
	VerifierKey string
	// OnDrop is called with events dropped because the queue was full (Drop
	// policy, or the middleware, which never waits), in the goroutine that
	// recorded them; nil logs a warning. It must not call Flush or Close
	// (see ReportFunc).
	OnDrop ReportFunc
	// OnError is called with batches the sender gave up on (a 4xx, or
	// retries spent), in order, on the sender's goroutine; nil logs a
	// warning. It must not call Flush or Close, which would deadlock (see
	// ReportFunc).
	OnError ReportFunc
	// Logger receives the warnings (nil: the standard logger).
	Logger *log.Logger
}

// settings is a Config with its defaults applied and checked.
type settings struct {
	Config
	whenDrop  bool
	blockWait time.Duration
	caPEM     []byte
}

func (c Config) resolve() (*settings, error) {
	s := &settings{Config: c}
	s.BaseURL = strings.TrimRight(strings.TrimSpace(c.BaseURL), "/")
	if !strings.HasPrefix(s.BaseURL, "https://") && !strings.HasPrefix(s.BaseURL, "http://") {
		return nil, newError(ErrInvalid, "BaseURL must be an http(s) URL")
	}
	if c.APIKey == "" {
		return nil, newError(ErrInvalid, "APIKey is required")
	}
	if strings.ContainsAny(c.APIKey, "\r\n \t") {
		return nil, newError(ErrInvalid, "APIKey contains white space")
	}
	defaultDuration(&s.Timeout, DefaultTimeout)
	defaultInt(&s.QueueSize, DefaultQueueSize)
	defaultInt(&s.BatchSize, DefaultBatchSize)
	defaultInt(&s.BatchBytes, DefaultBatchBytes)
	defaultDuration(&s.FlushInterval, DefaultFlushInterval)
	defaultDuration(&s.RetryBase, DefaultRetryBase)
	defaultDuration(&s.RetryMax, DefaultRetryMax)
	switch {
	case s.MaxRetries == 0:
		s.MaxRetries = DefaultMaxRetries
	case s.MaxRetries < 0:
		s.MaxRetries = 0
	}
	s.whenDrop = c.WhenFull.drop
	s.blockWait = c.WhenFull.wait
	if !c.WhenFull.set {
		s.blockWait = DefaultBlockTimeout
	}
	if s.QueueSize < 1 {
		return nil, newError(ErrInvalid, "QueueSize must be above 0")
	}
	if s.BatchSize < 1 || s.BatchSize > DefaultBatchSize {
		return nil, newError(ErrInvalid, "BatchSize is 1 to 1000 (the server's limit)")
	}
	if s.BatchBytes < 1024 || s.BatchBytes > DefaultBatchBytes {
		return nil, newError(ErrInvalid, "BatchBytes is 1 KiB to 4 MiB (the server's limit)")
	}
	if s.Timeout < 0 || s.FlushInterval < 0 || s.RetryBase < 0 || s.RetryMax < s.RetryBase {
		return nil, newError(ErrInvalid, "durations must be positive and RetryMax at least RetryBase")
	}
	s.caPEM = append([]byte(nil), c.CACertificate...)
	if c.CACertificateFile != "" {
		pem, err := os.ReadFile(c.CACertificateFile)
		if err != nil {
			return nil, &Error{Kind: ErrInvalid, Message: "CACertificateFile", Err: err}
		}
		s.caPEM = append(append(s.caPEM, '\n'), pem...)
	}
	if s.Logger == nil {
		s.Logger = log.Default()
	}
	return s, nil
}

func defaultDuration(d *time.Duration, value time.Duration) {
	if *d == 0 {
		*d = value
	}
}

func defaultInt(n *int, value int) {
	if *n == 0 {
		*n = value
	}
}

// redacted is what every representation of a Config shows.
func (c Config) redacted(fields bool) string {
	if !fields {
		return fmt.Sprintf("{%s %s %s}", c.BaseURL, shownKey(c.APIKey), c.Ledger)
	}
	return fmt.Sprintf("auditstore.Config{BaseURL:%q, APIKey:%q, Ledger:%q, QueueSize:%d, WhenFull:%s, BatchSize:%d, "+
		"FlushInterval:%s, MaxRetries:%d, VerifierKey:%q}", c.BaseURL, shownKey(c.APIKey), c.Ledger, c.QueueSize,
		c.WhenFull, c.BatchSize, c.FlushInterval, c.MaxRetries, c.VerifierKey)
}

// String shows the Config with its key as auds_<key id>_….
func (c Config) String() string {
	return c.redacted(true)
}

// GoString is String: %#v never shows the key either.
func (c Config) GoString() string {
	return c.redacted(true)
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %q…) print the redacted
// form: reflection would otherwise print the key field as it is.
func (c Config) Format(f fmt.State, verb rune) {
	text := c.redacted(verb != 'v' || f.Flag('+') || f.Flag('#'))
	if verb == 'q' {
		text = fmt.Sprintf("%q", text)
	}
	_, _ = f.Write([]byte(text))
}

// MarshalJSON writes the Config without its key, for the same reason.
func (c Config) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]interface{}{
		"base_url": c.BaseURL, "api_key": shownKey(c.APIKey), "ledger": c.Ledger,
		"queue_size": c.QueueSize, "batch_size": c.BatchSize, "verifier_key": c.VerifierKey,
	})
}
