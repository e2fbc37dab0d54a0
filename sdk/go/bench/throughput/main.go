// Command throughput measures the client's sustained throughput
// (scripts/bench-sdk.sh): one client records events as fast as its queue
// takes them, for BENCH_SECS seconds (20), with background batching, then
// closes; it prints the delivered rate as one JSON line. The events have
// the shape of the TypeScript and Rust benchmarks' (about 330 bytes, 1,000
// actors, a client id each). Environment: AUDITSTORE_URL, AUDITSTORE_CA
// (the server's PEM certificate), AUDITSTORE_LEDGER, AUDITSTORE_KEY,
// BENCH_SECS.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"

	auditstore "github.com/auditstore/auditstore/sdk/go"
)

func main() {
	secs := 20.0
	if text := os.Getenv("BENCH_SECS"); text != "" {
		parsed, err := strconv.ParseFloat(text, 64)
		if err != nil || parsed <= 0 {
			fail(fmt.Errorf("BENCH_SECS %q is not a positive number", text))
		}
		secs = parsed
	}
	client, err := auditstore.New(auditstore.Config{
		BaseURL:           os.Getenv("AUDITSTORE_URL"),
		APIKey:            os.Getenv("AUDITSTORE_KEY"),
		Ledger:            os.Getenv("AUDITSTORE_LEDGER"),
		CACertificateFile: os.Getenv("AUDITSTORE_CA"),
		QueueSize:         20000,
		WhenFull:          auditstore.Block(60 * time.Second),
	})
	if err != nil {
		fail(err)
	}
	started := time.Now()
	duration := time.Duration(secs * float64(time.Second))
	recorded := 0
	for time.Since(started) < duration {
		n := recorded
		err := client.Record(auditstore.Event{
			Actor:      auditstore.Party{Type: "user", ID: fmt.Sprintf("user_%d", n%1000), Name: "Benchmark User"},
			Action:     fmt.Sprintf("invoice.action_%d", n%50),
			Resource:   auditstore.Party{Type: "invoice", ID: fmt.Sprintf("inv_%d", (n*31)%100000)},
			OccurredAt: "2026-12-01T10:00:00.123Z",
			Metadata: map[string]interface{}{
				"amount": n, "currency": "EUR", "note": "a typical audit event with a little metadata", "ip": "192.0.2.1",
			},
		})
		if err != nil {
			fail(err)
		}
		recorded++
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	report, err := client.Close(ctx)
	if err != nil {
		fail(err)
	}
	seconds := time.Since(started).Seconds()
	line, _ := json.Marshal(map[string]interface{}{
		"client": "go", "recorded": recorded, "delivered": report.Delivered, "failed": report.Failed,
		"seconds": math.Round(seconds*1000) / 1000, "events_per_second": math.Round(float64(report.Delivered) / seconds),
	})
	fmt.Println(string(line))
	if report.Failed > 0 || report.Delivered != uint64(recorded) {
		os.Exit(1)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "throughput:", err)
	os.Exit(1)
}
