package auditstore

// The client against a live AuditStore (see support_test.go), as the
// TypeScript SDK's live tests: delivery, listing, verified reads with their
// tampered twins, the checkpoint tracker, exports and typed errors.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestLiveRecordedEventsAreDeliveredInBatchesAndFlushedOnClose(t *testing.T) {
	env := live(t)
	ctx := context.Background()
	writer := env.client(t, env.writer, Config{BatchSize: 400})
	for n := 0; n < 2500; n++ {
		if err := writer.Record(invoice(n)); err != nil {
			t.Fatal(err)
		}
	}
	closing, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	report, err := writer.Close(closing)
	if err != nil || report.Delivered != 2500 || report.Failed != 0 || report.Pending != 0 {
		t.Fatalf("%v %v", report, err)
	}
	if err := writer.Record(invoice(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("a record after close: %v", err)
	}
	reader := env.client(t, env.reader, Config{})
	ids := map[string]bool{}
	events := reader.Events(env.ledger, Filter{Limit: 500})
	count := 0
	for events.Next(ctx) {
		e := events.Event()
		if !uuidV7.MatchString(e.ID) {
			t.Fatalf("id %s is no UUIDv7", e.ID)
		}
		ids[e.ID] = true
		count++
	}
	if events.Err() != nil || count != 2500 || len(ids) != 2500 {
		t.Fatalf("%d events, %d ids: %v", count, len(ids), events.Err())
	}
	pages := reader.Pages(env.ledger, Filter{Limit: 500})
	sizes, total := []int{}, 0
	for pages.Next(ctx) {
		sizes = append(sizes, len(pages.Page().Events))
		total += len(pages.Page().Events)
		if len(pages.Page().Events) > 500 {
			t.Errorf("a page of %d", len(pages.Page().Events))
		}
	}
	if pages.Err() != nil || total != 2500 || len(sizes) < 5 {
		t.Fatalf("pages of %v: %v", sizes, pages.Err())
	}
	filtered, err := reader.ListEvents(ctx, env.ledger, Filter{ResourceID: "inv_7"})
	if err != nil || len(filtered.Events) != 1 || filtered.Events[0].Resource.ID != "inv_7" {
		t.Fatalf("%+v %v", filtered, err)
	}
}

