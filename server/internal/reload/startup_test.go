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

func TestAModuleAddingTheWrongShapeIsRefusedAndTheLastGoodSetServes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	module := filepath.Join(dir, "custom.rego")
	write(t, module, "package pdp.custom\n\ndeny contains {\"code\": \"c\", \"message\": \"m\", \"rule\": \"r\"} if input.action.name == \"x\"\n")
	metrics := &reloads{}
	e := engine.New(engine.Options{})
	l := reload.New(e, reload.Options{PolicyDirs: []string{dir}, TenantsDir: demoTenants, Metrics: metrics})
	good, err := l.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	write(t, module, "package pdp.custom\n\ndeny contains \"notanobject\" if input.action.name == \"x\"\n")
	_, err = l.Load(context.Background())
	if err == nil || !strings.Contains(err.Error(), module+":3:") || !strings.Contains(err.Error(), "wrong shape") {
		t.Fatalf("reload of a module adding a string to deny: %v", err)
	}
	if e.Revision() != good || !e.Ready() {
		t.Fatalf("serving %q (ready %v), want the last good %q", e.Revision(), e.Ready(), good)
	}
	if metrics.ok != 1 || metrics.bad != 1 {
		t.Fatalf("reloads counted ok %d, failed %d; want 1 and 1", metrics.ok, metrics.bad)
	}
}
