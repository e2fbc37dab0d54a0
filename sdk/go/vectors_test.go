package auditstore

// Local verification against the published vectors: every event's hashes
// (docs/vectors/events.json), the shared RFC 8785 vectors, the time
// normalisation of FORMAT.md §2 and the signed-note example of §10, each
// with tampered twins that must fail.

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type vectorFile struct {
	LedgerID string `json:"ledger_id"`
	Genesis  string `json:"genesis"`
	Events   []struct {
		Event        json.RawMessage `json:"event"`
		MetadataHash string          `json:"metadata_hash"`
		Entry        string          `json:"entry"`
		LeafHash     string          `json:"leaf_hash"`
		ChainHash    string          `json:"chain_hash"`
		Root         string          `json:"root"`
	} `json:"events"`
}

func loadVectors(t *testing.T) vectorFile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "vectors", "events.json"))
	if err != nil {
		t.Fatalf("the vectors: %v", err)
	}
	var v vectorFile
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("the vectors: %v", err)
	}
	if len(v.Events) < 10 {
		t.Fatalf("only %d vector events", len(v.Events))
	}
	return v
}

func decodeEvent(t *testing.T, raw []byte) Event {
	t.Helper()
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("an event: %v", err)
	}
	return e
}

func mustHash(t *testing.T, text string) Hash {
	t.Helper()
	h, err := ParseHash(text)
	if err != nil {
		t.Fatalf("%q: %v", text, err)
	}
	return h
}

// vectorLeaves are the leaf hashes of the vector events, computed here.
func vectorLeaves(t *testing.T) ([]Event, []Hash) {
	v := loadVectors(t)
	var events []Event
	var leaves []Hash
	for _, vector := range v.Events {
		e := decodeEvent(t, vector.Event)
		h, err := LeafHash(e)
		if err != nil {
			t.Fatalf("%s: %v", e.ID, err)
		}
		events, leaves = append(events, e), append(leaves, h)
	}
	return events, leaves
}

func TestEveryVectorEventHashesToItsPublishedHashesAndEveryTwinDiffers(t *testing.T) {
	v := loadVectors(t)
	genesis := sha256.Sum256([]byte("auditstore/v1/genesis\n" + v.LedgerID))
	if Hash(genesis) != mustHash(t, v.Genesis) {
		t.Fatalf("genesis %x, want %s", genesis, v.Genesis)
	}
	chain := Hash(genesis)
	var leaves []Hash
	for _, vector := range v.Events {
		e := decodeEvent(t, vector.Event)
		metadataHash, err := MetadataHash(e.Metadata)
		if err != nil || metadataHash.String() != vector.MetadataHash {
			t.Errorf("%s: metadata hash %s (%v), want %s", e.ID, metadataHash, err, vector.MetadataHash)
		}
		entry, err := Entry(e)
		if err != nil || string(entry) != vector.Entry {
			t.Errorf("%s: entry\n%s (%v)\nwant\n%s", e.ID, entry, err, vector.Entry)
		}
		leaf, err := LeafHash(e)
		if err != nil || leaf.String() != vector.LeafHash {
			t.Errorf("%s: leaf hash %s (%v), want %s", e.ID, leaf, err, vector.LeafHash)
		}
		// The chain (FORMAT.md §5) and the tree (§6) over the leaves so far.
		link := append(append([]byte{2}, chain[:]...), leaf[:]...)
		chain = sha256.Sum256(link)
		if chain.String() != vector.ChainHash {
			t.Errorf("%s: chain hash %s, want %s", e.ID, chain, vector.ChainHash)
		}
		leaves = append(leaves, leaf)
		if root := treeHash(leaves); root.String() != vector.Root {
			t.Errorf("%s: root %s, want %s", e.ID, root, vector.Root)
		}

		// The same event read back as a stored event (extra members) hashes alike.
		var stored StoredEvent
		if err := json.Unmarshal(append(vector.Event[:len(vector.Event)-1], `,"seq":7,"received_at":"x"}`...), &stored); err != nil {
			t.Fatal(err)
		}
		if again, err := LeafHash(stored.Event); err != nil || again != leaf {
			t.Errorf("%s: as a stored event: %s (%v)", e.ID, again, err)
		}

		metadata := map[string]interface{}{"added": true}
		for k, value := range e.Metadata {
			metadata[k] = value
		}
		twins := map[string]Event{"action": e, "actor id": e, "metadata": e, "occurred_at": e, "resource name": e}
		twin := twins["action"]
		twin.Action += "x"
		twins["action"] = twin
		twin = twins["actor id"]
		twin.Actor.ID = "someone-else"
		twins["actor id"] = twin
		twin = twins["metadata"]
		twin.Metadata = metadata
		twins["metadata"] = twin
		twin = twins["occurred_at"]
		twin.OccurredAt = "2000-01-01T00:00:00.001Z"
		twins["occurred_at"] = twin
		twin = twins["resource name"]
		twin.Resource.Name += "!"
		twins["resource name"] = twin
		for what, twin := range twins {
			if h, err := LeafHash(twin); err != nil || h == leaf {
				t.Errorf("%s: the twin with another %s hashes alike (%v)", e.ID, what, err)
			}
		}
	}
	if treeHash(leaves[:2]).String() != "a8fcb2c2a31be440c773c1d497312229a4ae2cf31da8f1b02a174effacd4d369" {
		t.Error("the root of the first two events is not FORMAT.md §6's")
	}
}

