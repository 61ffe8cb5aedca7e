package engine

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// notesModule is an author module that adds each environment's
// custom_notes to the decision's notices: a tenant whose notes are not
// notices makes the probe fail.
var notesModule = map[string]string{"policies/notes.rego": "package pdp.custom\n\n" +
	"notices contains n if {\n\tsome n in object.get(data.tenants[input.tenant].environments[input.environment], \"custom_notes\", [])\n}\n"}

// copyTenant returns a deep copy of the demo tenant acme's data, numbers
// kept as json.Number.
func copyTenant(tb testing.TB) map[string]any {
	tb.Helper()
	raw, err := json.Marshal(demoTenants(tb)["acme"])
	if err != nil {
		tb.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var t map[string]any
	if err := dec.Decode(&t); err != nil {
		tb.Fatal(err)
	}
	return t
}

// withoutRoles is acme's data with no roles in production: its developer
// is denied.
func withoutRoles(tb testing.TB) map[string]any {
	t := copyTenant(tb)
	t["environments"].(map[string]any)["production"].(map[string]any)["roles"] = map[string]any{}
	return t
}

// threeTenants is acme and two copies of it, bravo and charlie.
func threeTenants(tb testing.TB) map[string]any {
	return map[string]any{"acme": copyTenant(tb), "bravo": copyTenant(tb), "charlie": copyTenant(tb)}
}

// decisionsOf decides the demo request for each tenant, ids and
// revisions blanked so that two sets' decisions compare.
func decisionsOf(t *testing.T, e *Engine, tenants ...string) map[string]*decision.Decision {
	t.Helper()
	out := map[string]*decision.Decision{}
	for _, tenant := range tenants {
		req := demoRequest()
		req.Tenant, req.Subject.Tenant = tenant, tenant
		d, err := e.Decide(context.Background(), req)
		if err != nil {
			t.Fatalf("tenant %s: %v", tenant, err)
		}
		d.ID, d.PolicyRevision = "", ""
		out[tenant] = d
	}
	return out
}

func TestRevisionTellsTenantDataApart(t *testing.T) {
	t.Parallel()
	lib := coreLibrary(t, nil)
	revision := func(tenants map[string]any) string {
		t.Helper()
		rev, err := New(Options{Library: lib}).Load(context.Background(), Bundle{Modules: notesModule, Tenants: tenants})
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	free := func() map[string]any { t := copyTenant(t); t["plan"] = "free"; return t }
	base := revision(map[string]any{"a": copyTenant(t), "b": free()})

	// The same JSON is the same revision, however the Go values hold it.
	five := func(n any) map[string]any { t := copyTenant(t); t["limit"] = n; return t }
	if revision(map[string]any{"a": five(json.Number("5"))}) != revision(map[string]any{"a": five(int64(5))}) {
		t.Error("the number 5 as json.Number and as int64 gave two revisions")
	}
	if revision(nil) != revision(map[string]any{}) {
		t.Error("no tenants and an empty document gave two revisions")
	}
	for name, tenants := range map[string]map[string]any{
		"data swapped":    {"a": free(), "b": copyTenant(t)},
		"a tenant more":   {"a": copyTenant(t), "b": free(), "c": free()},
		"a tenant less":   {"a": copyTenant(t)},
		"a tenant named":  {"a": copyTenant(t), "c": free()},
		"a value changed": {"a": withoutRoles(t), "b": free()},
	} {
		if revision(tenants) == base {
			t.Errorf("%s: revision unchanged", name)
		}
	}
}

func TestLoadTenantsEqualsLoadOfTheWholeData(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lib := coreLibrary(t, nil)
	e := loaded(t, Options{Library: lib}, Bundle{Modules: notesModule, Tenants: threeTenants(t)})
	before := decisionsOf(t, e, "acme", "bravo", "charlie", "delta")

	// bravo changes, charlie goes, delta comes.
	rev, err := e.LoadTenants(ctx, map[string]any{"bravo": withoutRoles(t), "charlie": nil, "delta": copyTenant(t)})
	if err != nil {
		t.Fatal(err)
	}
	whole := loaded(t, Options{Library: lib}, Bundle{Modules: notesModule,
		Tenants: map[string]any{"acme": copyTenant(t), "bravo": withoutRoles(t), "delta": copyTenant(t)}})
	if rev != whole.Revision() || e.Revision() != rev {
		t.Fatalf("LoadTenants gave revision %s (serving %s), Load of the same data %s", rev, e.Revision(), whole.Revision())
	}
	after := decisionsOf(t, e, "acme", "bravo", "charlie", "delta")
	if diff := cmp.Diff(decisionsOf(t, whole, "acme", "bravo", "charlie", "delta"), after); diff != "" {
		t.Errorf("decisions differ from Load's (-Load +LoadTenants):\n%s", diff)
	}
	// The change is served: bravo's developer lost its role, charlie is
	// gone, delta is new; acme is untouched.
	if after["bravo"].Kind == before["bravo"].Kind || after["charlie"].Kind == before["charlie"].Kind ||
		after["delta"].Kind == before["delta"].Kind {
		t.Errorf("decisions before %v %v %v, after %v %v %v: the change is not served",
			before["bravo"].Kind, before["charlie"].Kind, before["delta"].Kind, after["bravo"].Kind, after["charlie"].Kind, after["delta"].Kind)
	}
	if diff := cmp.Diff(before["acme"], after["acme"]); diff != "" {
		t.Errorf("the unchanged tenant's decision changed:\n%s", diff)
	}

	// Changing the data back gives the first revision again.
	first := loaded(t, Options{Library: lib}, Bundle{Modules: notesModule, Tenants: threeTenants(t)}).Revision()
	back, err := e.LoadTenants(ctx, map[string]any{"bravo": copyTenant(t), "charlie": copyTenant(t), "delta": nil})
	if err != nil || back != first {
		t.Errorf("changing back gave revision %s (%v), want %s", back, err, first)
	}
	if rev, err := e.LoadTenants(ctx, nil); err != nil || rev != first {
		t.Errorf("no change gave revision %s (%v), want the serving %s", rev, err, first)
	}
}

func TestLoadTenantsSharesTheUnchangedTenants(t *testing.T) {
	t.Parallel()
	e := loaded(t, Options{Library: coreLibrary(t, nil)}, Bundle{Tenants: threeTenants(t)})
	old := e.current.Load()
	if _, err := e.LoadTenants(context.Background(), map[string]any{"bravo": withoutRoles(t)}); err != nil {
		t.Fatal(err)
	}
	cur := e.current.Load()
	if cur.modules != old.modules {
		t.Error("the modules were compiled again")
	}
	for _, tenant := range []string{"acme", "charlie"} {
		key := ast.StringTerm(tenant)
		if cur.tenants.object.Get(key) != old.tenants.object.Get(key) {
			t.Errorf("tenant %s: the new set holds a copy of its data", tenant)
		}
	}
	if key := ast.StringTerm("bravo"); cur.tenants.object.Get(key) == old.tenants.object.Get(key) {
		t.Error("bravo's data did not change")
	}
}

func TestLoadTenantsRefusesWhatLoadRefuses(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	lib := coreLibrary(t, nil)
	e := loaded(t, Options{Library: lib}, Bundle{Modules: notesModule, Tenants: threeTenants(t)})
	rev := e.Revision()
	wantDecisions := decisionsOf(t, e, "acme", "bravo", "charlie")

	badNotes := copyTenant(t)
	badNotes["environments"].(map[string]any)["staging"].(map[string]any)["custom_notes"] = []any{"not a notice"}
	for name, tt := range map[string]struct {
		changed map[string]any
		want    string
	}{
		"a value that is not JSON-like": {map[string]any{"bravo": map[string]any{"plan": make(chan int)}}, "tenant bravo"},
		"data a module fails on":        {map[string]any{"bravo": badNotes}, "tenant bravo, environment staging"},
	} {
		_, err := e.LoadTenants(ctx, tt.changed)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: LoadTenants = %v, want an error naming %q", name, err, tt.want)
		}
		if e.Revision() != rev {
			t.Errorf("%s: serving %s, want the last good %s", name, e.Revision(), rev)
		}
		if diff := cmp.Diff(wantDecisions, decisionsOf(t, e, "acme", "bravo", "charlie")); diff != "" {
			t.Errorf("%s: decisions changed:\n%s", name, diff)
		}
	}
	// Load refuses the same data.
	tenants := threeTenants(t)
	tenants["bravo"] = badNotes
	if _, err := New(Options{Library: lib}).Load(ctx, Bundle{Modules: notesModule, Tenants: tenants}); err == nil {
		t.Error("Load accepted the data LoadTenants refused")
	}
}

// Tenant environments an update did not change, and that the serving set
// was probed with, are not probed again; the changed ones are.
func TestLoadTenantsProbesOnlyWhatTheChangeCanAlter(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// After the clock moves, the module fails on every request: only a
	// probe evaluated after that can refuse a set.
	var late atomic.Bool
	start := demoRequest().Time
	clock := func() time.Time {
		if late.Load() {
			return start.Add(time.Hour)
		}
		return start
	}
	failing := map[string]string{"policies/late.rego": fmt.Sprintf("package pdp.custom\n\n"+
		"notices contains input.action.name if input.time_ns > %d\n", start.UnixNano())}
	// Nine tenants of two environments each: the window is the first
	// eight.
	tenants := map[string]any{}
	for i := 1; i <= 9; i++ {
		tenants[fmt.Sprintf("t%d", i)] = copyTenant(t)
	}
	e := loaded(t, Options{Library: coreLibrary(t, nil), Now: clock}, Bundle{Modules: failing, Tenants: tenants})
	if got := e.current.Load().probed; len(got) != probeLimit || got[probeLimit-1].tenant != "t8" {
		t.Fatalf("the set was probed with %v, want the 16 environments of t1 to t8", got)
	}
	late.Store(true)

	// t9 is outside the window, the others unchanged: nothing is probed.
	if _, err := e.LoadTenants(ctx, map[string]any{"t9": withoutRoles(t)}); err != nil {
		t.Errorf("changing a tenant outside the window probed others: %v", err)
	}
	// A changed tenant in the window is probed.
	if _, err := e.LoadTenants(ctx, map[string]any{"t5": withoutRoles(t)}); err == nil || !strings.Contains(err.Error(), "tenant t5") {
		t.Errorf("changing t5: %v, want its probe to fail", err)
	}
	// So is a tenant that enters the window, as Load would probe it.
	if _, err := e.LoadTenants(ctx, map[string]any{"t1": nil}); err == nil || !strings.Contains(err.Error(), "tenant t9") {
		t.Errorf("removing t1: %v, want the probe of t9 to fail", err)
	}
}

// Decisions go on while tenants are updated, each made whole by the set
// before or the set after an update.
func TestDecideDuringLoadTenants(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := loaded(t, Options{Library: coreLibrary(t, nil)}, Bundle{Modules: notesModule, Tenants: threeTenants(t)})
	versions := []map[string]any{withoutRoles(t), copyTenant(t)}
	kinds := map[string]decision.Kind{e.Revision(): decision.KindAllow}
	rev, err := e.LoadTenants(ctx, map[string]any{"bravo": versions[0]})
	if err != nil {
		t.Fatal(err)
	}
	kinds[rev] = decision.KindDeny

	var (
		stop      atomic.Bool
		decisions atomic.Int64
		wg        sync.WaitGroup
	)
	for _, tenant := range []string{"acme", "bravo", "acme", "bravo"} {
		wg.Go(func() {
			for !stop.Load() {
				req := demoRequest()
				req.Tenant, req.Subject.Tenant = tenant, tenant
				d, err := e.Decide(ctx, req)
				if err != nil {
					t.Error(err)
					return
				}
				want, known := kinds[d.PolicyRevision]
				if tenant == "acme" {
					want = decision.KindAllow
				}
				if !known || d.Kind != want {
					t.Errorf("tenant %s: decided %s with revision %s, want %s by a set loaded", tenant, d.Kind, d.PolicyRevision, want)
					return
				}
				decisions.Add(1)
			}
		})
	}
	for i := range 20 {
		if _, err := e.LoadTenants(ctx, map[string]any{"bravo": versions[(i+1)%2]}); err != nil {
			t.Error(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	if decisions.Load() == 0 {
		t.Fatal("no decision was made")
	}
}

func TestLoadTenantsBeforeLoad(t *testing.T) {
	t.Parallel()
	e := New(Options{Library: coreLibrary(t, nil)})
	if _, err := e.LoadTenants(context.Background(), map[string]any{"acme": copyTenant(t)}); err == nil || e.Ready() {
		t.Errorf("LoadTenants before Load: %v, ready %v; want an error and no set", err, e.Ready())
	}
}
