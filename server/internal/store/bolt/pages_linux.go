package bolt

import (
	"syscall"

	bbolt "go.etcd.io/bbolt"
)

// releasePages tells the kernel that the process no longer needs the
// pages of the file it has mapped, as far as tx sees the file. bbolt maps
// the file read-only and shared and writes through the file, so the pages
// stay in the page cache and a later read maps them again; only the
// process's resident memory shrinks. Reads of a whole bucket call it (the
// IP rules' scans, Open's load of the profiles), or a start-up load of a
// large deny list would keep every file page it read resident
// (bench/README.md, "Memory per CIDR"). tx must be open: it keeps bbolt
// from remapping the file.
func (s *Store) releasePages(tx *bbolt.Tx) {
	data, size := s.db.Info().Data, uintptr(tx.Size())
	if data == 0 || size == 0 {
		return
	}
	// Advice only: a failure leaves the pages where they are.
	_, _, _ = syscall.Syscall(syscall.SYS_MADVISE, data, size, syscall.MADV_DONTNEED)
}
