package reload_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/testing/protocmp"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

const demoPolicies = "../../demo/policies"

// recorder is the engine, recording how the loader feeds it.
type recorder struct {
	*engine.Engine
	mu      sync.Mutex
	loads   int        // whole sets
	changes [][]string // the tenants of each LoadTenants, sorted
}

func (r *recorder) Load(ctx context.Context, b engine.Bundle) (string, error) {
	r.mu.Lock()
	r.loads++
	r.mu.Unlock()
	return r.Engine.Load(ctx, b)
}

func (r *recorder) LoadTenants(ctx context.Context, changed map[string]any) (string, error) {
	r.mu.Lock()
	r.changes = append(r.changes, slices.Sorted(maps.Keys(changed)))
	r.mu.Unlock()
	return r.Engine.LoadTenants(ctx, changed)
}

// fed returns the whole loads and the tenants of the last update.
func (r *recorder) fed() (loads int, last []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.changes) > 0 {
		last = r.changes[len(r.changes)-1]
	}
	return r.loads, last
}

// incremental is a loader of the demo policies and the tenant files of
// dir, feeding a recorder.
func incremental(t *testing.T, dir string, stored func(context.Context) (map[string]*pdpv1.TenantPolicy, error)) (*reload.Loader, *recorder) {
	t.Helper()
	r := &recorder{Engine: engine.New(engine.Options{})}
	l := reload.New(r, reload.Options{PolicyDirs: []string{demoPolicies}, TenantsDir: dir, Stored: stored})
	if _, err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	return l, r
}

// loadWhole loads the same files as l into a new engine at once, and
// returns the set and the error.
func loadWhole(t *testing.T, dir string, stored func(context.Context) (map[string]*pdpv1.TenantPolicy, error)) (reload.Set, error) {
	t.Helper()
	l := reload.New(engine.New(engine.Options{}), reload.Options{PolicyDirs: []string{demoPolicies}, TenantsDir: dir, Stored: stored})
	_, err := l.Load(context.Background())
	return l.Current(), err
}

// sameAsWhole fails unless l serves what loading everything at once
// gives.
func sameAsWhole(t *testing.T, what string, l *reload.Loader, dir string, stored func(context.Context) (map[string]*pdpv1.TenantPolicy, error)) {
	t.Helper()
	want, err := loadWhole(t, dir, stored)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	got := l.Current()
	if got.Revision != want.Revision {
		t.Errorf("%s: revision %s, a whole load %s", what, got.Revision, want.Revision)
	}
	if diff := cmp.Diff(want, got, protocmp.Transform(), cmpopts.IgnoreFields(reload.Set{}, "Changed")); diff != "" {
		t.Errorf("%s: the set differs from a whole load's (-whole +reloaded):\n%s", what, diff)
	}
}

// edit replaces old by new in the file at path.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(src), old) {
		t.Fatalf("%s has no %q", path, old)
	}
	write(t, path, strings.Replace(string(src), old, new, 1))
}