func TestLeafHashRefusesInvalidEvents(t *testing.T) {
	good := Event{ID: "e1", Actor: Party{Type: "user", ID: "u"}, Action: "a.b", Resource: Party{Type: "r", ID: "1"},
		OccurredAt: "2026-01-01T00:00:00Z"}
	if _, err := LeafHash(good); err != nil {
		t.Fatalf("a valid event: %v", err)
	}
	deep := map[string]interface{}{}
	level := deep
	for i := 0; i < 32; i++ {
		next := map[string]interface{}{}
		level["x"] = next
		level = next
	}
	cases := map[string]func(*Event){
		"no id":            func(e *Event) { e.ID = "" },
		"id with a space":  func(e *Event) { e.ID = "e 1" },
		"long action":      func(e *Event) { e.Action = strings.Repeat("a", 129) },
		"actor type":       func(e *Event) { e.Actor.Type = "us/er" },
		"control in id":    func(e *Event) { e.Resource.ID = "a\u0007" },
		"C1 control":       func(e *Event) { e.Actor.Name = "a\u0085" },
		"invalid UTF-8":    func(e *Event) { e.Actor.ID = "\xff" },
		"long party id":    func(e *Event) { e.Actor.ID = strings.Repeat("é", 257) },
		"bad time":         func(e *Event) { e.OccurredAt = "2026-01-01" },
		"too deep":         func(e *Event) { e.Metadata = deep },
		"NaN metadata":     func(e *Event) { e.Metadata = map[string]interface{}{"x": json.Number("NaN")} },
		"too large":        func(e *Event) { e.Metadata = map[string]interface{}{"x": strings.Repeat("a", 65536)} },
		"no resource type": func(e *Event) { e.Resource.Type = "" },
	}
	for what, change := range cases {
		e := good
		change(&e)
		if _, err := LeafHash(e); !errors.Is(err, ErrVerification) {
			t.Errorf("%s: %v", what, err)
		}
	}
	// 256 characters (not bytes) are allowed, as 32 levels are.
	e := good
	e.Actor.ID = strings.Repeat("é", 256)
	e.Metadata = map[string]interface{}{"x": deep["x"].(map[string]interface{})["x"]}
	if _, err := LeafHash(e); err != nil {
		t.Errorf("the limits themselves: %v", err)
	}
}

