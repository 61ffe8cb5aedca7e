package app

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

// ipDoc is a data.tenants document with one denied address per tenant.
func ipDoc(denied map[string]string) map[string]any {
	doc := map[string]any{}
	for tenant, ip := range denied {
		doc[tenant] = map[string]any{"environments": map[string]any{"production": map[string]any{
			"ip_denylist": []any{ip},
			"incident":    map[string]any{"failed_logins_window_ns": int64(len(ip)) * 1e9},
		}}}
	}
	return doc
}

// derivedOf lists what a state derived from its last set: its IP entries
// and each tenant's settings in production.
func derivedOf(s *state, tenants ...string) []string {
	var out []string
	for e := range s.ips.Load().All() {
		out = append(out, e.Scope.String()+" "+e.Prefix.String())
	}
	for _, tenant := range tenants {
		out = append(out, tenant+" "+(*s.settings.Load())(tenant, "production").FailureWindow.String())
	}
	slices.Sort(out)
	return out
}

func newTestState() *state {
	return &state{ips: ipset.NewSet(nil), logger: slog.New(slog.DiscardHandler)}
}

// A set loaded per tenant is derived for its changed tenants only, to what
// deriving the whole set gives; after a failure, the next set is derived
// whole.
func TestOnLoadOfASetLoadedPerTenantEqualsTheWholeSet(t *testing.T) {
	t.Parallel()
	tenants := []string{"acme", "globex", "initech", "hooli"}
	before := ipDoc(map[string]string{"acme": "192.0.2.1", "globex": "192.0.2.2", "initech": "192.0.2.3"})
	after := ipDoc(map[string]string{"acme": "192.0.2.11", "globex": "192.0.2.2", "hooli": "192.0.2.4"})
	changed := map[string]bool{"acme": true, "initech": true, "hooli": true}

	whole := newTestState()
	whole.onLoad(reload.Set{Tenants: after})
	want := derivedOf(whole, tenants...)

	s := newTestState()
	s.onLoad(reload.Set{Tenants: before})
	s.onLoad(reload.Set{Tenants: after, Changed: changed})
	if got := derivedOf(s, tenants...); !slices.Equal(got, want) {
		t.Errorf("per tenant:\n  %v\nwhole:\n  %v", got, want)
	}

	// The IP lists refuse a set (they stay empty): the next set, though
	// loaded per tenant, is derived whole, globex included.
	failed := newTestState()
	failed.onLoad(reload.Set{Tenants: ipDoc(map[string]string{"acme": "nonsense", "globex": "192.0.2.2", "initech": "192.0.2.3"})})
	failed.onLoad(reload.Set{Tenants: after, Changed: changed})
	if got := derivedOf(failed, tenants...); !slices.Equal(got, want) {
		t.Errorf("after a failure:\n  %v\nwhole:\n  %v", got, want)
	}
}
