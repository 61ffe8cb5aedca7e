package benchkit_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/benchkit"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

const demoPolicies = "../demo/policies"

func TestScaleWritesCopiesOfAcmeWithThreeEnvironments(t *testing.T) {
	t.Parallel()
	s, err := benchkit.NewScale(filepath.Join(demoTenants, "acme.yaml"), t.TempDir(), 3)
	if err != nil {
		t.Fatal(err)
	}
	pols, err := tenantdata.LoadDir(s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if len(pols) != 3 {
		t.Fatalf("%d tenants, want 3", len(pols))
	}
	for _, name := range []string{"t0000", "t0001", "t0002"} {
		p := pols[name]
		if p == nil {
			t.Fatalf("no tenant %s in %v", name, pols)
		}
		var envs []string
		for env := range p.GetEnvironments() {
			envs = append(envs, env)
		}
		if len(envs) != 3 || p.GetEnvironments()["sandbox"] != nil {
			t.Errorf("tenant %s has environments %v, want production, staging and development", name, envs)
		}
	}
}

func TestScaleRefusesATenantWithoutASandboxToCut(t *testing.T) {
	t.Parallel()
	if _, err := benchkit.NewScale(filepath.Join(demoTenants, "globex.yaml"), t.TempDir(), 1); err == nil ||
		!strings.Contains(err.Error(), "sandbox") {
		t.Errorf("NewScale(globex) = %v, want an error naming the sandbox", err)
	}
}

func TestScaleLoadsThenReloadsOneChangedTenantThroughTheWatcher(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := benchkit.NewScale(filepath.Join(demoTenants, "acme.yaml"), t.TempDir(), 2)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ReloadOne(ctx); err == nil {
		t.Error("ReloadOne before Load succeeded")
	}
	if took, err := s.Load(ctx, []string{demoPolicies}); err != nil || took <= 0 {
		t.Fatalf("Load = %v, %v", took, err)
	}
	first := filepath.Join(s.Dir(), "t0000.yaml")
	for _, want := range []string{"inactivity_timeout: 3h", "inactivity_timeout: 4h"} {
		took, err := s.ReloadOne(ctx)
		if err != nil || took <= 0 {
			t.Fatalf("ReloadOne = %v, %v", took, err)
		}
		body, err := os.ReadFile(first)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(body), want) {
			t.Errorf("t0000.yaml after a reload lacks %q", want)
		}
	}
}

func TestScaleReportsAChangedSetTheLoaderRejects(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	root := t.TempDir()
	s, err := benchkit.NewScale(filepath.Join(demoTenants, "acme.yaml"), root, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Load(ctx, []string{demoPolicies}); err != nil {
		t.Fatal(err)
	}
	// A second tenant file the loader refuses: the next reload fails.
	if err := os.WriteFile(filepath.Join(s.Dir(), "broken.yaml"), []byte("tenant: [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.ReloadOne(ctx); err == nil {
		t.Error("ReloadOne succeeded with a broken tenant file beside")
	}
}

// Closing right after a load, as a benchmark's cleanup does, or loading
// again, stops the watch before its goroutine may have started.
func TestScaleClosesRightAfterALoad(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := benchkit.NewScale(filepath.Join(demoTenants, "acme.yaml"), t.TempDir(), 1)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := s.Load(ctx, []string{demoPolicies}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Load(ctx, []string{demoPolicies}); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ReloadOne(ctx); err != nil {
		t.Fatal(err)
	}
}