func TestReloadOfTenantFilesLoadsOnlyTheirData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyDemo(t)
	l, r := incremental(t, dir, nil)

	steps := []struct {
		name    string
		change  func()
		tenants []string
	}{
		{"a file edited", func() { edit(t, filepath.Join(dir, "acme.yaml"), "inactivity_timeout: 4h", "inactivity_timeout: 3h") }, []string{"acme"}},
		{"a file removed", func() {
			if err := os.Remove(filepath.Join(dir, "globex.yaml")); err != nil {
				t.Fatal(err)
			}
		}, []string{"globex"}},
		{"a file added", func() {
			src, err := os.ReadFile(filepath.Join(dir, "initech.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, "hooli.yaml"), strings.Replace(string(src), "tenant: initech", "tenant: hooli", 1))
		}, []string{"hooli"}},
		{"nothing changed", func() {}, nil},
	}
	for _, step := range steps {
		step.change()
		if _, err := l.Load(ctx); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if loads, last := r.fed(); loads != 1 || !slices.Equal(last, step.tenants) {
			t.Errorf("%s: %d whole loads, last update of %v; want 1 and %v", step.name, loads, last, step.tenants)
		}
		if changed := slices.Sorted(maps.Keys(l.Current().Changed)); !slices.Equal(changed, step.tenants) {
			t.Errorf("%s: the set says %v changed, want %v", step.name, changed, step.tenants)
		}
		sameAsWhole(t, step.name, l, dir, nil)
	}

	// A module edited: the set is loaded whole.
	policies := t.TempDir()
	write(t, filepath.Join(policies, "notes.rego"), "package pdp.custom\n\nnotes := 1\n")
	l2 := reload.New(r, reload.Options{PolicyDirs: []string{policies}, TenantsDir: dir})
	if _, err := l2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(policies, "notes.rego"), "package pdp.custom\n\nnotes := 2\n")
	if _, err := l2.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if loads, _ := r.fed(); loads != 3 || l2.Current().Changed != nil {
		t.Errorf("%d whole loads, changed %v; want 3 and nil: a module edit must load the set whole", loads, l2.Current().Changed)
	}
}

// Two edits of the same size in the same second, the file's time set
// back: each is served.
func TestReloadSeesEveryEditOfAFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyDemo(t)
	acme := filepath.Join(dir, "acme.yaml")
	l, _ := incremental(t, dir, nil)
	st, err := os.Stat(acme)
	if err != nil {
		t.Fatal(err)
	}
	revisions := map[string]bool{l.Current().Revision: true}
	for _, timeout := range []string{"3h", "2h"} {
		edit(t, acme, "inactivity_timeout: 4h", "inactivity_timeout: "+timeout)
		if err := os.Chtimes(acme, st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
		if st2, _ := os.Stat(acme); st2.Size() != st.Size() {
			t.Fatalf("the edit changed the size")
		}
		rev, err := l.Load(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if revisions[rev] {
			t.Errorf("inactivity_timeout %s: revision %s was served before", timeout, rev)
		}
		revisions[rev] = true
		sameAsWhole(t, "inactivity_timeout "+timeout, l, dir, nil)
		edit(t, acme, "inactivity_timeout: "+timeout, "inactivity_timeout: 4h")
	}
}

func TestReloadOfABadTenantFileKeepsTheLastGoodSet(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyDemo(t)
	acme := filepath.Join(dir, "acme.yaml")
	metrics := &reloads{}
	r := &recorder{Engine: engine.New(engine.Options{})}
	var loaded atomic.Int32
	l := reload.New(r, reload.Options{PolicyDirs: []string{demoPolicies}, TenantsDir: dir, Metrics: metrics,
		OnLoad: func(reload.Set) { loaded.Add(1) }})
	good, err := l.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []struct{ name, old, new string }{
		{"not YAML", "tenant: acme", "tenant: [acme"},
		{"invalid", "inactivity_timeout: 4h", "inactivity_timeout: 30m"},
		{"breaks SOX, which it declares", "inactivity_timeout: 4h", "inactivity_timeout: 5h"},
	} {
		edit(t, acme, bad.old, bad.new)
		_, err := l.Load(ctx)
		_, whole := loadWhole(t, dir, nil)
		if err == nil || whole == nil || err.Error() != whole.Error() {
			t.Errorf("%s: reload error\n  %v\nwhole load's\n  %v", bad.name, err, whole)
		}
		if r.Revision() != good || l.Current().Revision != good {
			t.Errorf("%s: serving %s (set %s), want the last good %s", bad.name, r.Revision(), l.Current().Revision, good)
		}
		edit(t, acme, bad.new, bad.old)
	}
	if metrics.ok != 1 || metrics.bad != 3 || loaded.Load() != 1 {
		t.Errorf("reloads ok %d, failed %d, OnLoad %d; want 1, 3, 1", metrics.ok, metrics.bad, loaded.Load())
	}
	// Fixed, the same file loads, as only its tenant's change.
	edit(t, acme, "inactivity_timeout: 4h", "inactivity_timeout: 3h")
	if _, err := l.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if loads, last := r.fed(); loads != 1 || !slices.Equal(last, []string{"acme"}) {
		t.Errorf("%d whole loads, last update of %v; want 1 and [acme]", loads, last)
	}
	sameAsWhole(t, "fixed", l, dir, nil)
}

func TestReloadOfAStoredPolicyLoadsOnlyItsData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	var (
		mu     sync.Mutex
		stored = map[string]*pdpv1.TenantPolicy{
			"acme":  {Tenant: "acme", Plan: "free", Environments: map[string]*pdpv1.SecurityPolicy{"production": {}}},
			"hooli": {Tenant: "hooli", Plan: "paid", Environments: map[string]*pdpv1.SecurityPolicy{"staging": {}}},
		}
	)
	// As a store does, every read returns new messages.
	list := func(context.Context) (map[string]*pdpv1.TenantPolicy, error) {
		mu.Lock()
		defer mu.Unlock()
		out := map[string]*pdpv1.TenantPolicy{}
		for name, p := range stored {
			out[name] = proto.Clone(p).(*pdpv1.TenantPolicy)
		}
		return out, nil
	}
	dir := copyDemo(t)
	l, r := incremental(t, dir, list)
	for _, step := range []struct {
		name    string
		change  func()
		tenants []string
	}{
		{"nothing changed", func() {}, nil},
		{"a stored policy changed", func() { stored["hooli"] = &pdpv1.TenantPolicy{Tenant: "hooli", Plan: "free"} }, []string{"hooli"}},
		{"a stored policy deleted, its file serves", func() { delete(stored, "acme") }, []string{"acme"}},
		{"a policy stored for a tenant of a file", func() {
			stored["globex"] = &pdpv1.TenantPolicy{Tenant: "globex", Plan: "free", Environments: map[string]*pdpv1.SecurityPolicy{"production": {}}}
		}, []string{"globex"}},
	} {
		mu.Lock()
		step.change()
		mu.Unlock()
		if _, err := l.Load(ctx); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if loads, last := r.fed(); loads != 1 || !slices.Equal(last, step.tenants) {
			t.Errorf("%s: %d whole loads, last update of %v; want 1 and %v", step.name, loads, last, step.tenants)
		}
		if changed := slices.Sorted(maps.Keys(l.Current().Changed)); !slices.Equal(changed, step.tenants) {
			t.Errorf("%s: the set says %v changed, want %v", step.name, changed, step.tenants)
		}
		sameAsWhole(t, step.name, l, dir, list)
	}
}

