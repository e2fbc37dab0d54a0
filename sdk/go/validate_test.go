package auditstore

// Record refuses, naming the field, what the server would refuse
// (docs/vectors/refusals.json and FORMAT.md §1), so that one bad event
// cannot fail the background batch it would have joined; it accepts the
// twins the server accepts.

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRecordRefusesWhatTheServerRefusesNamingTheField(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "docs", "vectors", "refusals.json"))
	if err != nil {
		t.Fatal(err)
	}
	var vectors struct {
		Cases []struct {
			Name     string          `json:"name"`
			Body     json.RawMessage `json:"body"`
			BodyText string          `json:"body_text"`
			Field    string          `json:"field"`
		} `json:"cases"`
		Accepted []struct {
			Name string          `json:"name"`
			Body json.RawMessage `json:"body"`
		} `json:"accepted"`
	}
	if err := json.Unmarshal(data, &vectors); err != nil {
		t.Fatal(err)
	}
	decode := func(raw []byte) Event {
		decoder := json.NewDecoder(bytes.NewReader(raw))
		decoder.UseNumber()
		var e Event
		if err := decoder.Decode(&e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	server := newStandIn(t)
	client := testClient(t, Config{BaseURL: server.URL})
	for _, c := range vectors.Cases {
		raw := []byte(c.BodyText)
		if len(c.Body) > 0 {
			raw = c.Body
		}
		err := client.Record(decode(raw))
		var refusal *Error
		if !errors.As(err, &refusal) || refusal.Kind != ErrInvalid || refusal.Field != c.Field {
			t.Errorf("%s: %v (field %q, want %q)", c.Name, err, fieldOf(refusal), c.Field)
		}
	}
	for _, c := range vectors.Accepted {
		if err := client.Record(decode(c.Body)); err != nil {
			t.Errorf("%s: %v", c.Name, err)
		}
	}
	good := testEvent(1)
	for field, change := range map[string]func(*Event){
		"actor.id":      func(e *Event) { e.Actor.ID = "" },
		"action":        func(e *Event) { e.Action = "a b" },
		"resource.type": func(e *Event) { e.Resource.Type = "" },
		"occurred_at":   func(e *Event) { e.OccurredAt = "2026-11-26" },
		"id":            func(e *Event) { e.ID = "evt/1" },
		"event":         func(e *Event) { e.Metadata = map[string]interface{}{"x": string(make([]byte, 70000))} },
		"metadata.n":    func(e *Event) { e.Metadata = map[string]interface{}{"n": int64(1 << 53)} },
		"metadata.f[1]": func(e *Event) { e.Metadata = map[string]interface{}{"f": []interface{}{0.5, 1e300}} },
		"metadata.s.v": func(e *Event) {
			e.Metadata = map[string]interface{}{"s": struct {
				V uint64 `json:"v"`
			}{1 << 60}}
		},
	} {
		e := good
		change(&e)
		if err := client.Record(e); fieldOf(err) != field || !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v", field, err)
		}
	}
	report, err := client.Flush(testContext(t))
	if err != nil || report.Delivered != uint64(len(vectors.Accepted)) || report.Failed != 0 {
		t.Fatalf("%v %v", report, err)
	}
}

func fieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) && e != nil {
		return e.Field
	}
	return ""
}
