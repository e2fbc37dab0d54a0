// Command verify measures verification throughput: inclusion proofs
// verified per second, each with the event's leaf hash computed here from
// its content (docs/FORMAT.md §2–4) and the RFC 9162 proof checked against
// a checkpoint verified once against the pinned key. It fails loudly (exit
// 1) if any proof does not verify. Environment: AUDITSTORE_VERIFY_FIXTURE,
// a JSON file {"verifier_key", "checkpoint" (the signed note), "items":
// [{"event" (as GET answers it), "seq", "proof" (hex)}]}, and BENCH_SECS (5).
package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	auditstore "github.com/auditstore/auditstore/sdk/go"
)

type fixture struct {
	VerifierKey string `json:"verifier_key"`
	Checkpoint  string `json:"checkpoint"`
	Items       []struct {
		Event auditstore.Event `json:"event"`
		Seq   uint64           `json:"seq"`
		Proof []string         `json:"proof"`
	} `json:"items"`
}

type item struct {
	event auditstore.Event
	seq   uint64
	proof []auditstore.Hash
}

func main() {
	secs := 5.0
	if text := os.Getenv("BENCH_SECS"); text != "" {
		parsed, err := strconv.ParseFloat(text, 64)
		if err != nil || parsed <= 0 {
			fail(fmt.Errorf("BENCH_SECS %q is not a positive number", text))
		}
		secs = parsed
	}
	data, err := os.ReadFile(os.Getenv("AUDITSTORE_VERIFY_FIXTURE"))
	if err != nil {
		fail(fmt.Errorf("AUDITSTORE_VERIFY_FIXTURE: %w", err))
	}
	var f fixture
	if err := json.Unmarshal(data, &f); err != nil {
		fail(fmt.Errorf("the fixture: %w", err))
	}
	if len(f.Items) == 0 {
		fail(fmt.Errorf("the fixture has no items"))
	}
	key, err := auditstore.ParseVerifierKey(f.VerifierKey)
	if err != nil {
		fail(err)
	}
	checkpoint, err := auditstore.VerifyCheckpoint(f.Checkpoint, key)
	if err != nil {
		fail(err)
	}
	items := make([]item, len(f.Items))
	for i, it := range f.Items {
		items[i] = item{event: it.Event, seq: it.Seq}
		for _, text := range it.Proof {
			h, err := auditstore.ParseHash(text)
			if err != nil {
				fail(fmt.Errorf("item %d: %w", i, err))
			}
			items[i].proof = append(items[i].proof, h)
		}
	}
	started := time.Now()
	duration := time.Duration(secs * float64(time.Second))
	proofs := 0
	for time.Since(started) < duration {
		for i := range items {
			it := &items[i]
			leaf, err := auditstore.LeafHash(it.event)
			if err != nil {
				fail(fmt.Errorf("event %s (seq %d): %w", it.event.ID, it.seq, err))
			}
			if err := auditstore.VerifyInclusion(it.seq, checkpoint.TreeSize, leaf, it.proof, checkpoint.Root); err != nil {
				fail(fmt.Errorf("event %s (seq %d) does not verify: %w", it.event.ID, it.seq, err))
			}
			proofs++
		}
	}
	seconds := time.Since(started).Seconds()
	line, _ := json.Marshal(map[string]interface{}{
		"client": "go", "proofs": proofs, "seconds": math.Round(seconds*1000) / 1000,
		"proofs_per_second": math.Round(float64(proofs) / seconds),
	})
	fmt.Println(string(line))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "verify: FAILED:", err)
	os.Exit(1)
}