// Decisions are served while one tenant's file is reloaded again and
// again, each by the set before or after a reload.
func TestDecisionsGoOnDuringReloads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyDemo(t)
	acme := filepath.Join(dir, "acme.yaml")
	l, r := incremental(t, dir, nil)
	revisions := map[string]bool{l.Current().Revision: true}
	edit(t, acme, "inactivity_timeout: 4h", "inactivity_timeout: 3h")
	other, err := loadWhole(t, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	revisions[other.Revision] = true

	var (
		stop      atomic.Bool
		decisions atomic.Int64
		wg        sync.WaitGroup
	)
	for range 2 {
		wg.Go(func() {
			for !stop.Load() {
				d, err := r.Decide(ctx, &decision.Request{
					Tenant: "globex", Environment: "production", Time: time.Now(),
					Subject: decision.Subject{ID: "u-1", Tenant: "globex"}, Action: decision.Action{Name: "login"},
				})
				if err != nil || !revisions[d.PolicyRevision] {
					t.Errorf("Decide during a reload: %v, revision %v", err, d)
					return
				}
				decisions.Add(1)
			}
		})
	}
	timeouts := []string{"3h", "4h"}
	for i := range 10 {
		edit(t, acme, "inactivity_timeout: "+timeouts[i%2], "inactivity_timeout: "+timeouts[(i+1)%2])
		if _, err := l.Load(ctx); err != nil {
			t.Error(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if decisions.Load() == 0 {
		t.Fatal("no decision was made")
	}
}
