package benchkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

// ScaleTenants is the tenant count of issue 11's scale target, each
// tenant with three environments.
const ScaleTenants = 1000

// scaleTimeouts alternate in the changed tenant's file, so that every
// change is a new policy.
var scaleTimeouts = [2]string{"inactivity_timeout: 4h\n", "inactivity_timeout: 3h\n"}

// Scale is a directory of many copies of one tenant, loaded the way `pdp
// serve` loads its tenants: a reload.Loader over the policy directories
// and the tenants directory, feeding a new engine, the files watched.
type Scale struct {
	root  string   // holds tenants/ and the files about to replace one
	files []string // the tenant files, in order
	flip  int      // which of scaleTimeouts the first file holds

	loader   *reload.Loader
	watching *reload.Watching
	stop     context.CancelFunc
	loads    loadOutcomes // every load's outcome, from the loader
}

// loaded is one load's outcome.
type loaded struct {
	revision string
	tenants  int
	ok       bool
}

// NewScale writes n copies of the tenant file src (the demo tenant acme),
// named t0000 to t<n-1>, each cut to its production, staging and
// development environments, into root/tenants. root must exist and be
// left to the Scale.
func NewScale(src, root string, n int) (*Scale, error) {
	body, err := os.ReadFile(src)
	if err != nil {
		return nil, err
	}
	name := strings.TrimSuffix(filepath.Base(src), filepath.Ext(src))
	// The sandbox environment is the last block of acme's file: cutting
	// it leaves exactly three.
	base, _, found := strings.Cut(string(body), "\n  sandbox:\n")
	if !found {
		return nil, fmt.Errorf("%s: no sandbox environment to cut", src)
	}
	base += "\n"
	if !strings.Contains(base, scaleTimeouts[0]) {
		return nil, fmt.Errorf("%s: no %q to change", src, strings.TrimSpace(scaleTimeouts[0]))
	}
	dir := filepath.Join(root, "tenants")
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, err
	}
	s := &Scale{root: root, files: make([]string, n)}
	for i := range n {
		tenant := fmt.Sprintf("t%04d", i)
		copied := strings.Replace(base, "tenant: "+name+"\n", "tenant: "+tenant+"\n", 1)
		s.files[i] = filepath.Join(dir, tenant+".yaml")
		if err := os.WriteFile(s.files[i], []byte(copied), 0o644); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Dir is the directory of the tenant files.
func (s *Scale) Dir() string { return filepath.Join(s.root, "tenants") }

// Load loads the Rego modules of policyDirs and every tenant file into a
// new engine, as `pdp serve` does at start (the watch registered first),
// and returns the wall time of the load. A Scale loaded before is closed
// first.
func (s *Scale) Load(ctx context.Context, policyDirs []string) (time.Duration, error) {
	if err := s.Close(); err != nil {
		return 0, err
	}
	loads := make(loadOutcomes, 16)
	s.loads = loads
	s.loader = reload.New(engine.New(engine.Options{}), reload.Options{
		PolicyDirs: policyDirs,
		TenantsDir: s.Dir(),
		Metrics:    loadOutcomes(loads),
		OnLoad:     func(set reload.Set) { loads.send(loaded{revision: set.Revision, tenants: len(set.Tenants), ok: true}) },
	})
	var err error
	if s.watching, err = s.loader.StartWatch(); err != nil {
		return 0, err
	}
	start := time.Now()
	_, err = s.loader.Load(ctx)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	got, err := s.next(ctx)
	if err != nil {
		return 0, err
	}
	if got.tenants != len(s.files) {
		return 0, fmt.Errorf("%d tenants loaded, want %d", got.tenants, len(s.files))
	}
	watchCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	s.stop = stop
	// The goroutine gets its own copy: Close clears s.watching, maybe
	// before the goroutine starts.
	ws := s.watching
	go func() { _ = ws.Run(watchCtx) }()
	return took, nil
}

// ReloadOne changes the first tenant's file (its inactivity timeout),
// replacing it whole as editors and deployment tools do, and returns the
// wall time from the change until the watcher has loaded the new set, as
// it does in `pdp serve` with no debounce.
func (s *Scale) ReloadOne(ctx context.Context) (time.Duration, error) {
	if s.loader == nil {
		return 0, errors.New("benchkit: ReloadOne before Load")
	}
	for len(s.loads) > 0 { // outcomes nobody waited for
		<-s.loads
	}
	before := s.loader.Current().Revision
	first := s.files[0]
	body, err := os.ReadFile(first)
	if err != nil {
		return 0, err
	}
	changed := strings.Replace(string(body), scaleTimeouts[s.flip], scaleTimeouts[1-s.flip], 1)
	// Written beside the tenants directory, then renamed into it: the
	// watcher sees one event for a complete file.
	next := filepath.Join(s.root, filepath.Base(first))
	if err := os.WriteFile(next, []byte(changed), 0o644); err != nil {
		return 0, err
	}
	start := time.Now()
	if err := os.Rename(next, first); err != nil {
		return 0, err
	}
	got, err := s.next(ctx)
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	s.flip = 1 - s.flip
	if got.revision == before {
		return 0, errors.New("benchkit: the changed tenant made no new revision")
	}
	return took, nil
}

// next waits for the loader's next load.
func (s *Scale) next(ctx context.Context) (loaded, error) {
	select {
	case got := <-s.loads:
		if !got.ok {
			return got, errors.New("benchkit: the loader rejected the set")
		}
		return got, nil
	case <-ctx.Done():
		return loaded{}, ctx.Err()
	}
}

// Close stops watching the files; the set loaded stays in memory until
// the Scale is dropped or loaded again.
func (s *Scale) Close() error {
	if s.stop != nil {
		s.stop()
		s.stop = nil
		s.watching = nil
	}
	if s.watching != nil { // loaded, but the watch never ran
		err := s.watching.Close()
		s.watching = nil
		return err
	}
	return nil
}

// loadOutcomes receive every load's outcome: a failed one as
// reload.Metrics, a successful one with its set through OnLoad.
type loadOutcomes chan loaded

// RecordReload implements reload.Metrics.
func (c loadOutcomes) RecordReload(ok bool) {
	if !ok {
		c.send(loaded{})
	}
}

// send never blocks the loader: an outcome nobody waits for is dropped
// when the buffer is full.
func (c loadOutcomes) send(l loaded) {
	select {
	case c <- l:
	default:
	}
}
