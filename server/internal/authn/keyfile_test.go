package authn_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/authn"
)

// writeAtomic replaces path as editors and config management do.
func writeAtomic(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestKeysReloadOnChange(t *testing.T) {
	t.Parallel()
	logger, logs := debugLogger()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	writeAtomic(t, path, "- name: root\n  key_sha256: "+authn.HashKey(adminKey)+"\n  role: admin\n")
	keys, err := authn.OpenKeys(path, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- keys.Watch(ctx, 20*time.Millisecond) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	time.Sleep(100 * time.Millisecond) // let the watcher start

	// A new file takes effect: the pep key works, the admin key is gone.
	writeAtomic(t, path, "- name: gw\n  key_sha256: "+authn.HashKey(pepKey)+"\n  role: pep\n")
	waitFor(t, "the new key", func() bool { _, ok := keys.Lookup(pepKey); return ok })
	if _, ok := keys.Lookup(adminKey); ok {
		t.Fatal("a removed key still works")
	}

	// A broken file keeps the previous keys, and the log says so without
	// quoting the file.
	writeAtomic(t, path, "- name: gw\n  key_sha256: "+authn.HashKey(pepKey)+"\n  role: superuser\n")
	waitFor(t, "the rejection to be logged", func() bool { return strings.Contains(logs.String(), "API key file rejected") })
	if _, ok := keys.Lookup(pepKey); !ok {
		t.Fatal("a broken file removed the keys in force")
	}
	assertNoSecrets(t, logs.String())
}

func TestOpenKeysErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := authn.OpenKeys(filepath.Join(dir, "missing.yaml"), nil); err == nil {
		t.Error("OpenKeys opened a missing file")
	}
	bad := filepath.Join(dir, "bad.yaml")
	writeAtomic(t, bad, "- name: x\n  key_sha256: "+authn.HashKey(pepKey)+"\n  role: nobody\n")
	_, err := authn.OpenKeys(bad, nil)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") || strings.Contains(err.Error(), authn.HashKey(pepKey)) {
		t.Errorf("OpenKeys(bad) = %v; want an error naming the file, not the hash", err)
	}
}
