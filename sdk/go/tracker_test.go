package auditstore

// The tracker's stores never go back: a smaller tree than the one kept is
// refused (ErrStore: only a second tracker sharing the store saves one),
// another root of the same size is a fork, so two trackers on one store
// cannot take it back to an older tree.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

func TestStoresRefuseToReplaceACheckpointWithASmallerTreeOrAnotherRoot(t *testing.T) {
	ctx := context.Background()
	stores := map[string]Store{"memory": NewMemoryStore(), "file": NewFileStore(filepath.Join(t.TempDir(), "checkpoints.json"))}
	for name, store := range stores {
		ten := TrackedCheckpoint{TreeSize: 10, Root: strings.Repeat("ab", 32), Note: "ten"}
		for _, cp := range []TrackedCheckpoint{ten, ten} {
			if err := store.Save(ctx, "acme-prod", cp); err != nil {
				t.Fatalf("%s: saving %+v: %v", name, cp, err)
			}
		}
		err := store.Save(ctx, "acme-prod", TrackedCheckpoint{TreeSize: 5, Root: strings.Repeat("cd", 32)})
		var refused *Error
		if !errors.As(err, &refused) || !errors.Is(err, ErrStore) || refused.StoredSize != 10 || refused.SeenSize != 5 ||
			!strings.Contains(err.Error(), "second tracker") {
			t.Errorf("%s: a smaller tree: %v", name, err)
		}
		err = store.Save(ctx, "acme-prod", TrackedCheckpoint{TreeSize: 10, Root: strings.Repeat("cd", 32), Note: "other"})
		var fork *Error
		if !errors.As(err, &fork) || !errors.Is(err, ErrFork) || fork.StoredNote != "ten" || fork.SeenNote != "other" {
			t.Errorf("%s: another root of one size: %v", name, err)
		}
		if kept, err := store.Load(ctx, "acme-prod"); err != nil || kept == nil || *kept != ten {
			t.Errorf("%s: kept %+v (%v)", name, kept, err)
		}
		for _, cp := range []struct {
			ledger  string
			tracked TrackedCheckpoint
		}{{"acme-prod", TrackedCheckpoint{TreeSize: 12, Root: strings.Repeat("ef", 32)}}, {"other", TrackedCheckpoint{TreeSize: 1, Root: ten.Root}}} {
			if err := store.Save(ctx, cp.ledger, cp.tracked); err != nil {
				t.Errorf("%s: a larger tree or another ledger: %v", name, err)
			}
		}
	}
}

// racingStore lets another tracker save between a tracker's load and its
// save.
type racingStore struct {
	*MemoryStore
	between func()
}

func (s *racingStore) Save(ctx context.Context, ledger string, checkpoint TrackedCheckpoint) error {
	// Once only: the other tracker's own save comes back here.
	if between := s.between; between != nil {
		s.between = nil
		between()
	}
	return s.MemoryStore.Save(ctx, ledger, checkpoint)
}

func TestTwoTrackersSharingAStoreCannotTakeItBackToASmallerTree(t *testing.T) {
	ctx := context.Background()
	key, private := testKey(t, "audit.example.com", 7)
	_, leaves := vectorLeaves(t)
	const origin = "audit.example.com/ledgers/acme-prod"
	small := signedCheckpoint(key, private, origin, 6, treeHash(leaves[:6]))
	large := signedCheckpoint(key, private, origin, 12, treeHash(leaves[:12]))
	// Offline: with nothing stored yet, a tracker needs no consistency proof.
	client := testClient(t, Config{BaseURL: "https://audit.example.com", Ledger: "acme-prod", VerifierKey: key.String()})
	store := &racingStore{MemoryStore: NewMemoryStore()}
	first, second := NewCheckpointTracker(client, store), NewCheckpointTracker(client, store)
	store.between = func() {
		if _, err := second.Track(ctx, "acme-prod", large); err != nil {
			t.Errorf("the second tracker: %v", err)
		}
	}
	// The first tracker loaded an empty store, verified size 6, and finds
	// size 12 saved when it saves.
	if _, err := first.Track(ctx, "acme-prod", small); !errors.Is(err, ErrStore) {
		t.Fatalf("the first tracker saved over a larger tree: %v", err)
	}
	if kept, _ := store.Load(ctx, "acme-prod"); kept == nil || kept.TreeSize != 12 || kept.Note != large {
		t.Fatalf("kept %+v", kept)
	}
}

// Saves for many ledgers made at once, each goroutine through a store of
// its own and some through another spelling of the path, all land: each
// save rewrites the whole file, so only the file's turn keeps them apart.
func TestSavesThroughManyStoresOfOneFileAllLand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	spellings := []string{filepath.Join(dir, "checkpoints.json"), dir + "/./checkpoints.json"}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			store := NewFileStore(spellings[g%2])
			for i := 0; i < 10; i++ {
				if err := store.Save(ctx, fmt.Sprintf("ledger-%d-%d", g, i), TrackedCheckpoint{TreeSize: uint64(i + 1)}); err != nil {
					t.Errorf("saving: %v", err)
				}
			}
		}(g)
	}
	wg.Wait()
	assertAllSaved(t, spellings[0], "ledger", 8, 10)
}

// The child processes of the test below: each saves its own ledgers.
func TestFileStoreChildProcess(t *testing.T) {
	file, child := os.Getenv("AUDITSTORE_FILESTORE_FILE"), os.Getenv("AUDITSTORE_FILESTORE_CHILD")
	if file == "" {
		t.Skip("run by TestSavesFromManyProcessesSharingOneFileAllLand")
	}
	store := NewFileStore(file)
	for i := 0; i < 15; i++ {
		if err := store.Save(context.Background(), fmt.Sprintf("process-%s-%d", child, i), TrackedCheckpoint{TreeSize: uint64(i + 1)}); err != nil {
			t.Fatal(err)
		}
	}
}

func TestSavesFromManyProcessesSharingOneFileAllLand(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("processes do not take turns on Windows (filelock_other.go)")
	}
	file := filepath.Join(t.TempDir(), "checkpoints.json")
	var children []*exec.Cmd
	for p := 0; p < 6; p++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFileStoreChildProcess$")
		cmd.Env = append(os.Environ(), "AUDITSTORE_FILESTORE_FILE="+file, fmt.Sprintf("AUDITSTORE_FILESTORE_CHILD=%d", p))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		children = append(children, cmd)
	}
	for _, cmd := range children {
		if err := cmd.Wait(); err != nil {
			t.Errorf("a child process: %v", err)
		}
	}
	assertAllSaved(t, file, "process", 6, 15)
}

func assertAllSaved(t *testing.T, file, prefix string, writers, each int) {
	t.Helper()
	every := NewFileStore(file)
	for w := 0; w < writers; w++ {
		for i := 0; i < each; i++ {
			ledger := fmt.Sprintf("%s-%d-%d", prefix, w, i)
			if kept, err := every.Load(context.Background(), ledger); err != nil || kept == nil || kept.TreeSize != uint64(i+1) {
				t.Errorf("%s: kept %+v (%v)", ledger, kept, err)
			}
		}
	}
}
