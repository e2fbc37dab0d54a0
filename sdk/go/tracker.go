package auditstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
)

// The checkpoint tracker (docs/SDK.md §7) keeps the last checkpoint it
// verified per ledger and proves every newer one consistent with it
// (RFC 9162 §2.1.4) before storing it, as Go's sumdb client keeps its tree
// head. Two trees of one size, or a newer tree that does not extend the
// stored one, are ErrFork; a smaller tree is ErrRollback. It never
// overwrites its stored checkpoint with one that did not verify.

// TrackedCheckpoint is what the tracker keeps of a ledger.
type TrackedCheckpoint struct {
	TreeSize uint64 `json:"tree_size"`
	// Root is lowercase hex.
	Root string `json:"root"`
	Note string `json:"note"`
}

// Store is where a tracker keeps its checkpoints. Load answers nil when the
// ledger has none. Save should refuse to replace a ledger's checkpoint with
// one of a smaller tree (ErrStore) or another root of the same size
// (ErrFork), as MemoryStore and FileStore do, so that a second tracker
// sharing the store cannot take it back to an older tree. A store is meant
// for one tracker: the tracker checks one checkpoint at a time only among
// its own calls.
type Store interface {
	Load(ctx context.Context, ledger string) (*TrackedCheckpoint, error)
	Save(ctx context.Context, ledger string, checkpoint TrackedCheckpoint) error
}

// MemoryStore keeps checkpoints in memory, for tests and short-lived
// processes.
type MemoryStore struct {
	mu          sync.Mutex
	checkpoints map[string]TrackedCheckpoint
}

// NewMemoryStore makes an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	return &MemoryStore{checkpoints: map[string]TrackedCheckpoint{}}
}

// Load answers the ledger's checkpoint, or nil.
func (m *MemoryStore) Load(_ context.Context, ledger string) (*TrackedCheckpoint, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cp, ok := m.checkpoints[ledger]; ok {
		return &cp, nil
	}
	return nil, nil
}

// Save keeps the ledger's checkpoint, unless the one kept is of a larger
// tree (ErrStore) or of the same size with another root (ErrFork).
func (m *MemoryStore) Save(_ context.Context, ledger string, checkpoint TrackedCheckpoint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.checkpoints == nil {
		m.checkpoints = map[string]TrackedCheckpoint{}
	}
	if stored, ok := m.checkpoints[ledger]; ok {
		if err := checkReplace(ledger, stored, checkpoint); err != nil {
			return err
		}
	}
	m.checkpoints[ledger] = checkpoint
	return nil
}

// checkReplace refuses to replace a stored checkpoint with one of a smaller
// tree, which only a second tracker sharing the store saves (a tracker
// itself refuses a smaller tree as ErrRollback before saving), or with
// another root of the same size: two signed trees of one size are a fork,
// whoever verified them.
func checkReplace(ledger string, stored, next TrackedCheckpoint) error {
	switch {
	case next.TreeSize < stored.TreeSize:
		return &Error{Kind: ErrStore, Ledger: ledger, StoredSize: stored.TreeSize, SeenSize: next.TreeSize,
			Message: fmt.Sprintf("ledger %s: the store holds a tree of size %d, larger than the %d to be saved "+
				"(is a second tracker using this store?)", ledger, stored.TreeSize, next.TreeSize)}
	case next.TreeSize == stored.TreeSize && next.Root != stored.Root:
		return &Error{Kind: ErrFork, Ledger: ledger, StoredSize: stored.TreeSize, SeenSize: next.TreeSize,
			StoredRoot: stored.Root, SeenRoot: next.Root, StoredNote: stored.Note, SeenNote: next.Note,
			Message: "the store holds another root of this size"}
	}
	return nil
}

// FileStore keeps checkpoints in one JSON file, an object of
// {ledger: {tree_size, root, note}}, replaced atomically: written to a
// temporary file beside it, synced and renamed, so a crash leaves the old
// file or the new one, never half of one.
//
// Saves take turns across the goroutines and (on Unix) the processes
// sharing the file, holding a lock of "<file>.lock" beside it, so none
// loses another's ledger.
type FileStore struct {
	path string
}

// NewFileStore keeps checkpoints in the file at path (made on first save).
func NewFileStore(path string) *FileStore {
	return &FileStore{path: path}
}

func (f *FileStore) read() (map[string]TrackedCheckpoint, error) {
	data, err := os.ReadFile(f.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]TrackedCheckpoint{}, nil
	}
	if err != nil {
		return nil, &Error{Kind: ErrStore, Message: f.path, Err: err}
	}
	all := map[string]TrackedCheckpoint{}
	if err := json.Unmarshal(data, &all); err != nil {
		return nil, &Error{Kind: ErrStore, Message: f.path + " is not a checkpoint file", Err: err}
	}
	return all, nil
}

// Load answers the ledger's checkpoint, or nil.
func (f *FileStore) Load(_ context.Context, ledger string) (*TrackedCheckpoint, error) {
	// No lock: the file is only ever replaced whole, by a rename.
	all, err := f.read()
	if err != nil {
		return nil, err
	}
	if cp, ok := all[ledger]; ok {
		return &cp, nil
	}
	return nil, nil
}

