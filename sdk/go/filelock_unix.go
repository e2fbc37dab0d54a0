//go:build unix

package auditstore

import "syscall"

// lockAcrossProcesses takes an exclusive flock(2) of path, waiting for it.
func lockAcrossProcesses(path string) (unlock func(), err error) {
	file, err := openLockFile(path)
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