func TestLiveAppendsAnswerTheirHashesAndReadsVerifyWithTamperedTwins(t *testing.T) {
	env := live(t)
	ctx := context.Background()
	writer := env.client(t, env.writer, Config{})
	appended, err := writer.Append(ctx, invoices(0, 5))
	if err != nil || len(appended.Events) != 5 || appended.TreeSize < 5 {
		t.Fatalf("%+v %v", appended, err)
	}
	reader := env.client(t, env.reader, Config{})
	first := appended.Events[0]
	event, checkpoint, err := reader.GetVerifiedEvent(ctx, env.ledger, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := LeafHash(event.Event)
	if err != nil || leaf != first.LeafHash || event.Seq != first.Seq || checkpoint.TreeSize < 5 {
		t.Fatalf("leaf %s (%v), seq %d, tree %d", leaf, err, event.Seq, checkpoint.TreeSize)
	}
	if !OriginNamesLedger(checkpoint.Origin, env.ledger) {
		t.Fatalf("origin %s", checkpoint.Origin)
	}
	proof, err := reader.InclusionProof(ctx, env.ledger, event.Seq, checkpoint.TreeSize)
	if err != nil {
		t.Fatal(err)
	}
	if err := VerifyInclusion(event.Seq, checkpoint.TreeSize, leaf, proof, checkpoint.Root); err != nil {
		t.Fatal(err)
	}
	if err := VerifyEventInclusion(event.Event, event.Seq, proof, checkpoint); err != nil {
		t.Fatal(err)
	}
	altered := event.Event
	altered.Metadata = map[string]interface{}{"n": 99}
	alteredLeaf, err := LeafHash(altered)
	if err != nil {
		t.Fatal(err)
	}
	badProof := append([]Hash{alteredLeaf}, proof[1:]...)
	// (Another tree size is no twin here: an RFC 9162 proof does not bind
	// the size, which is why it comes signed with the root, below.)
	for what, err := range map[string]error{
		"an altered event, by the event": VerifyEventInclusion(altered, event.Seq, proof, checkpoint),
		"an altered event":               VerifyInclusion(event.Seq, checkpoint.TreeSize, alteredLeaf, proof, checkpoint.Root),
		"an altered proof":               VerifyInclusion(event.Seq, checkpoint.TreeSize, leaf, badProof, checkpoint.Root),
		"another root":                   VerifyInclusion(event.Seq, checkpoint.TreeSize, leaf, proof, alteredLeaf),
		"another leaf's place":           VerifyInclusion(event.Seq+1, checkpoint.TreeSize, leaf, proof, checkpoint.Root),
	} {
		if !errors.Is(err, ErrVerification) {
			t.Errorf("%s: %v", what, err)
		}
	}
	key, _ := ParseVerifierKey(env.verifierKey)
	size := fmt.Sprintf("\n%d\n", checkpoint.TreeSize)
	forged := strings.Replace(checkpoint.Note, size, fmt.Sprintf("\n%d\n", checkpoint.TreeSize+1), 1)
	if _, err := VerifyCheckpoint(forged, key); err == nil || !strings.Contains(err.Error(), "does not verify") {
		t.Errorf("a forged checkpoint size: %v", err)
	}
	other, _ := testKey(t, key.Name, 3)
	if _, err := VerifyCheckpoint(checkpoint.Note, other); !errors.Is(err, ErrVerification) {
		t.Errorf("another key: %v", err)
	}

	// Evidence, offline, and its twins.
	evidence, err := reader.Evidence(ctx, env.ledger, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	verified, err := VerifyEvidence(evidence, key)
	if err != nil || verified.Ledger != env.ledger || verified.Seq != first.Seq || verified.LeafHash != first.LeafHash {
		t.Fatalf("%+v %v", verified, err)
	}
	moved := strings.Replace(evidence, fmt.Sprintf("\nindex %d\n", first.Seq), fmt.Sprintf("\nindex %d\n", first.Seq+1), 1)
	otherEvidence, err := reader.Evidence(ctx, env.ledger, appended.Events[1].ID)
	if err != nil {
		t.Fatal(err)
	}
	extra := func(text string) string { return strings.Split(text, "\n")[1] }
	swapped := strings.Replace(evidence, extra(evidence), extra(otherEvidence), 1)
	for what, text := range map[string]string{"another index": moved, "another event's extra": swapped} {
		if _, err := VerifyEvidence(text, key); !errors.Is(err, ErrVerification) {
			t.Errorf("evidence with %s: %v", what, err)
		}
	}

	integrity, err := reader.Integrity(ctx, env.ledger)
	if err != nil || integrity.Ledger != env.ledger || integrity.TreeSize < 5 {
		t.Fatalf("%+v %v", integrity, err)
	}
	if _, err := reader.Checkpoint(ctx, "ldg_other", 0); err == nil {
		t.Error("another ledger's checkpoint was read as this one's")
	}
}

func TestLiveTheTrackerProvesEveryNewerCheckpointAndRefusesForksAndRollbacks(t *testing.T) {
	env := live(t)
	ctx := context.Background()
	writer := env.client(t, env.writer, Config{})
	reader := env.client(t, env.reader, Config{})
	if _, err := writer.Append(ctx, invoices(0, 3)); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "checkpoints.json")
	tracker := NewCheckpointTracker(reader, NewFileStore(file))
	first, err := tracker.Update(ctx, env.ledger)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := writer.Append(ctx, invoices(3, 10)); err != nil {
		t.Fatal(err)
	}
	second, err := tracker.Update(ctx, env.ledger)
	if err != nil || second.TreeSize <= first.TreeSize {
		t.Fatalf("%+v after %+v: %v", second, first, err)
	}
	if _, err := tracker.Track(ctx, env.ledger, second.Note); err != nil {
		t.Fatalf("the same checkpoint again: %v", err)
	}
	again := NewCheckpointTracker(reader, NewFileStore(file))
	stored, err := again.Stored(ctx, env.ledger)
	if err != nil || stored == nil || stored.TreeSize != second.TreeSize || stored.Root != second.Root.String() || stored.Note != second.Note {
		t.Fatalf("reloaded %+v: %v", stored, err)
	}
	_, err = again.Track(ctx, env.ledger, first.Note)
	var rollback *Error
	if !errors.As(err, &rollback) || rollback.Kind != ErrRollback || rollback.StoredSize != second.TreeSize || rollback.SeenSize != first.TreeSize {
		t.Fatalf("a rollback: %v", err)
	}
	if !strings.HasPrefix(err.Error(), "auditstore: ROLLBACK") {
		t.Errorf("a rollback says so: %v", err)
	}
	fake := strings.Repeat("ab", 32)
	sameSize := NewMemoryStore()
	_ = sameSize.Save(ctx, env.ledger, TrackedCheckpoint{TreeSize: second.TreeSize, Root: fake, Note: "stored"})
	_, err = NewCheckpointTracker(reader, sameSize).Track(ctx, env.ledger, second.Note)
	var fork *Error
	if !errors.As(err, &fork) || !errors.Is(err, ErrFork) || fork.StoredNote != "stored" || fork.SeenNote != second.Note {
		t.Fatalf("a fork of one size: %v", err)
	}
	smaller := NewMemoryStore()
	_ = smaller.Save(ctx, env.ledger, TrackedCheckpoint{TreeSize: 3, Root: fake})
	_, err = NewCheckpointTracker(reader, smaller).Track(ctx, env.ledger, second.Note)
	if !errors.Is(err, ErrFork) || !strings.HasPrefix(err.Error(), "auditstore: FORK") {
		t.Fatalf("a fork from a smaller tree: %v", err)
	}
	if kept, _ := smaller.Load(ctx, env.ledger); kept.Root != fake {
		t.Fatal("the tracker overwrote its checkpoint with one that did not verify")
	}
	if _, err := NewCheckpointTracker(reader, nil).Track(ctx, env.ledger, strings.Replace(second.Note, "\n", "\n\n", 1)); !errors.Is(err, ErrVerification) {
		t.Fatalf("a malformed note: %v", err)
	}
}

func TestLiveAnExportIsStartedWaitedForWithProgressAndDownloadedChecked(t *testing.T) {
	env := live(t)
	ctx := context.Background()
	writer := env.client(t, env.writer, Config{})
	if _, err := writer.Append(ctx, invoices(0, 50)); err != nil {
		t.Fatal(err)
	}
	reader := env.client(t, env.reader, Config{RetryBase: 100 * time.Millisecond})
	started, err := reader.StartExport(ctx, env.ledger, ExportRequest{Format: "jsonl"})
	if err != nil || started.ID == "" {
		t.Fatalf("%+v %v", started, err)
	}
	var progress [][2]uint64
	waiting, cancel := context.WithTimeout(ctx, 120*time.Second)
	defer cancel()
	done, err := reader.WaitExport(waiting, env.ledger, started.ID, func(written, total uint64) {
		progress = append(progress, [2]uint64{written, total})
	})
	if err != nil || done.EventsWritten != 50 || len(progress) == 0 || progress[len(progress)-1] != [2]uint64{50, 50} {
		t.Fatalf("%+v %v %v", done, progress, err)
	}
	path := filepath.Join(t.TempDir(), "export.zip")
	sum, err := reader.DownloadExport(ctx, env.ledger, started.ID, path)
	if err != nil || sum != done.SHA256 {
		t.Fatalf("%s %v", sum, err)
	}
	data, err := os.ReadFile(path)
	if err != nil || len(data) < 4 || data[0] != 'P' || data[1] != 'K' {
		t.Fatalf("not a ZIP file: %v", err)
	}
}

func TestLiveErrorsAreTypedProblemsAndNeverShowTheKey(t *testing.T) {
	env := live(t)
	ctx := context.Background()
	wrong := env.writer + "x"
	client := env.client(t, wrong, Config{MaxRetries: NoRetries})
	_, err := client.Append(ctx, []Event{invoice(1)})
	var problem *Error
	if !errors.As(err, &problem) || problem.Kind != ErrProblem || problem.Status != 401 {
		t.Fatalf("%v", err)
	}
	secret := env.writer[strings.LastIndex(env.writer, "_")+1:]
	shown := fmt.Sprintf("%v %+v %#v %s %v %+v %#v", err, err, err, err, client, client, *client)
	if strings.Contains(shown, secret[:16]) {
		t.Fatalf("the key shows: %s", shown)
	}
	writer := env.client(t, env.writer, Config{})
	_, err = writer.Append(ctx, []Event{{Actor: Party{Type: "user"}, Action: "x.y"}})
	if !errors.As(err, &problem) || problem.Status != 400 || problem.Field == "" {
		t.Fatalf("%v", err)
	}
	t.Logf("a bad event: %v", err)
}