// Save replaces the ledger's checkpoint in the file, unless the one kept is
// of a larger tree (ErrStore) or of the same size with another root
// (ErrFork).
func (f *FileStore) Save(_ context.Context, ledger string, checkpoint TrackedCheckpoint) error {
	release, err := takeFileTurn(f.path)
	if err != nil {
		return &Error{Kind: ErrStore, Message: "locking " + f.path, Err: err}
	}
	defer release()
	all, err := f.read()
	if err != nil {
		return err
	}
	if stored, ok := all[ledger]; ok {
		if err := checkReplace(ledger, stored, checkpoint); err != nil {
			return err
		}
	}
	all[ledger] = checkpoint
	data, err := json.MarshalIndent(all, "", "  ")
	if err != nil {
		return &Error{Kind: ErrStore, Message: "encoding checkpoints", Err: err}
	}
	fail := func(err error) error { return &Error{Kind: ErrStore, Message: f.path, Err: err} }
	temporary, err := os.CreateTemp(filepath.Dir(f.path), "."+filepath.Base(f.path)+".tmp-*")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(temporary.Name())
	if _, err := temporary.Write(append(data, '\n')); err != nil {
		temporary.Close()
		return fail(err)
	}
	if err := temporary.Sync(); err != nil {
		temporary.Close()
		return fail(err)
	}
	if err := temporary.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(temporary.Name(), f.path); err != nil {
		return fail(err)
	}
	// The rename itself is durable once the directory is synced.
	if dir, err := os.Open(filepath.Dir(f.path)); err == nil {
		_ = dir.Sync()
		dir.Close()
	}
	return nil
}

// CheckpointTracker verifies every checkpoint it is shown against the last
// one it verified for that ledger. Give each tracker a store of its own:
// two trackers sharing one (or one file) do not check one checkpoint at a
// time between them, and a save that would take the store back to a
// smaller tree fails with ErrStore.
type CheckpointTracker struct {
	client *Client
	store  Store
	// mu serialises Track, so two updates cannot interleave their load and
	// save.
	mu sync.Mutex
}

// NewCheckpointTracker tracks through client, which must pin the verifier
// key, keeping checkpoints in store (NewFileStore(path) to survive
// restarts; nil is a MemoryStore).
func NewCheckpointTracker(client *Client, store Store) *CheckpointTracker {
	if store == nil {
		store = NewMemoryStore()
	}
	return &CheckpointTracker{client: client, store: store}
}

// Stored answers the checkpoint kept for the ledger, or nil.
func (t *CheckpointTracker) Stored(ctx context.Context, ledger string) (*TrackedCheckpoint, error) {
	return t.store.Load(ctx, ledger)
}

// Update fetches the ledger's current checkpoint and tracks it.
func (t *CheckpointTracker) Update(ctx context.Context, ledger string) (*Checkpoint, error) {
	note, err := t.client.CheckpointNote(ctx, ledger, 0)
	if err != nil {
		return nil, err
	}
	return t.Track(ctx, ledger, note)
}

// Track checks a signed checkpoint note: its signature against the pinned
// key and its origin first, then against the stored checkpoint, a larger
// tree by the consistency proof the server gives (which must verify, else
// ErrFork), the same size by its root (else ErrFork), a smaller one is
// ErrRollback. A newer checkpoint that verified is stored.
func (t *CheckpointTracker) Track(ctx context.Context, ledger, note string) (*Checkpoint, error) {
	key, err := t.client.pinned()
	if err != nil {
		return nil, err
	}
	seen, err := VerifyCheckpoint(note, key)
	if err != nil {
		return nil, err
	}
	if !OriginNamesLedger(seen.Origin, ledger) {
		return nil, verificationError("the checkpoint is of %s, not of ledger %s", seen.Origin, ledger)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	stored, err := t.store.Load(ctx, ledger)
	if err != nil {
		return nil, err
	}
	tracked := TrackedCheckpoint{TreeSize: seen.TreeSize, Root: seen.Root.String(), Note: note}
	// Every tree extends the empty one.
	if stored == nil || stored.TreeSize == 0 {
		return t.save(ctx, ledger, seen, tracked)
	}
	storedRoot, err := ParseHash(stored.Root)
	if err != nil {
		return nil, &Error{Kind: ErrStore, Message: "the stored root of ledger " + ledger + " is not a hash", Err: err}
	}
	conflict := func(kind Kind, message string) *Error {
		return &Error{Kind: kind, Ledger: ledger, StoredSize: stored.TreeSize, SeenSize: seen.TreeSize,
			StoredRoot: stored.Root, SeenRoot: seen.Root.String(), StoredNote: stored.Note, SeenNote: note, Message: message}
	}
	switch {
	case seen.TreeSize < stored.TreeSize:
		return nil, conflict(ErrRollback, "")
	case seen.TreeSize == stored.TreeSize:
		if seen.Root != storedRoot {
			return nil, conflict(ErrFork, "two different roots of one size")
		}
		return seen, nil
	}
	proof, err := t.client.ConsistencyProof(ctx, ledger, stored.TreeSize, seen.TreeSize)
	if err != nil {
		return nil, err
	}
	if err := VerifyConsistency(stored.TreeSize, seen.TreeSize, storedRoot, seen.Root, proof); err != nil {
		return nil, conflict(ErrFork, "the newer tree does not extend the stored one ("+err.Error()+")")
	}
	return t.save(ctx, ledger, seen, tracked)
}

func (t *CheckpointTracker) save(ctx context.Context, ledger string, seen *Checkpoint, tracked TrackedCheckpoint) (*Checkpoint, error) {
	if err := t.store.Save(ctx, ledger, tracked); err != nil {
		return nil, err
	}
	return seen, nil
}
