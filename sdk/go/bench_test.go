package auditstore

// Micro-benchmarks of the client's own work (go test -bench .): what Record
// costs the caller before the event is queued, and a leaf hash with its
// inclusion proof. bench/throughput and bench/verify measure end to end.

import (
	"testing"
	"time"
)

func benchEvent(n int) Event {
	return Event{
		Actor:      Party{Type: "user", ID: "user_42", Name: "Benchmark User"},
		Action:     "invoice.action_7",
		Resource:   Party{Type: "invoice", ID: "inv_31"},
		OccurredAt: "2026-12-01T10:00:00.123Z",
		Metadata:   map[string]interface{}{"amount": n, "currency": "EUR", "note": "a typical audit event with a little metadata", "ip": "192.0.2.1"},
	}
}

func BenchmarkRecordPreparation(b *testing.B) {
	in := &clientState{settings: &settings{Config: Config{BatchBytes: DefaultBatchBytes}}}
	for i := 0; i < b.N; i++ {
		prepared, _, err := in.prepare(benchEvent(i))
		if err == nil {
			err = checkIngest(prepared)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkLeafHashAndInclusionProof(b *testing.B) {
	leaves := make([]Hash, 1000)
	events := make([]Event, len(leaves))
	for i := range leaves {
		events[i] = benchEvent(i)
		events[i].ID, _ = newUUIDv7(time.Now())
		leaves[i], _ = LeafHash(events[i])
	}
	root := treeHash(leaves)
	proofs := make([][]Hash, len(leaves))
	for i := range proofs {
		proofs[i] = inclusionPath(i, leaves)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m := i % len(leaves)
		leaf, err := LeafHash(events[m])
		if err == nil {
			err = VerifyInclusion(uint64(m), uint64(len(leaves)), leaf, proofs[m], root)
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}
