package reload_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/benchkit"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// scaleDemoPolicies are the authors' modules every scale set loads.
var scaleDemoPolicies = []string{"../../demo/policies"}

// newScale writes benchkit.ScaleTenants copies of the demo tenant acme,
// renamed and cut to its production, staging and development
// environments, as `make bench` does.
func newScale(b *testing.B) *benchkit.Scale {
	b.Helper()
	s, err := benchkit.NewScale(filepath.Join(demoTenants, "acme.yaml"), b.TempDir(), benchkit.ScaleTenants)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Close() })
	return s
}

// reportHeap reports the heap in use after a collection, in MB.
func reportHeap(b *testing.B) {
	b.Helper()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	b.ReportMetric(float64(m.HeapInuse)/(1<<20), "heap-inuse-MB")
}

// BenchmarkLoadTenants1000 loads 1,000 tenants × 3 environments into a new
// engine through reload.Loader, as `pdp serve` does at start: reading and
// validating every file, the compliance checks, the compilation and the
// probe.
func BenchmarkLoadTenants1000(b *testing.B) {
	s := newScale(b)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Load(ctx, scaleDemoPolicies); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportHeap(b)
	runtime.KeepAlive(s)
}

// BenchmarkReloadOneOfTenants1000 changes one tenant's file of 1,000 and
// waits for the watcher to load the new set, as in `pdp serve` with no
// debounce.
func BenchmarkReloadOneOfTenants1000(b *testing.B) {
	s := newScale(b)
	ctx := context.Background()
	if _, err := s.Load(ctx, scaleDemoPolicies); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.ReloadOne(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	reportHeap(b)
	runtime.KeepAlive(s)
}

// BenchmarkStoredChangeOfTenants1000 stores a change of one tenant's
// policy of 1,000 stored through the API in the bbolt store and loads the
// set again, as PutTenantPolicy does: reading every stored policy
// (LoadStored, sub-benchmark list) or the changed tenant's alone
// (LoadStoredTenants, tenant).
func BenchmarkStoredChangeOfTenants1000(b *testing.B) {
	policies, err := tenantdata.LoadDir(newScale(b).Dir())
	if err != nil {
		b.Fatal(err)
	}
	st, err := bolt.Open(filepath.Join(b.TempDir(), "pdp.db"), bolt.Options{SweepInterval: -1})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	ps := st.Policies()
	ctx := context.Background()
	for _, p := range policies {
		if _, err := ps.Put(ctx, p, ""); err != nil {
			b.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name string
		load func(l *reload.Loader) error
	}{
		{"list", func(l *reload.Loader) error { _, err := l.LoadStored(ctx); return err }},
		{"tenant", func(l *reload.Loader) error { _, err := l.LoadStoredTenants(ctx, "t0000"); return err }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			l := reload.New(engine.New(engine.Options{}), reload.Options{PolicyDirs: scaleDemoPolicies,
				Stored: reload.StoredIn(ps), StoredTenant: reload.StoredTenantIn(ps)})
			if _, err := l.Load(ctx); err != nil {
				b.Fatal(err)
			}
			plans := [2]string{"enterprise", "business"}
			i := 0
			b.ResetTimer()
			for b.Loop() {
				cur, err := ps.Get(ctx, "t0000")
				if err != nil {
					b.Fatal(err)
				}
				next := proto.Clone(cur).(*pdpv1.TenantPolicy)
				next.Plan, i = plans[i%2], i+1
				if _, err := ps.Put(ctx, next, cur.GetEtag()); err != nil {
					b.Fatal(err)
				}
				if err := tc.load(l); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
