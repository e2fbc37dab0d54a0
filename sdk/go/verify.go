package auditstore

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// The limits of docs/FORMAT.md §1.
const (
	maxEventBytes    = 64 << 10
	maxMetadataDepth = 32
	maxIDLen         = 128
	maxTypeLen       = 64
	maxTextLen       = 256
)

// NormaliseTime converts an RFC 3339 §5.6 date-time to the form AuditStore
// hashes (docs/FORMAT.md §2): UTC, YYYY-MM-DDTHH:MM:SS.sssZ with exactly
// three fractional digits, truncated, never rounded. Lower-case t and z and
// the offset -00:00 are accepted; a leap second (23:59:60 in UTC, on the
// last day of a month) becomes 23:59:59.999; a UTC year outside 0000–9999
// is refused.
func NormaliseTime(text string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fieldError("occurred_at", "occurred_at %q %s", text, why)
	}
	// YYYY-MM-DDTHH:MM:SS is 19 bytes, then an optional fraction, then Z or ±HH:MM.
	if len(text) < 20 || text[4] != '-' || text[7] != '-' || (text[10] != 'T' && text[10] != 't') ||
		text[13] != ':' || text[16] != ':' {
		return bad("is not an RFC 3339 date-time")
	}
	year, ok1 := digitsAt(text, 0, 4)
	month, ok2 := digitsAt(text, 5, 2)
	day, ok3 := digitsAt(text, 8, 2)
	hour, ok4 := digitsAt(text, 11, 2)
	minute, ok5 := digitsAt(text, 14, 2)
	second, ok6 := digitsAt(text, 17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) {
		return bad("is not an RFC 3339 date-time")
	}
	rest := text[19:]
	millis := 0
	if rest[0] == '.' {
		n := 1
		for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
			if n <= 3 {
				millis = millis*10 + int(rest[n]-'0')
			}
			n++
		}
		if n == 1 {
			return bad("has a '.' without fractional digits")
		}
		for i := n; i <= 3; i++ {
			millis *= 10
		}
		rest = rest[n:]
	}
	offset := 0
	switch {
	case rest == "Z" || rest == "z":
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, okh := digitsAt(rest, 1, 2)
		om, okm := digitsAt(rest, 4, 2)
		if !okh || !okm || oh > 23 || om > 59 {
			return bad("has an invalid offset")
		}
		offset = (oh*60 + om) * 60
		if rest[0] == '-' {
			offset = -offset
		}
	default:
		return bad("is not an RFC 3339 date-time")
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(year, month) || hour > 23 || minute > 59 || second > 60 {
		return bad("is not a valid date and time")
	}
	leap := second == 60
	if leap {
		second, millis = 59, 999
	}
	utc := time.Date(year, time.Month(month), day, hour, minute, second, millis*int(time.Millisecond), time.UTC).
		Add(-time.Duration(offset) * time.Second)
	if leap && (utc.Hour() != 23 || utc.Minute() != 59 || utc.Day() != daysIn(utc.Year(), int(utc.Month()))) {
		return bad("is a leap second that is not the last second of a month in UTC")
	}
	if utc.Year() < 0 || utc.Year() > 9999 {
		return bad("is outside the years 0000–9999 in UTC")
	}
	return fmt.Sprintf("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.Year(), int(utc.Month()), utc.Day(),
		utc.Hour(), utc.Minute(), utc.Second(), utc.Nanosecond()/int(time.Millisecond)), nil
}

