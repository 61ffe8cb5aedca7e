package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/pdp-dev/pdp/server/benchkit"
)

// tenantScaleResult is the load of benchkit.ScaleTenants tenants × 3
// environments and the reload after one of them changed.
type tenantScaleResult struct {
	tenants      int
	load, reload time.Duration
}

// tenantScale writes benchkit.ScaleTenants copies of the demo tenant acme
// cut to three environments, loads them with the demo policies through
// pdp's loader as `pdp serve` does at start, then changes one tenant's
// file and times the watcher's reload. It runs in this process (on the
// generator's core when pinned), the GC tuned as `pdp serve` tunes it.
func (b *bench) tenantScale() (*tenantScaleResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	go benchkit.TuneGC(ctx, 64<<20)

	root := filepath.Join(b.tmp, "tenant-scale")
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(root)
	s, err := benchkit.NewScale(filepath.Join(b.c.root, "server/demo/tenants/acme.yaml"), root, benchkit.ScaleTenants)
	if err != nil {
		return nil, err
	}
	defer func() {
		s.Close()
		s = nil
		runtime.GC() // the set's memory is not the scaling runs'
	}()
	r := &tenantScaleResult{tenants: benchkit.ScaleTenants}
	if r.load, err = s.Load(ctx, []string{filepath.Join(b.c.root, "server/demo/policies")}); err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	if r.reload, err = s.ReloadOne(ctx); err != nil {
		return nil, fmt.Errorf("reload of one tenant: %w", err)
	}
	return r, nil
}

func (r *tenantScaleResult) summary() string {
	return fmt.Sprintf("%d tenants × 3 environments: load %s ms, one tenant's reload %s ms", r.tenants, ms(r.load), ms(r.reload))
}
