// Package fulldisk gives tests a real file system that runs out of space: a
// small tmpfs mounted for the test, and a filler file that takes what is
// left and gives it back.
package fulldisk

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Fill writes a filler file in dir until the file system is full, and
// returns a function that removes it, giving the space back.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatalf("fulldisk: %v", err)
	}
	chunk := make([]byte, 4096)
	for {
		if _, err = f.Write(chunk); err != nil {
			break
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		_ = f.Close()
		t.Fatalf("fulldisk: filling %s ended with %v, want ENOSPC", dir, err)
	}
	// Take the last partial page too, byte by byte.
	for one := chunk[:1]; err == nil; {
		_, err = f.Write(one)
	}
	if err := f.Close(); err != nil && !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("fulldisk: %v", err)
	}
	return func() {
		t.Helper()
		if err := os.Remove(path); err != nil {
			t.Fatalf("fulldisk: freeing space: %v", err)
		}
	}
}
