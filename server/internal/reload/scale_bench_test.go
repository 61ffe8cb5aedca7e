package reload_test

import (
	"context"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/pdp-dev/pdp/server/benchkit"
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
