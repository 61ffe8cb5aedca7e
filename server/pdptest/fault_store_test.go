package pdptest_test

import (
	"bytes"
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/store/bolt/bolttest"
)

// runChild runs the pdp command line args in a child process (through
// TestServeChild) and returns its exit code and output. A child, not an
// in-process run: a fault reading a mapped file kills the process, and
// only a child shows it.
func runChild(t *testing.T, args ...string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := serveChild(ctx, args)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), out.String()
	}
	t.Fatalf("pdp %s: %v\n%s", strings.Join(args, " "), err, out.String())
	return 0, ""
}

// TestDamagedStoreFilesAreRefusedNeverCrash: pdp serve and pdp audit
// verify, each a process of its own, on a bolt file damaged every way
// bolttest knows, exit 1 with the error naming the file, never a panic or
// a fault.
func TestDamagedStoreFilesAreRefusedNeverCrash(t *testing.T) {
	t.Parallel()
	sound := bolttest.Fill(t, t.TempDir())
	bolttest.EachDamage(t, sound, func(t *testing.T, path string) {
		t.Parallel()
		for _, args := range [][]string{
			{"serve", "--store", "bolt:" + path, "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"},
			{"audit", "verify", "--store", "bolt:" + path},
		} {
			code, out := runChild(t, args...)
			if code != 1 || !strings.Contains(out, path) || !strings.Contains(out, "the file is damaged") ||
				strings.Contains(out, "panic") || strings.Contains(out, "fatal error") {
				t.Errorf("pdp %s %s: exit %d, output:\n%s", args[0], args[1], code, out)
			}
		}
	})
}
