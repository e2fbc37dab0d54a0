package auditstore

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
)

// What a leaf hash commits to, read strictly (docs/SDK.md §6). encoding/json
// drops unknown members, matches member names in any case and keeps the
// last of duplicate members, so an event decoded with it can carry content
// that no hash covers (an actor's "email", a resource's "owner", a second
// "action"). Every event answer is therefore read a second time with
// parseJSON, which refuses duplicates, invalid UTF-8 and lone surrogates,
// and its parties checked member by member.

// storedMembers are the members a StoredEvent reads; a member spelled in
// another case would be read as one of them by encoding/json.
var storedMembers = []string{"id", "actor", "action", "resource", "occurred_at", "metadata", "seq", "leaf_hash",
	"chain_hash", "received_at", "tombstoned", "archived_at"}

// UnmarshalJSON reads an event answer as encoding/json does, numbers as
// json.Number (so that metadata keeps every digit it was sent with), then
// reads it again strictly. An answer whose content is not exactly what a
// leaf hash commits to is still read, so a listing shows it, but it never
// verifies: VerifyEventInclusion and GetVerifiedEvent refuse it, naming the
// problem.
func (s *StoredEvent) UnmarshalJSON(data []byte) error {
	// plain has StoredEvent's fields without this method, so decoding into
	// it does not come back here.
	type plain StoredEvent
	var out plain
	decoder := json.NewDecoder(bytes.NewReader(data))
	decoder.UseNumber()
	if err := decoder.Decode(&out); err != nil {
		return err
	}
	*s = StoredEvent(out)
	s.Event.uncommitted = uncommittedContent(data)
	return nil
}

// uncommittedContent says what of an event answer no hash would commit to,
// or "" when it is exactly an event (docs/FORMAT.md §1) with the server's
// members beside it.
func uncommittedContent(data []byte) string {
	parsed, err := parseJSON(data)
	if err != nil {
		return "it is not strict JSON (" + err.Error() + ")"
	}
	object, ok := parsed.(map[string]interface{})
	if !ok {
		return "it is not a JSON object"
	}
	for _, name := range sortedNames(object) {
		for _, known := range storedMembers {
			if name != known && strings.EqualFold(name, known) {
				return fmt.Sprintf("it has a member %q, which encoding/json would read as %q", truncate(name, 64), known)
			}
		}
	}
	for _, which := range []string{"actor", "resource"} {
		// A tombstone has no parties; LeafHash refuses an event without them.
		if value, present := object[which]; present {
			if _, problem := partyOf(value); problem != "" {
				return "its " + which + " " + problem
			}
		}
	}
	for _, name := range []string{"id", "action", "occurred_at"} {
		if value, present := object[name]; present {
			if _, ok := value.(string); !ok {
				return "its " + name + " is not a string"
			}
		}
	}
	if value, present := object["metadata"]; present {
		if _, ok := value.(map[string]interface{}); !ok {
			return "its metadata is not an object"
		}
	}
	return ""
}

// partyOf reads an actor or resource exactly as docs/FORMAT.md §1 has it:
// type, id and an optional name, each a string, the name not empty, nothing
// else and no member in another case, since the leaf hash commits to those
// three only. The problem, when there is one, says what is wrong.
func partyOf(value interface{}) (Party, string) {
	object, ok := value.(map[string]interface{})
	if !ok {
		return Party{}, "is not an object"
	}
	var p Party
	for _, name := range sortedNames(object) {
		text, isText := object[name].(string)
		switch name {
		case "type":
			p.Type = text
		case "id":
			p.ID = text
		case "name":
			if text == "" {
				return Party{}, "has a name that is not a non-empty string"
			}
			p.Name = text
		default:
			return Party{}, fmt.Sprintf("has a member %q besides type, id and name, which no hash commits to", truncate(name, 64))
		}
		if !isText {
			return Party{}, "has a " + name + " that is not a string"
		}
	}
	for _, name := range []string{"type", "id"} {
		if _, present := object[name]; !present {
			return Party{}, "has no " + name
		}
	}
	return p, ""
}

// sortedNames are an object's member names in order, so that of several
// problems the same one is named every time.
func sortedNames(object map[string]interface{}) []string {
	names := make([]string, 0, len(object))
	for name := range object {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// checkCommitted refuses an event read from JSON that carried what no hash
// commits to.
func checkCommitted(e Event) error {
	if e.uncommitted == "" {
		return nil
	}
	return verificationError("event %q does not verify: %s", truncate(e.ID, 128), e.uncommitted)
}
