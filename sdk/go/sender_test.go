package auditstore

// The background sender at the edge of its byte limit: an event as large as
// a batch may carry (BatchBytes less the 13 bytes of {"events":[ and ]})
// is sent alone, in a request of exactly BatchBytes, between its
// neighbours; one byte more is refused by Record.

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

// sizedEvent is an event whose JSON (as Record encodes it) is size bytes.
func sizedEvent(t *testing.T, id string, size int) Event {
	t.Helper()
	e := testEvent(0)
	e.ID, e.OccurredAt = id, "2026-12-01T10:00:00.000Z"
	e.Metadata = map[string]interface{}{"pad": ""}
	base, err := json.Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	e.Metadata["pad"] = strings.Repeat("x", size-len(base))
	if data, _ := json.Marshal(e); len(data) != size {
		t.Fatalf("the event is %d bytes, not %d", len(data), size)
	}
	return e
}

func TestAnEventOfExactlyBatchBytesLessTheEnvelopeIsDeliveredAlone(t *testing.T) {
	server := newStandIn(t)
	const batchBytes = 1024
	client := testClient(t, Config{BaseURL: server.URL, BatchBytes: batchBytes, FlushInterval: time.Minute})
	largest := batchBytes - envelopeBytes
	if err := client.Record(sizedEvent(t, "evt_too_large", largest+1)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("an event one byte too large for a batch: %v", err)
	}
	for _, e := range []Event{sizedEvent(t, "evt_before", 200), sizedEvent(t, "evt_largest", largest), sizedEvent(t, "evt_after", 200)} {
		if err := client.Record(e); err != nil {
			t.Fatal(err)
		}
	}
	report, err := client.Flush(context.Background())
	if err != nil || report.Delivered != 3 || report.Failed != 0 {
		t.Fatalf("%v %v", report, err)
	}
	seen := server.requests()
	if len(seen) != 3 {
		t.Fatalf("%d requests", len(seen))
	}
	for i, want := range []string{"evt_before", "evt_largest", "evt_after"} {
		if len(seen[i].events) != 1 || seen[i].events[0].ID != want {
			t.Errorf("request %d carried %+v, not %s alone", i, seen[i].events, want)
		}
	}
	if seen[1].size != batchBytes {
		t.Errorf("the largest event's request is %d bytes, not %d", seen[1].size, batchBytes)
	}
}
