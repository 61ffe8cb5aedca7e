package reload_test

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

const demoTenants = "../../demo/tenants"

// umbrella declares SOX and HIPAA in production and keeps neither.
const umbrella = `
tenant: umbrella
plan: enterprise
environments:
  production:
    inactivity_timeout: 8h
    mfa: {mode: privileged, privileged_roles: [admin]}
    auth_providers: {allowed: [password, google]}
    ip_allowlist: [203.0.113.0/24]
    roles:
      admin: {actions: ["*"]}
      ops: {actions: ["admin.users.*", "db.write"]}
    compliance: [SOX, HIPAA]
`

// umbrellaControls are the controls umbrella breaks.
var umbrellaControls = []string{
	"hipaa.corporate_sso", "hipaa.inactivity_logout", "hipaa.mfa_all",
	"sox.inactivity", "sox.separation_of_duties",
}

type reloads struct {
	mu      sync.Mutex
	ok, bad int
}

func (r *reloads) RecordReload(ok bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.ok++
	} else {
		r.bad++
	}
}

// copyDemo copies the demo tenant files into a new directory.
func copyDemo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(demoTenants)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		src, err := os.ReadFile(filepath.Join(demoTenants, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, e.Name()), string(src))
	}
	return dir
}

func write(t *testing.T, path, src string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestLoadDemo(t *testing.T) {
	t.Parallel()
	var got reload.Set
	metrics := &reloads{}
	e := engine.New(engine.Options{})
	l := reload.New(e, reload.Options{
		PolicyDirs: []string{"../../demo/policies"},
		TenantsDir: demoTenants,
		Metrics:    metrics,
		OnLoad:     func(s reload.Set) { got = s },
	})
	rev, err := l.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rev == "" || rev != e.Revision() || got.Revision != rev {
		t.Errorf("revision %q, engine %q, set %q", rev, e.Revision(), got.Revision)
	}
	if diff := cmp.Diff([]string{"acme", "globex", "initech"}, slices.Sorted(maps.Keys(got.Tenants))); diff != "" {
		t.Errorf("tenants (-want +got):\n%s", diff)
	}
	if metrics.ok != 1 || metrics.bad != 0 {
		t.Errorf("reloads ok %d, failed %d", metrics.ok, metrics.bad)
	}
}

func TestLoadRefusesNonCompliantTenant(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyDemo(t)
	metrics := &reloads{}
	loads := 0
	e := engine.New(engine.Options{})
	l := reload.New(e, reload.Options{TenantsDir: dir, Metrics: metrics, OnLoad: func(reload.Set) { loads++ }})
	good, err := l.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}

	bad := filepath.Join(dir, "umbrella.yaml")
	write(t, bad, umbrella)
	_, err = l.Load(ctx)
	if err == nil {
		t.Fatal("a tenant breaking its declared profiles was loaded")
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, bad+": tenant policy breaks a compliance profile it declares: ") {
		t.Errorf("error does not begin with the file: %q", msg)
	}
	for _, c := range umbrellaControls {
		if !strings.Contains(msg, "environments.production.compliance: breaks "+strings.ToUpper(strings.Split(c, ".")[0])+" control "+c+" ") {
			t.Errorf("error does not name control %s: %q", c, msg)
		}
	}
	if strings.Contains(msg, "acme") {
		t.Errorf("the compliant demo tenant is blamed: %q", msg)
	}
	if fault.As(err).Code != fault.FailedPrecondition {
		t.Errorf("code %v, want failed precondition", fault.As(err).Code)
	}
	if e.Revision() != good || loads != 1 {
		t.Errorf("revision %q after a refused set (want %q), %d loads", e.Revision(), good, loads)
	}
	if metrics.ok != 1 || metrics.bad != 1 {
		t.Errorf("reloads ok %d, failed %d", metrics.ok, metrics.bad)
	}

	// Fixing the file loads the set again.
	write(t, bad, strings.Replace(umbrella, "compliance: [SOX, HIPAA]", "compliance: []", 1))
	if _, err := l.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Revision() == good {
		t.Error("the fixed set did not replace the old one")
	}
}

func TestLoadReportsEveryFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "umbrella.yml"), umbrella)
	write(t, filepath.Join(dir, "broken.yaml"), "tenant: broken\nplan: enterprise\nenvironments:\n  production:\n    inactivity_timeout: 30m\n")
	_, err := reload.New(engine.New(engine.Options{}), reload.Options{TenantsDir: dir}).Load(context.Background())
	if err == nil {
		t.Fatal("loaded")
	}
	for _, want := range []string{
		filepath.Join(dir, "broken.yaml") + ": invalid tenant policy: environments.production.inactivity_timeout",
		filepath.Join(dir, "umbrella.yml") + ": tenant policy breaks a compliance profile it declares",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestCheckCompliance(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "umbrella.json"), `{"tenant": "umbrella", "plan": "enterprise", "environments": {"production": {"inactivity_timeout": "8h", "compliance": ["SOX"], "roles": {"admin": {"actions": ["*"]}}}}}`)
	policies, err := tenantdata.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	err = reload.CheckCompliance(ctx, dir, policies)
	want := filepath.Join(dir, "umbrella.json") + ": tenant policy breaks a compliance profile it declares: " +
		"environments.production.compliance: breaks SOX control sox.inactivity (medium severity): " +
		"inactivity timeout 8h exceeds the SOX maximum of 4h; to fix, set inactivity_timeout to 4h or less"
	if err == nil || err.Error() != want {
		t.Errorf("error:\n%v\nwant:\n%s", err, want)
	}
	if !errors.Is(err, fault.ErrFailedPrecondition) {
		t.Error("not a failed precondition")
	}
	// A policy that did not come from a file of dir is still named.
	err = reload.CheckCompliance(ctx, t.TempDir(), policies)
	if err == nil || !strings.Contains(err.Error(), "(tenant umbrella): ") {
		t.Errorf("error without a file: %v", err)
	}
	if err := reload.CheckCompliance(ctx, dir, nil); err != nil {
		t.Errorf("no policies: %v", err)
	}
}

func TestReadModules(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, name := range []string{
		"geo.rego", "geo_test.rego", ".geo.rego", "notes.md",
		"sub/export.rego", ".git/hooks.rego", "sub/.hidden/x.rego",
	} {
		write(t, filepath.Join(dir, name), "package pdp.custom\n")
	}
	got, err := reload.ReadModules([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(dir, "geo.rego"), filepath.Join(dir, "sub/export.rego")}
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(got))); diff != "" {
		t.Errorf("modules (-want +got):\n%s", diff)
	}
	if _, err := reload.ReadModules([]string{filepath.Join(dir, "missing")}); err == nil {
		t.Error("a missing directory is not an error")
	}
}