func digitsAt(text string, at, n int) (int, bool) {
	value := 0
	for i := at; i < at+n; i++ {
		if text[i] < '0' || text[i] > '9' {
			return 0, false
		}
		value = value*10 + int(text[i]-'0')
	}
	return value, true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// checkToken checks an id, action or type: 1 to most characters of
// [A-Za-z0-9._:-].
func checkToken(field, value string, most int) error {
	if value == "" || len(value) > most {
		return fieldError(field, "%s must be 1 to %d characters", field, most)
	}
	for i := 0; i < len(value); i++ {
		c := value[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return fieldError(field, "%s has %q; only A-Z a-z 0-9 . _ : - are allowed", field, c)
		}
	}
	return nil
}

// checkText checks a party's id or name: 1–256 Unicode scalar values, no
// control characters.
func checkText(field, value string) error {
	if value == "" || !utf8.ValidString(value) || utf8.RuneCountInString(value) > maxTextLen {
		return fieldError(field, "%s must be 1 to %d characters of valid UTF-8", field, maxTextLen)
	}
	for _, r := range value {
		if unicode.IsControl(r) {
			return fieldError(field, "%s must not contain control characters", field)
		}
	}
	return nil
}

func checkParty(which string, p Party) error {
	if err := checkToken(which+".type", p.Type, maxTypeLen); err != nil {
		return err
	}
	if err := checkText(which+".id", p.ID); err != nil {
		return err
	}
	if p.Name != "" {
		return checkText(which+".name", p.Name)
	}
	return nil
}

// depthOf is a JSON value's nesting: scalars 0, containers one more than
// their contents (the metadata object itself is level 1). It answers false
// for a Go type it does not know, which is then measured in JSON.
func depthOf(value interface{}, limit int) (int, bool) {
	if limit < 0 {
		return 1, true
	}
	most := 0
	measure := func(e interface{}) bool {
		d, ok := depthOf(e, limit-1)
		if d > most {
			most = d
		}
		return ok
	}
	switch v := value.(type) {
	case map[string]interface{}:
		for _, e := range v {
			if !measure(e) {
				return 0, false
			}
		}
	case []interface{}:
		for _, e := range v {
			if !measure(e) {
				return 0, false
			}
		}
	case map[string]string, []string:
	case nil, bool, string, float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return 0, true
	default:
		if _, isNumber := value.(interface{ Float64() (float64, error) }); isNumber {
			return 0, true
		}
		return 0, false
	}
	return most + 1, true
}

// normalised is an event checked and normalised as FORMAT.md §2 says, with
// its canonical metadata.
type normalised struct {
	event    Event
	metadata []byte
}

// normalise checks the event against FORMAT.md §1 and normalises it (§2).
func normalise(e Event) (*normalised, error) {
	if err := checkToken("id", e.ID, maxIDLen); err != nil {
		return nil, err
	}
	if err := checkToken("action", e.Action, maxIDLen); err != nil {
		return nil, err
	}
	if err := checkParty("actor", e.Actor); err != nil {
		return nil, err
	}
	if err := checkParty("resource", e.Resource); err != nil {
		return nil, err
	}
	when, err := NormaliseTime(e.OccurredAt)
	if err != nil {
		return nil, err
	}
	e.OccurredAt = when
	var metadata interface{} = map[string]interface{}{}
	if e.Metadata != nil {
		metadata = e.Metadata
	}
	canonical, err := CanonicalJSON(metadata)
	if err != nil {
		return nil, fieldError("metadata", "metadata: %v", err)
	}
	depth, known := depthOf(metadata, maxMetadataDepth+1)
	if !known {
		// Measured on the canonical form, whatever Go types it was built from.
		parsed, _ := parseJSON(canonical)
		depth, _ = depthOf(parsed, maxMetadataDepth+1)
	}
	if depth > maxMetadataDepth {
		return nil, fieldError("metadata", "metadata is nested deeper than %d levels", maxMetadataDepth)
	}
	return &normalised{event: e, metadata: canonical}, nil
}

// MetadataHash is SHA-256(JCS(metadata)) (docs/FORMAT.md §4); nil metadata
// is {}.
func MetadataHash(metadata map[string]interface{}) (Hash, error) {
	var value interface{} = map[string]interface{}{}
	if metadata != nil {
		value = metadata
	}
	canonical, err := CanonicalJSON(value)
	if err != nil {
		return Hash{}, verificationError("metadata: %v", err)
	}
	return sha256.Sum256(canonical), nil
}

// Entry is the canonical JSON an event's leaf hash commits to (docs/FORMAT.md
// §4): JCS({id, actor, action, resource, occurred_at, metadata_hash}) of the
// normalised event, absent names omitted.
func Entry(e Event) ([]byte, error) {
	n, err := normalise(e)
	if err != nil {
		return nil, err
	}
	return n.entry(), nil
}

// entry writes the members in their canonical order by hand: every one is a
// string, and the order is fixed (action < actor < id < metadata_hash <
// occurred_at < resource; id < name < type).
func (n *normalised) entry() []byte {
	e := n.event
	hash := Hash(sha256.Sum256(n.metadata)).String()
	out := make([]byte, 0, 256+len(e.ID)+len(e.Action)+len(e.Actor.ID)+len(e.Actor.Name)+len(e.Resource.ID)+len(e.Resource.Name))
	out = append(out, `{"action":`...)
	out, _ = appendString(out, e.Action)
	out = append(out, `,"actor":`...)
	out = appendParty(out, e.Actor)
	out = append(out, `,"id":`...)
	out, _ = appendString(out, e.ID)
	out = append(out, `,"metadata_hash":"`...)
	out = append(out, hash...)
	out = append(out, `","occurred_at":`...)
	out, _ = appendString(out, e.OccurredAt)
	out = append(out, `,"resource":`...)
	out = appendParty(out, e.Resource)
	return append(out, '}')
}

func appendParty(out []byte, p Party) []byte {
	out = append(out, `{"id":`...)
	out, _ = appendString(out, p.ID)
	if p.Name != "" {
		out = append(out, `,"name":`...)
		out, _ = appendString(out, p.Name)
	}
	out = append(out, `,"type":`...)
	out, _ = appendString(out, p.Type)
	return append(out, '}')
}

// hashMember is the length of "metadata_hash":"<64 hex>" in an entry.
const hashMember = len(`"metadata_hash":"`) + 64 + 1

// canonicalSize is the length of canonicalEvent, from the entry.
func (n *normalised) canonicalSize(entry []byte) int {
	return len(entry) - hashMember + len(`"metadata":`) + len(n.metadata)
}

// canonicalEvent is JCS({action, actor, id, metadata, occurred_at,
// resource}) of the normalised event: what an evidence file's extra holds.
func (n *normalised) canonicalEvent() []byte {
	entry := n.entry()
	// The entry differs only in its metadata_hash member, which sorts where
	// metadata does: replace "metadata_hash":"<64 hex>" by "metadata":<JCS>.
	at := bytes.Index(entry, []byte(`,"metadata_hash":"`)) + 1
	out := make([]byte, 0, len(entry)+len(n.metadata))
	out = append(out, entry[:at]...)
	out = append(out, `"metadata":`...)
	out = append(out, n.metadata...)
	return append(out, entry[at+hashMember:]...)
}

// LeafHash is an event's RFC 9162 §2.1.1 leaf hash, computed from its
// content as docs/FORMAT.md §2–4 say: SHA-256(0x00 || entry). Only id,
// actor, action, resource, occurred_at and metadata count (a StoredEvent's
// seq or received_at do not); the event must be valid (§1) and carry its id.
func LeafHash(e Event) (Hash, error) {
	n, err := normalise(e)
	if err != nil {
		return Hash{}, err
	}
	return n.leafHash()
}

// leafHash is the normalised event's leaf hash, once its size is checked.
func (n *normalised) leafHash() (Hash, error) {
	entry := n.entry()
	if size := n.canonicalSize(entry); size > maxEventBytes {
		return Hash{}, fieldError("event", "the event is %d bytes as canonical JSON; the limit is %d", size, maxEventBytes)
	}
	return leafHashOf(entry), nil
}

func leafHashOf(entry []byte) Hash {
	h := sha256.New()
	h.Write([]byte{0})
	h.Write(entry)
	var out Hash
	h.Sum(out[:0])
	return out
}

// nodeHash is an RFC 9162 §2.1.1 interior node: SHA-256(0x01 || left || right).
func nodeHash(left, right Hash) Hash {
	var buf [65]byte
	buf[0] = 1
	copy(buf[1:33], left[:])
	copy(buf[33:], right[:])
	return sha256.Sum256(buf[:])
}