func TestTheSharedJCSVectorsCanonicaliseByteForByte(t *testing.T) {
	dir := filepath.Join("..", "..", "..", "shared", "vectors", "jcs")
	inputs, err := os.ReadDir(filepath.Join(dir, "input"))
	if err != nil {
		t.Fatalf("the shared JCS vectors: %v", err)
	}
	if len(inputs) < 5 {
		t.Fatalf("only %d JCS vectors", len(inputs))
	}
	for _, input := range inputs {
		data, err := os.ReadFile(filepath.Join(dir, "input", input.Name()))
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(filepath.Join(dir, "output", input.Name()))
		if err != nil {
			t.Fatal(err)
		}
		got, err := Canonicalize(data)
		if err != nil || string(got) != string(want) {
			t.Errorf("%s:\n got %s (%v)\nwant %s", input.Name(), got, err, want)
		}
	}
}

func TestJCSNumbersSortingAndRefusals(t *testing.T) {
	for input, want := range map[string]string{
		`10.0`: `10`, `-0`: `0`, `-0.0`: `0`, `1e30`: `1e+30`, `1e21`: `1e+21`, `1e20`: `100000000000000000000`,
		`0.000001`: `0.000001`, `1.5e-7`: `1.5e-7`, `9007199254740993`: `9007199254740992`,
		`12345678901234567`: `12345678901234568`, `-1.5E+3`: `-1500`, `5e-324`: `5e-324`,
		`1.7976931348623157e308`: `1.7976931348623157e+308`, `123456789012345680000`: `123456789012345680000`,
		`0.1`: `0.1`, `[1,"\u007f\u2028/",{}]`: "[1,\"\u007f\u2028/\",{}]", `"\u0000\u001f"`: `"\u0000\u001f"`,
		`{"～":1,"😀":2,"a":3}`: `{"a":3,"😀":2,"～":1}`,
	} {
		got, err := Canonicalize([]byte(input))
		if err != nil || string(got) != want {
			t.Errorf("%s: %s (%v), want %s", input, got, err, want)
		}
	}
	for what, input := range map[string]string{
		"duplicate name": `{"a":1,"a":2}`, "lone high surrogate": `"\ud800"`, "lone low surrogate": `"\udc00x"`,
		"invalid UTF-8": "\"\xff\"", "trailing data": `{} {}`, "overflow": `1e400`, "not JSON": `{"a":}`,
		"too deep": strings.Repeat("[", 2000) + strings.Repeat("]", 2000),
	} {
		if got, err := Canonicalize([]byte(input)); err == nil {
			t.Errorf("%s: accepted as %s", what, got)
		}
	}
	if _, err := CanonicalJSON(map[string]interface{}{"x": json.Number("0x10")}); err == nil {
		t.Error("a json.Number that is no JSON number was accepted")
	}
	got, err := CanonicalJSON(map[string]interface{}{"b": []string{"x"}, "a": struct {
		N int `json:"n"`
	}{3}, "c": int64(9007199254740993)})
	if err != nil || string(got) != `{"a":{"n":3},"b":["x"],"c":9007199254740992}` {
		t.Errorf("Go values: %s (%v)", got, err)
	}
}

