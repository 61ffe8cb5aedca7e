package reload_test

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

func TestARejectedSetSaysWhetherAnythingServes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "broken.yaml")
	write(t, bad, "tenant: broken\nplan: enterprise\nenvironments:\n  production:\n    inactivity_timeout: 30m\n")
	var log bytes.Buffer
	l := reload.New(engine.New(engine.Options{}), reload.Options{
		TenantsDir: dir,
		Logger:     slog.New(slog.NewTextHandler(&log, nil)),
	})
	load := func() string {
		t.Helper()
		log.Reset()
		_, _ = l.Load(context.Background())
		return log.String()
	}

	// At start-up nothing has loaded: no "last good set" serves.
	if out := load(); strings.Contains(out, "last good set") || !strings.Contains(out, "no policy set is loaded") ||
		!strings.Contains(out, "UNAVAILABLE") {
		t.Fatalf("first load of a bad file logged:\n%s", out)
	}
	write(t, bad, "tenant: broken\nplan: enterprise\nenvironments:\n  production:\n    inactivity_timeout: 2h\n")
	if out := load(); !strings.Contains(out, "policy set loaded") {
		t.Fatalf("load of the fixed file logged:\n%s", out)
	}
	write(t, bad, "tenant: broken\nplan: enterprise\nenvironments:\n  production:\n    inactivity_timeout: 30m\n")
	if out := load(); !strings.Contains(out, "the last good set keeps serving") {
		t.Fatalf("a reload after a good load logged:\n%s", out)
	}
}
