package bolt

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strings"

	bbolt "go.etcd.io/bbolt"
	bbolterrors "go.etcd.io/bbolt/errors"
)

// ErrDamaged is wrapped by every error that says the store's file is
// damaged: cut short, overwritten, or not a bbolt file at all. Such a file
// is never served from; the fix is a restore from a backup.
var ErrDamaged = errors.New("the file is damaged")

// damaged is the error of a damaged file: it names the file, what is wrong
// and what to do.
func damaged(path string, detail any) error {
	return fmt.Errorf("bolt store %s: %w (%v): stop the server and restore the file from a backup, "+
		"or move it aside to start with an empty store", path, ErrDamaged, detail)
}

// checkFile looks at an existing file before bbolt opens it for writing,
// so that damage is an error rather than a panic (bbolt trusts its file:
// it panics on a freelist page it cannot read, and reading a page past
// the end of a cut file is a fault no recover sees). It opens the file
// read-only, which reads and validates the two meta pages only, and
// checks the file against the newer valid one: a whole number of pages,
// and every page the meta counts in use present. A file that does not
// exist is not checked: Open creates it. An empty file is damaged: bbolt
// writes its first pages in the same call that creates it, and starting
// a new store over an existing file would drop its state silently.
func checkFile(path string, opts Options) error {
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bolt store %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		return fmt.Errorf("bolt store %s: not a regular file", path)
	}
	if info.Size() == 0 {
		return damaged(path, "it is empty")
	}
	var db *bbolt.DB
	err = guard(path, func() error {
		var err error
		db, err = bbolt.Open(path, 0, &bbolt.Options{ReadOnly: true, Timeout: opts.LockTimeout})
		return err
	})
	var pathErr *os.PathError
	switch {
	case errors.Is(err, bbolterrors.ErrTimeout):
		return inUse(path, opts)
	case errors.Is(err, ErrDamaged):
		return err
	case errors.As(err, &pathErr):
		return fmt.Errorf("bolt store %s: %w", path, err) // not readable: no damage known
	case err != nil:
		// bbolt's own checks of the meta pages: bad magic, version or
		// checksum in both, or fewer bytes than two pages.
		return damaged(path, err)
	}
	defer db.Close()
	tx, err := db.Begin(false)
	if err != nil {
		return damaged(path, err)
	}
	defer tx.Rollback() //nolint:errcheck // read-only
	page, need := int64(db.Info().PageSize), tx.Size()
	switch {
	case info.Size()%page != 0:
		return damaged(path, fmt.Sprintf("%d bytes is not a whole number of %d-byte pages: the file was cut short", info.Size(), page))
	case info.Size() < need:
		return damaged(path, fmt.Sprintf("%d bytes, but its pages in use need %d: the file was cut short", info.Size(), need))
	}
	return nil
}

func inUse(path string, opts Options) error {
	return fmt.Errorf("bolt store %s: file is in use by another process (lock not acquired within %s)", path, opts.LockTimeout)
}

// guard runs fn, which reads the file through bbolt, turning a panic of
// bbolt's (a page that is not what its parent says) or a fault reading the
// mapped file into a damaged-file error. bbolt reads pages through
// unchecked pointers into the map, so a damaged page id can point past the
// file's end; SetPanicOnFault makes that read a panic of this goroutine,
// where fn runs, instead of a crash. bbolt rolls its transaction back
// before the panic reaches here. Any other panic (a bug in fn, not damage)
// goes on.
func guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if !fromDamage(r) {
				panic(r)
			}
			err = damaged(path, fmt.Sprintf("reading it failed: %v", r))
		}
	}()
	return fn()
}

// fromDamage reports whether the panic being recovered (r) is a fault
// reading memory, or was raised in bbolt's code: the first frame below the
// runtime's panic frames is bbolt's. It must be called by the deferred
// function that recovered.
func fromDamage(r any) bool {
	if _, fault := r.(interface{ Addr() uintptr }); fault {
		return true
	}
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(1, pcs)])
	panicking := false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			panicking = true
		case panicking && !strings.HasPrefix(f.Function, "runtime."):
			return strings.HasPrefix(f.Function, "go.etcd.io/bbolt")
		}
		if !more {
			return false
		}
	}
}

// view is db.View under guard: what reads the file outside Open's load
// (the audit log) gets a damaged-file error, not a crash.
func (s *Store) view(fn func(*bbolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.View(fn) })
}

// update is db.Update under guard.
func (s *Store) update(fn func(*bbolt.Tx) error) error {
	return guard(s.path, func() error { return s.db.Update(fn) })
}

// named prefixes err with the file's path, unless it is a damaged-file
// error, which names the file already.
func (s *Store) named(err error) error {
	if errors.Is(err, ErrDamaged) {
		return err
	}
	return fmt.Errorf("%s: %w", s.path, err)
}