func TestTimesNormaliseAsFormatSays(t *testing.T) {
	for input, want := range map[string]string{
		"2026-11-26T12:30:00.123456789+02:30": "2026-11-26T10:00:00.123Z",
		"2026-12-31T20:00:00.9999-05:00":      "2027-01-01T01:00:00.999Z",
		"2026-11-26T10:00:01Z":                "2026-11-26T10:00:01.000Z",
		"1999-12-31T23:59:59.9999999Z":        "1999-12-31T23:59:59.999Z",
		"2016-12-31t23:59:60.5z":              "2016-12-31T23:59:59.999Z",
		"2016-12-31T20:59:60-03:00":           "2016-12-31T23:59:59.999Z",
		"2026-11-26T10:00:00.5-00:00":         "2026-11-26T10:00:00.500Z",
		"0000-01-01T00:00:00Z":                "0000-01-01T00:00:00.000Z",
		"9999-12-31T23:59:59.999Z":            "9999-12-31T23:59:59.999Z",
		"2024-02-29T00:00:00+23:59":           "2024-02-28T00:01:00.000Z",
	} {
		got, err := NormaliseTime(input)
		if err != nil || got != want {
			t.Errorf("%s: %s (%v), want %s", input, got, err, want)
		}
	}
	for _, input := range []string{
		"yesterday", "2026-02-30T00:00:00Z", "2025-02-29T00:00:00Z", "2026-11-26 10:00:00Z", "2026-11-26T10:00:00",
		"2026-11-26T10:00:00.Z", "2026-11-26T24:00:00Z", "2026-11-26T10:60:00Z", "2026-11-26T10:00:00+24:00",
		"2026-11-26T10:00:00+02:60", "2026-11-26T10:00:00+0200", "2026-06-29T23:59:60Z", "2026-06-30T22:59:60Z",
		"0000-01-01T00:30:00+01:00", "9999-12-31T23:59:59-00:01", "+2026-11-26T10:00:00Z", "2026-11-26T10:00:00Zx",
		"2026-1-26T10:00:00Z", "２026-11-26T10:00:00Z", "",
	} {
		if got, err := NormaliseTime(input); err == nil {
			t.Errorf("%q accepted as %s", input, got)
		}
	}
}

const (
	peterKey  = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
	peterNote = "If you think cryptography is the answer to your problem,\n" +
		"then you don't know what your problem is.\n\n" +
		"\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)

func TestTheReferenceSignedNoteVerifiesWithItsKeyAndNotOnceAltered(t *testing.T) {
	key, err := ParseVerifierKey(peterKey + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if key.String() != peterKey || key.ID != 0xc74f20a3 {
		t.Fatalf("the key reads back as %s", key)
	}
	text, err := openNote(peterNote, key)
	if err != nil || !strings.HasPrefix(text, "If you think") || !strings.HasSuffix(text, "is.\n") {
		t.Fatalf("the signature part: %q, %v", text, err)
	}
	// The body is not a checkpoint, so only the signature part passes.
	if _, err := VerifyCheckpoint(peterNote, key); err == nil || !strings.Contains(err.Error(), "checkpoint") {
		t.Errorf("a note that is no checkpoint: %v", err)
	}
	twins := map[string]string{
		"one word of the text": strings.Replace(peterNote, "answer", "answers", 1),
		"one signature byte":   strings.Replace(peterNote, "x08go/ZJ", "x08go/ZK", 1),
		"no final newline":     strings.TrimSuffix(peterNote, "\n"),
		"a carriage return":    strings.Replace(peterNote, "\n\n", "\r\n\n", 1),
	}
	for what, note := range twins {
		if _, err := openNote(note, key); !errors.Is(err, ErrVerification) {
			t.Errorf("%s: %v", what, err)
		}
	}
	if _, err := openNote(twins["one word of the text"], key); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("an altered text: %v", err)
	}
	other, _ := testKey(t, "PeterNeumann", 9)
	if _, err := openNote(peterNote, other); err == nil || !strings.Contains(err.Error(), "no signature by the pinned key") {
		t.Errorf("another key: %v", err)
	}
	for what, text := range map[string]string{
		"another key id":      strings.Replace(peterKey, "c74f20a3", "c74f20a4", 1),
		"another name":        strings.Replace(peterKey, "PeterNeumann", "PeterNeuman", 1),
		"a key byte":          strings.Replace(peterKey, "ARpc", "ARpd", 1),
		"a type other than 1": strings.Replace(peterKey, "ARpc", "Apc", 1),
		"not base64":          peterKey + "!",
		"a short id":          strings.Replace(peterKey, "c74f20a3", "c74f20a", 1),
		"two parts":           "PeterNeumann+c74f20a3",
		"a space in the name": strings.Replace(peterKey, "Peter", "Peter ", 1),
	} {
		if _, err := ParseVerifierKey(text); !errors.Is(err, ErrVerification) {
			t.Errorf("a verifier key with %s: %v", what, err)
		}
	}
}
