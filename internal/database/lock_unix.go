//go:build unix

package database

import (
	"errors"
	"os"
	"syscall"
)

// lockFile takes an exclusive lock on f, or fails at once if another
// process (or another open of the file here) holds it. The lock ends when
// f is closed, or the process dies: kill -9 leaves nothing to clean up.
func lockFile(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return errors.New("in use by another process: a SQLite file serves one process (share PostgreSQL between replicas)")
	}
	return err
}
