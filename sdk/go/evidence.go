package auditstore

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// tlogProofHeader is the first line of every evidence file (C2SP tlog-proof).
const tlogProofHeader = "c2sp.org/tlog-proof@v1"

// VerifiedEvidence is what a verified evidence file proves: the event, its
// seq in the ledger the checkpoint's origin names, as of the signed tree.
type VerifiedEvidence struct {
	Ledger     string
	Seq        uint64
	Event      Event
	LeafHash   Hash
	Checkpoint *Checkpoint
}

// VerifyEvidence checks a per-event evidence file offline (docs/FORMAT.md
// §12) against the pinned key: the file parsed strictly, the checkpoint's
// signature, an origin naming a ledger, the event's leaf hash recomputed
// from the extra data, and the inclusion proof from it to the signed root.
// Anything else is an ErrVerification.
func VerifyEvidence(text string, key *VerifierKey) (*VerifiedEvidence, error) {
	if key == nil {
		return nil, newError(ErrInvalid, "no verifier key")
	}
	bad := func(format string, args ...interface{}) (*VerifiedEvidence, error) {
		return nil, verificationError("malformed evidence: "+format, args...)
	}
	if !utf8.ValidString(text) {
		return bad("not valid UTF-8")
	}
	if hasControl(text) {
		return bad("a control character other than newline (C0, DEL or C1)")
	}
	rest, ok := cutLine(text, tlogProofHeader)
	if !ok {
		return bad("the first line is not %q", tlogProofHeader)
	}
	line, rest, ok := nextLine(rest)
	if !ok || !strings.HasPrefix(line, "extra ") {
		return bad(`the second line is not "extra <base64>": AuditStore evidence carries its event`)
	}
	content, err := b64.DecodeString(line[len("extra "):])
	if err != nil {
		return bad("the extra data is not standard base64")
	}
	event, n, err := eventOfExtra(content)
	if err != nil {
		return nil, err
	}
	line, rest, ok = nextLine(rest)
	digits := strings.TrimPrefix(line, "index ")
	if !ok || digits == line || digits == "" || (len(digits) > 1 && digits[0] == '0') || strings.Trim(digits, "0123456789") != "" {
		return bad(`the third line is not "index <decimal without leading zeros>"`)
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return bad("the index does not fit in 64 bits")
	}
	var proof []Hash
	for {
		line, rest, ok = nextLine(rest)
		if !ok {
			return bad("the file ends inside the proof")
		}
		if line == "" {
			break
		}
		if len(proof) == maxProofHashes {
			return bad("the inclusion proof has more than %d hashes", maxProofHashes)
		}
		raw, err := b64.DecodeString(line)
		if err != nil || len(raw) != len(Hash{}) {
			return bad("proof line %d is not base64 of 32 bytes", len(proof)+1)
		}
		var h Hash
		copy(h[:], raw)
		proof = append(proof, h)
	}
	// The rest is the signed checkpoint, verbatim; nothing follows it (its
	// last signature line's newline ends the file, which openNote checks).
	checkpoint, err := VerifyCheckpoint(rest, key)
	if err != nil {
		return nil, err
	}
	ledger, err := ledgerOfOrigin(checkpoint.Origin)
	if err != nil {
		return nil, err
	}
	leaf, err := n.leafHash()
	if err != nil {
		return nil, err
	}
	if err := VerifyInclusion(seq, checkpoint.TreeSize, leaf, proof, checkpoint.Root); err != nil {
		return nil, err
	}
	return &VerifiedEvidence{Ledger: ledger, Seq: seq, Event: event, LeafHash: leaf, Checkpoint: checkpoint}, nil
}

func cutLine(text, want string) (string, bool) {
	line, rest, ok := nextLine(text)
	return rest, ok && line == want
}

// nextLine splits off the next line without its newline; a missing newline
// means the file ends early.
func nextLine(text string) (line, rest string, ok bool) {
	at := strings.IndexByte(text, '\n')
	if at < 0 {
		return "", "", false
	}
	return text[:at], text[at+1:], true
}

// eventOfExtra reads the extra data: exactly the canonical JSON (RFC 8785)
// of a valid normalised event, so that each event has one encoding.
func eventOfExtra(content []byte) (Event, *normalised, error) {
	fail := func(format string, args ...interface{}) (Event, *normalised, error) {
		return Event{}, nil, verificationError("malformed evidence: the extra data "+format, args...)
	}
	parsed, err := parseJSON(content)
	if err != nil {
		return fail("is not JSON: %v", err)
	}
	object, ok := parsed.(map[string]interface{})
	if !ok || len(object) != 6 {
		return fail("is not an event object of exactly id, actor, action, resource, occurred_at and metadata")
	}
	var event Event
	texts := map[string]*string{"id": &event.ID, "action": &event.Action, "occurred_at": &event.OccurredAt}
	for name, target := range texts {
		value, ok := object[name].(string)
		if !ok {
			return fail("has no string %s", name)
		}
		*target = value
	}
	var problem string
	if event.Actor, problem = partyOf(object["actor"]); problem != "" {
		return fail("has an actor that %s", problem)
	}
	if event.Resource, problem = partyOf(object["resource"]); problem != "" {
		return fail("has a resource that %s", problem)
	}
	if event.Metadata, ok = object["metadata"].(map[string]interface{}); !ok {
		return fail("has no metadata object")
	}
	n, err := normalise(event)
	if err != nil {
		return Event{}, nil, err
	}
	if n.event.OccurredAt != event.OccurredAt {
		return fail("has an occurred_at that is not normalised")
	}
	if !bytes.Equal(n.canonicalEvent(), content) {
		return fail("is not the canonical JSON (RFC 8785) of the normalised event")
	}
	return event, n, nil
}
