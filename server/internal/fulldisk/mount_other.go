//go:build !linux

package fulldisk

import "testing"

// Mount skips the test: mounting a tmpfs needs Linux.
func Mount(t testing.TB, size int) string {
	t.Helper()
	t.Skip("fulldisk: mounting a tmpfs needs Linux")
	return ""
}
