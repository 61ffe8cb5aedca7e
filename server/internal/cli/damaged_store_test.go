package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/store/bolt/bolttest"
)

// expectDamagedStore checks a run refused the damaged file at path: it
// failed, named the file, said it is damaged and what to do.
func expectDamagedStore(t *testing.T, r result, path string) {
	t.Helper()
	if r.code != ExitError {
		t.Fatalf("exit code %d, want %d; stdout %q, stderr %q", r.code, ExitError, r.stdout, r.stderr)
	}
	for _, want := range []string{path, "the file is damaged", "restore the file from a backup"} {
		if !strings.Contains(r.stderr, want) {
			t.Fatalf("stderr %q does not say %q", r.stderr, want)
		}
	}
}

func TestAuditVerifyRefusesADamagedStoreFile(t *testing.T) {
	sound := bolttest.Fill(t, t.TempDir())
	bolttest.EachDamage(t, sound, func(t *testing.T, path string) {
		expectDamagedStore(t, runPDP(t, nil, "audit", "verify", "--store", "bolt:"+path), path)
	})
	t.Run("a page of the audit log overwritten", func(t *testing.T) {
		path := bolttest.Copy(t, sound)
		bolttest.DamageAudit(t, path)
		expectDamagedStore(t, runPDP(t, nil, "audit", "verify", "--store", "bolt:"+path), path)
	})
}

func TestServeRefusesADamagedStoreFile(t *testing.T) {
	sound := bolttest.Fill(t, t.TempDir())
	bolttest.EachDamage(t, sound, func(t *testing.T, path string) {
		// A server that started would serve until the deadline.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var stdout, stderr bytes.Buffer
		code := Main(ctx, []string{"serve", "--store", "bolt:" + path,
			"--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"},
			Env{Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }})
		expectDamagedStore(t, result{code, stdout.String(), stderr.String()}, path)
	})
}
