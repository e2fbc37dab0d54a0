package auditstore

import (
	"fmt"
	"strings"
	"time"
)

// Kind says what went wrong (docs/SDK.md §4). Each kind is also an error,
// so errors.Is(err, auditstore.ErrQueueFull) tells the kinds apart without a
// type assertion, and errors.As(err, &e) with e *Error gives the details.
type Kind int

// The kinds of error. ErrProblem to ErrClosed are those docs/SDK.md §4 names;
// ErrInvalid, ErrProtocol and ErrStore are this SDK's own, so that a bad
// argument, an answer the API does not document and a failing checkpoint
// store are not mistaken for one of those.
const (
	// ErrProblem: the server answered an RFC 9457 problem document (Status,
	// Title, Detail, Field, Type, RetryAfter).
	ErrProblem Kind = iota + 1
	// ErrNetwork: no answer (connection, TLS, timeout); Err holds the cause.
	ErrNetwork
	// ErrVerification: something did not verify; the message names what.
	ErrVerification
	// ErrFork: two different trees of one size, or a newer tree that is not
	// an extension of the one already verified: the server showed two
	// histories.
	ErrFork
	// ErrRollback: a smaller tree than one already verified.
	ErrRollback
	// ErrQueueFull: Record found the queue full (the Block policy's wait
	// passed).
	ErrQueueFull
	// ErrClosed: Record after Close.
	ErrClosed
	// ErrInvalid: a configuration or an argument that cannot be used.
	ErrInvalid
	// ErrProtocol: an answer that is not what the API documents.
	ErrProtocol
	// ErrStore: the checkpoint store failed.
	ErrStore
)

var kindNames = map[Kind]string{
	ErrProblem:      "the server answered a problem",
	ErrNetwork:      "AuditStore could not be reached",
	ErrVerification: "verification failed",
	ErrFork:         "FORK: the server showed two histories",
	ErrRollback:     "ROLLBACK: the server showed a smaller tree",
	ErrQueueFull:    "the event queue is full",
	ErrClosed:       "the client is closed",
	ErrInvalid:      "invalid argument",
	ErrProtocol:     "unexpected answer",
	ErrStore:        "checkpoint store",
}

// Error makes a Kind usable as the target of errors.Is.
func (k Kind) Error() string {
	if name, ok := kindNames[k]; ok {
		return "auditstore: " + name
	}
	return fmt.Sprintf("auditstore: error kind %d", int(k))
}

// String names the kind.
func (k Kind) String() string {
	return k.Error()
}

// Error is the one error type of this package. Which fields are set depends
// on Kind. It never holds the API key: the key only ever travels in the
// Authorization header, which no error quotes.
type Error struct {
	Kind Kind

	// The RFC 9457 problem document, for ErrProblem.
	Status int
	Title  string
	Detail string
	// Field is the offending member of the request (events[3].action), when
	// the server named one.
	Field string
	Type  string
	// RetryAfter is the response's Retry-After (zero when it had none).
	RetryAfter time.Duration

	// Message says what happened, for the other kinds.
	Message string

	// For ErrFork and ErrRollback: the ledger, the tree sizes and roots
	// (lowercase hex) stored and seen, and both signed notes. An ErrStore
	// refusing to save a smaller tree has the ledger and both sizes.
	Ledger     string
	StoredSize uint64
	SeenSize   uint64
	StoredRoot string
	SeenRoot   string
	StoredNote string
	SeenNote   string

	// Err is the cause, when there is one (a network error, a context's).
	Err error
}

// Error describes the error in one line.
func (e *Error) Error() string {
	switch e.Kind {
	case ErrProblem:
		text := fmt.Sprintf("auditstore: AuditStore answered %d", e.Status)
		if e.Title != "" {
			text += " " + e.Title
		}
		if e.Detail != "" {
			text += ": " + e.Detail
		}
		if e.Field != "" {
			text += " (field " + e.Field + ")"
		}
		return text
	case ErrFork:
		return fmt.Sprintf("auditstore: FORK: ledger %s: stored tree of size %d (root %s), seen tree of size %d (root %s)%s",
			e.Ledger, e.StoredSize, e.StoredRoot, e.SeenSize, e.SeenRoot, suffix(e.Message))
	case ErrRollback:
		return fmt.Sprintf("auditstore: ROLLBACK: ledger %s was verified at size %d, now shown at size %d",
			e.Ledger, e.StoredSize, e.SeenSize)
	}
	text := e.Kind.Error()
	if e.Message != "" {
		text += ": " + e.Message
	}
	if e.Err != nil {
		text += ": " + e.Err.Error()
	}
	return text
}

func suffix(message string) string {
	if message == "" {
		return ""
	}
	return ": " + message
}

// Unwrap gives the cause, so errors.Is(err, context.DeadlineExceeded) works.
func (e *Error) Unwrap() error {
	return e.Err
}

// Is makes errors.Is(err, auditstore.ErrFork) true for an *Error of that
// kind.
func (e *Error) Is(target error) bool {
	kind, ok := target.(Kind)
	return ok && kind == e.Kind
}

// Retryable says whether sending the same request again can help
// (docs/SDK.md §3): no answer, 408, 429 and every 5xx.
func (e *Error) Retryable() bool {
	switch e.Kind {
	case ErrNetwork:
		return true
	case ErrProblem:
		return e.Status == 408 || e.Status == 429 || e.Status >= 500
	}
	return false
}

func newError(kind Kind, format string, args ...interface{}) *Error {
	return &Error{Kind: kind, Message: fmt.Sprintf(format, args...)}
}

func verificationError(format string, args ...interface{}) *Error {
	return newError(ErrVerification, format, args...)
}

// fieldError is a verification error naming the event member at fault
// (Record turns it into an ErrInvalid with the same Field).
func fieldError(field, format string, args ...interface{}) *Error {
	e := newError(ErrVerification, format, args...)
	e.Field = field
	return e
}

// shownKey is how an API key is printed: auds_<key id>_… with the secret
// part replaced, so a log line can name the key without revealing it.
func shownKey(secret string) string {
	rest := strings.TrimPrefix(secret, "auds_")
	if rest == secret {
		return "…"
	}
	id, _, found := strings.Cut(rest, "_")
	if !found || id == "" {
		return "…"
	}
	return "auds_" + id + "_…"
}
