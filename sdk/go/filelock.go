package auditstore

import (
	"path/filepath"
	"sync"
)

// fileTurns holds one mutex per file for every FileStore of this process,
// whichever spelling of the path it was made with.
var fileTurns sync.Map // absolute path -> *sync.Mutex

// takeFileTurn holds the file's turn to save: this process's mutex of the
// path, then (where the platform has one) an exclusive lock of
// "<file>.lock" beside it, so processes sharing the file take turns too.
// The operating system lets that lock go when the process ends, a crash
// included. Each save rewrites the whole file from what it read, so two at
// once would lose one ledger.
func takeFileTurn(path string) (release func(), err error) {
	key, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if resolved, err := filepath.EvalSymlinks(filepath.Dir(key)); err == nil {
		key = filepath.Join(resolved, filepath.Base(key))
	}
	held, _ := fileTurns.LoadOrStore(key, &sync.Mutex{})
	mu := held.(*sync.Mutex)
	mu.Lock()
	unlock, err := lockAcrossProcesses(key + ".lock")
	if err != nil {
		mu.Unlock()
		return nil, err
	}
	return func() {
		unlock()
		mu.Unlock()
	}, nil
}
