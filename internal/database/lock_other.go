//go:build !unix

package database

import "os"

// lockFile does nothing where flock(2) does not exist; one process per file
// is then the operator's to keep.
func lockFile(*os.File) error { return nil }
