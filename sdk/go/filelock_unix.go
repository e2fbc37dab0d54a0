//go:build unix

package auditstore

import (
	"os"
	"syscall"
)

// lockAcrossProcesses takes an exclusive flock(2) of path, waiting for it.
// The file is made if need be and never replaced, unlike the store beside
// it.
func lockAcrossProcesses(path string) (unlock func(), err error) {
	file, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err = syscall.Flock(int(file.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			break
		}
	}
	if err != nil {
		file.Close()
		return nil, err
	}
	// Closing the file lets the lock go.
	return func() { file.Close() }, nil
}
