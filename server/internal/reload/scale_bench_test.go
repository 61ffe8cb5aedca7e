package reload_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

// scaleTenants is the tenant count of issue 11's scale target, each with
// three environments.
const scaleTenants = 1000

// scaleDir writes scaleTenants copies of the demo tenant acme, renamed and
// cut to its production, staging and development environments, into a new
// directory. It returns the directory and the first tenant's file.
func scaleDir(b *testing.B) (dir, first string) {
	b.Helper()
	src, err := os.ReadFile(filepath.Join(demoTenants, "acme.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	// The sandbox environment is the last block of the file: cut it so
	// each tenant has exactly three.
	base, _, found := strings.Cut(string(src), "\n  sandbox:\n")
	if !found {
		b.Fatal("acme.yaml has no sandbox environment to cut")
	}
	base += "\n"
	dir = b.TempDir()
	for i := range scaleTenants {
		name := fmt.Sprintf("t%04d", i)
		body := strings.Replace(base, "tenant: acme\n", "tenant: "+name+"\n", 1)
		if err := os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	return dir, filepath.Join(dir, "t0000.yaml")
}

// newScaleLoader is a loader of the demo policies and the tenants in dir.
func newScaleLoader(dir string) (*engine.Engine, *reload.Loader) {
	e := engine.New(engine.Options{})
	return e, reload.New(e, reload.Options{PolicyDirs: []string{"../../demo/policies"}, TenantsDir: dir})
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
// engine: reading and validating every file, the compliance checks, the
// compilation and the probe.
func BenchmarkLoadTenants1000(b *testing.B) {
	dir, _ := scaleDir(b)
	ctx := context.Background()
	var e *engine.Engine
	b.ResetTimer()
	for b.Loop() {
		var l *reload.Loader
		e, l = newScaleLoader(dir)
		if _, err := l.Load(ctx); err != nil {
			b.Fatal(err)
		}
		if n := len(l.Current().Tenants); n != scaleTenants {
			b.Fatalf("%d tenants loaded, want %d", n, scaleTenants)
		}
	}
	b.StopTimer()
	reportHeap(b)
	runtime.KeepAlive(e)
}

// BenchmarkReloadOneOfTenants1000 changes one tenant's file of 1,000 and
// reloads, as the watcher does after the debounce.
func BenchmarkReloadOneOfTenants1000(b *testing.B) {
	dir, first := scaleDir(b)
	ctx := context.Background()
	e, l := newScaleLoader(dir)
	if _, err := l.Load(ctx); err != nil {
		b.Fatal(err)
	}
	src, err := os.ReadFile(first)
	if err != nil {
		b.Fatal(err)
	}
	// Alternate between two timeouts so every reload is a new revision.
	timeouts := [2]string{"inactivity_timeout: 4h\n", "inactivity_timeout: 3h\n"}
	b.ResetTimer()
	i := 0
	for b.Loop() {
		i++
		body := strings.Replace(string(src), timeouts[0], timeouts[i%2], 1)
		if err := os.WriteFile(first, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
		before := e.Revision()
		if _, err := l.Load(ctx); err != nil {
			b.Fatal(err)
		}
		if e.Revision() == before {
			b.Fatal("the changed tenant did not make a new revision")
		}
	}
	b.StopTimer()
	reportHeap(b)
	runtime.KeepAlive(e)
}
