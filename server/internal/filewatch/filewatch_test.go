package filewatch_test

import (
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/filewatch"
)

func TestWatchSeesReplacementsButNotNeighbours(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(path, []byte("a"), 0o600); err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- filewatch.Watch(ctx, []string{path}, 20*time.Millisecond, nil, func() { calls.Add(1) })
	}()
	time.Sleep(100 * time.Millisecond) // let the watcher start

	// A neighbour's writes are not the file's.
	if err := os.WriteFile(filepath.Join(dir, "decisions.log"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if n := calls.Load(); n != 0 {
		t.Fatalf("%d calls after a neighbour changed", n)
	}

	// An atomic replacement is seen, once per burst.
	for i := 0; i < 3; i++ {
		tmp := filepath.Join(dir, ".keys.yaml.tmp")
		if err := os.WriteFile(tmp, []byte{byte('b' + i)}, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	if n := calls.Load(); n != 1 {
		t.Fatalf("%d calls after one burst, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestWatchMissingDirectory(t *testing.T) {
	t.Parallel()
	err := filewatch.Watch(context.Background(), []string{filepath.Join(t.TempDir(), "no", "such", "file")}, 0, nil, func() {})
	if err == nil {
		t.Fatal("Watch of a missing directory succeeded")
	}
}
