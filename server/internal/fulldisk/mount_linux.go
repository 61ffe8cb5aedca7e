package fulldisk

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// Mount mounts a tmpfs of size bytes on a new directory and returns it;
// the mount is detached when the test ends. The test is skipped, saying
// why, only when mounting is not permitted (not root, no CAP_SYS_ADMIN);
// any other failure fails it.
func Mount(t testing.TB, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tmpfs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatalf("fulldisk: %v", err)
	}
	err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, fmt.Sprintf("size=%d,mode=0700", size))
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		t.Skipf("fulldisk: mounting a tmpfs is not permitted here (%v); run as root to test a full disk", err)
	}
	if err != nil {
		t.Fatalf("fulldisk: mounting a tmpfs on %s: %v", dir, err)
	}
	// Detach rather than unmount: files the test left open do not keep
	// the mount, and the temporary directory can then be removed.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("fulldisk: unmounting %s: %v", dir, err)
		}
	})
	return dir
}
