// Package reload reads authors' Rego modules and tenant policy files, loads
// them into the engine as one set, and reloads the set when files change.
// A set that fails to parse, validate or compile, or a tenant policy that
// breaks a compliance profile it declares, is rejected whole: the engine
// keeps serving the last good set, and the error names the file.
package reload

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/compliance"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Engine is what the loader feeds (engine.Engine).
type Engine interface {
	// Load loads a whole set.
	Load(ctx context.Context, b engine.Bundle) (revision string, err error)
	// LoadTenants changes some tenants' data of the set serving: a
	// tenant's new data.tenants entry, or nil to remove it.
	LoadTenants(ctx context.Context, changed map[string]any) (revision string, err error)
	// Revision is the revision serving.
	Revision() string
}

// Metrics counts reloads.
type Metrics interface {
	RecordReload(ok bool)
}

// Options configure a Loader.
type Options struct {
	// PolicyDirs are directories of Rego modules, read recursively
	// (*.rego, except *_test.rego).
	PolicyDirs []string
	// TenantsDir is the directory of tenant policy files; empty for none.
	TenantsDir string
	// Debounce is how long changes must settle before a reload.
	Debounce time.Duration
	// Logger receives reload outcomes.
	Logger *slog.Logger
	// Metrics counts reloads; nil for none.
	Metrics Metrics
	// OnLoad, when set, is called after each successful load with the set
	// that now serves, before Load returns.
	OnLoad func(Set)
	// Stored, when set, returns the tenant policies set through the admin
	// API (package tenantstore), by tenant. They were checked when they
	// were stored, and each overrides the file of the same tenant: files
	// are the baseline, the API the newer, audited path. An error rejects
	// the set, so that a store outage never silently reverts tenants to
	// their files.
	Stored func(ctx context.Context) (map[string]*pdpv1.TenantPolicy, error)
	// StoredTenant, when set beside Stored, returns one tenant's policy
	// set through the API, found false when none is: a load after some
	// tenants' stored policies changed (LoadStoredTenants) reads those
	// alone, and keeps the others of the set serving.
	StoredTenant func(ctx context.Context, tenant string) (p *pdpv1.TenantPolicy, found bool, err error)
}

// Sources of a tenant's policy in Set.Sources.
const (
	// SourceFile is a policy read from a file of Options.TenantsDir.
	SourceFile = "file"
	// SourceAPI is a policy stored through the admin API.
	SourceAPI = "api"
)

// Set is a policy set that loaded successfully.
type Set struct {
	// Revision identifies the set.
	Revision string
	// Tenants is the data.tenants document the engine holds.
	Tenants map[string]any
	// Policies are the tenant policies the document was built from, by
	// tenant; they must not be modified.
	Policies map[string]*pdpv1.TenantPolicy
	// Sources says where each tenant's policy came from: SourceFile or
	// SourceAPI.
	Sources map[string]string
	// Modules are the authors' modules of the set, path to source; they
	// must not be modified.
	Modules map[string]string
	// Changed names the tenants whose entry of Tenants differs from the
	// set loaded before (added, changed or removed), when the set was
	// loaded per tenant; it is nil when the set was loaded whole, and
	// every tenant may have changed. What OnLoad derives from Tenants can
	// be derived again for these tenants only.
	Changed map[string]bool
}

// Loader loads and reloads the policy set.
//
// A load reads every file again (one the watch runs, only the tenant files
// it saw change; see Watching.Run), but when the modules are those of the
// set serving, only the tenants whose policy changed are parsed (a tenant
// file's content differs), reviewed for compliance and converted, and the
// engine changes only their data (engine.Engine.LoadTenants): the
// resulting set is the one a whole load would give, at the cost of the
// change.
type Loader struct {
	opts    Options
	engine  Engine
	mu      sync.Mutex // serialises loads
	loaded  bool       // a set loaded once: a failure leaves it serving
	current atomic.Pointer[Set]
	// watching counts the watches running (Watching.Run).
	watching atomic.Int32

	// Guarded by mu:
	// dir reads the tenant files, parsing only those that changed.
	dir *tenantdata.DirReader
	// reviewed are the tenant files' policies of the set serving, all of
	// which passed the compliance review.
	reviewed map[string]*pdpv1.TenantPolicy
	// unread are the changes the watch reported that no read of the
	// tenant files has covered yet (a load can fail before it reads them).
	unread fileChanges
	// stored are the policies stored through the API of the set serving;
	// nil when they must all be read again (before a load, after a failed
	// one: a change it was to serve may be any tenant's).
	stored map[string]*pdpv1.TenantPolicy
}

// New returns a loader feeding e.
func New(e Engine, opts Options) *Loader {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Loader{opts: opts, engine: e}
	if opts.TenantsDir != "" {
		l.dir = tenantdata.NewDirReader(opts.TenantsDir)
	}
	l.current.Store(&Set{})
	return l
}

// Current is the set loaded last; an empty Set before the first.
func (l *Loader) Current() Set { return *l.current.Load() }

// Lister lists the tenant policies set through the admin API
// (tenantstore.Store).
type Lister interface {
	List(ctx context.Context) ([]*pdpv1.TenantPolicy, error)
}

// StoredIn is Options.Stored over st: its policies by tenant.
func StoredIn(st Lister) func(context.Context) (map[string]*pdpv1.TenantPolicy, error) {
	return func(ctx context.Context) (map[string]*pdpv1.TenantPolicy, error) {
		list, err := st.List(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]*pdpv1.TenantPolicy, len(list))
		for _, p := range list {
			out[p.GetTenant()] = p
		}
		return out, nil
	}
}

// StoredTenantIn is Options.StoredTenant over st: NotFound is no policy.
func StoredTenantIn(st Getter) func(context.Context, string) (*pdpv1.TenantPolicy, bool, error) {
	return func(ctx context.Context, tenant string) (*pdpv1.TenantPolicy, bool, error) {
		p, err := st.Get(ctx, tenant)
		switch {
		case errors.Is(err, fault.ErrNotFound):
			return nil, false, nil
		case err != nil:
			return nil, false, err
		}
		return p, true, nil
	}
}

// Getter reads one tenant's policy set through the admin API
// (tenantstore.Store).
type Getter interface {
	Get(ctx context.Context, tenant string) (*pdpv1.TenantPolicy, error)
}

// Load reads every file and loads the set into the engine once.
func (l *Loader) Load(ctx context.Context) (string, error) { return l.reload(ctx, nil, nil) }

// LoadStored loads the set again after the policies stored through the
// API changed (PutTenantPolicy, another replica's; see Options.Stored).
// It is Load, but while a watch runs (Watching.Run) it reads again only
// the tenant files the watch reported changed: the watch loads the
// changes of the others itself.
func (l *Loader) LoadStored(ctx context.Context) (string, error) {
	return l.loadStored(ctx, nil)
}

// LoadStoredTenants is LoadStored after the stored policies of tenants
// alone changed (PutTenantPolicy, another replica's change of named
// tenants): with Options.StoredTenant, only theirs are read from the
// store. The first load, and the first after a failed one, read every
// stored policy.
func (l *Loader) LoadStoredTenants(ctx context.Context, tenants ...string) (string, error) {
	only := make(map[string]bool, len(tenants))
	for _, t := range tenants {
		only[t] = true
	}
	return l.loadStored(ctx, only)
}

func (l *Loader) loadStored(ctx context.Context, only map[string]bool) (string, error) {
	var seen *fileChanges
	if l.watching.Load() > 0 {
		seen = &fileChanges{}
	}
	return l.reload(ctx, seen, only)
}

// reload is Load; when seen is set, only the tenant files it names may
// have changed since the last load, and when only is set, only the stored
// policies of the tenants it names.
func (l *Loader) reload(ctx context.Context, seen *fileChanges, only map[string]bool) (string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	start := time.Now()
	set, err := l.load(ctx, seen, only)
	if l.opts.Metrics != nil {
		l.opts.Metrics.RecordReload(err == nil)
	}
	if err != nil {
		if l.loaded {
			l.opts.Logger.Error("policy set rejected; the last good set keeps serving", "error", err.Error())
		} else {
			l.opts.Logger.Error("policy set rejected; no policy set is loaded: the server reports not ready "+
				"and answers every Check UNAVAILABLE until a set loads", "error", err.Error())
		}
		return "", err
	}
	l.loaded = true
	l.current.Store(&set)
	if l.opts.OnLoad != nil {
		l.opts.OnLoad(set)
	}
	l.opts.Logger.Info("policy set loaded", "revision", set.Revision, "tenants", len(set.Tenants),
		"duration", time.Since(start).String())
	return set.Revision, nil
}

func (l *Loader) load(ctx context.Context, seen *fileChanges, only map[string]bool) (Set, error) {
	if seen != nil {
		l.unread.add(seen)
	}
	known := l.stored
	l.stored = nil // until this load succeeds
	modules, err := ReadModules(l.opts.PolicyDirs)
	if err != nil {
		return Set{}, err
	}
	policies := map[string]*pdpv1.TenantPolicy{}
	sources := map[string]string{}
	var files map[string]*pdpv1.TenantPolicy
	if l.dir != nil {
		if seen != nil && !l.unread.all {
			files, err = l.dir.ReadChanged(l.unread.files)
		} else {
			files, err = l.dir.Read()
		}
		l.unread = fileChanges{}
		// The files that loaded cleanly must also keep the compliance
		// profiles they declare; every problem of every file is reported.
		// A policy of the set serving passed already.
		reviewed := func(tenant string, p *pdpv1.TenantPolicy) bool { return l.reviewed[tenant] == p }
		if err := errors.Join(err, checkCompliance(ctx, l.opts.TenantsDir, files, reviewed)); err != nil {
			return Set{}, err
		}
		for name, p := range files {
			policies[name], sources[name] = p, SourceFile
		}
	}
	var stored map[string]*pdpv1.TenantPolicy
	if l.opts.Stored != nil {
		if stored, err = l.readStored(ctx, known, only); err != nil {
			return Set{}, fmt.Errorf("reading the tenant policies stored through the API: %w", err)
		}
		for name, p := range stored {
			policies[name], sources[name] = p, SourceAPI
		}
	}
	var (
		tenants map[string]any
		rev     string
		names   map[string]bool
	)
	if prev := l.current.Load(); l.loaded && maps.Equal(modules, prev.Modules) && l.engine.Revision() == prev.Revision {
		var changed map[string]any
		tenants, changed = changedTenants(prev, policies)
		rev, err = l.engine.LoadTenants(ctx, changed)
		names = make(map[string]bool, len(changed))
		for name := range changed {
			names[name] = true
		}
	} else {
		tenants = tenantdata.Data(policies)
		rev, err = l.engine.Load(ctx, engine.Bundle{Modules: modules, Tenants: tenants})
	}
	if err != nil {
		return Set{}, err
	}
	l.reviewed = files
	l.stored = stored
	return Set{Revision: rev, Tenants: tenants, Policies: policies, Sources: sources, Modules: modules, Changed: names}, nil
}

// readStored returns the policies stored through the API: known with the
// tenants of only read again when both are set and Options.StoredTenant
// is, else every one from Options.Stored. known is not modified.
func (l *Loader) readStored(ctx context.Context, known map[string]*pdpv1.TenantPolicy, only map[string]bool) (map[string]*pdpv1.TenantPolicy, error) {
	if known == nil || only == nil || l.opts.StoredTenant == nil {
		return l.opts.Stored(ctx)
	}
	stored := maps.Clone(known)
	for tenant := range only {
		p, found, err := l.opts.StoredTenant(ctx, tenant)
		switch {
		case err != nil:
			return nil, err
		case found:
			stored[tenant] = p
		default:
			delete(stored, tenant)
		}
	}
	return stored, nil
}

// changedTenants returns the data.tenants document of policies, sharing
// the entries of prev's tenants whose policy is unchanged, and the
// entries that differ from prev's: a tenant's new entry, or nil for a
// tenant removed.
func changedTenants(prev *Set, policies map[string]*pdpv1.TenantPolicy) (tenants, changed map[string]any) {
	tenants = make(map[string]any, len(policies))
	changed = map[string]any{}
	for name, p := range policies {
		// A file read again unchanged is the same policy; one stored
		// through the API is read anew each time.
		if old, ok := prev.Policies[name]; ok && (old == p || proto.Equal(old, p)) {
			tenants[name] = prev.Tenants[name]
			continue
		}
		tenants[name] = tenantdata.Effective(p)
		changed[name] = tenants[name]
	}
	for name := range prev.Policies {
		if _, ok := policies[name]; !ok {
			changed[name] = nil
		}
	}
	return tenants, changed
}

// ReadModules reads every *.rego file (except *_test.rego) under dirs,
// keyed by path.
func ReadModules(dirs []string) (map[string]string, error) {
	modules := map[string]string{}
	var errs []error
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				if path != dir && strings.HasPrefix(d.Name(), ".") {
					return filepath.SkipDir
				}
				return nil
			}
			if !engine.IsPolicyFile(d.Name()) {
				return nil
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			modules[path] = string(src)
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("reading policies: %w", err))
		}
	}
	return modules, errors.Join(errs...)
}

// CheckCompliance reviews the tenant policies LoadDir read from dir against
// the compliance profiles each declares (compliance.Review) and
// returns every refusal joined, each beginning with the path of the
// tenant's file, such as
//
//	tenants/acme.yaml: tenant policy breaks a compliance profile it
//	declares: environments.production.compliance: breaks SOX control
//	sox.inactivity (medium severity): ...
func CheckCompliance(ctx context.Context, dir string, policies map[string]*pdpv1.TenantPolicy) error {
	return checkCompliance(ctx, dir, policies, func(string, *pdpv1.TenantPolicy) bool { return false })
}

// checkCompliance is CheckCompliance of the policies not reviewed before.
func checkCompliance(ctx context.Context, dir string, policies map[string]*pdpv1.TenantPolicy, reviewed func(string, *pdpv1.TenantPolicy) bool) error {
	var errs []error
	var files map[string]string // read on the first refusal
	for _, tenant := range slices.Sorted(maps.Keys(policies)) {
		if reviewed(tenant, policies[tenant]) {
			continue
		}
		if err := compliance.Review(ctx, policies[tenant]); err != nil {
			if files == nil {
				files = tenantFiles(dir)
			}
			file, ok := files[tenant]
			if !ok {
				file = fmt.Sprintf("%s (tenant %s)", dir, tenant)
			}
			errs = append(errs, fmt.Errorf("%s: %w", file, err))
		}
	}
	return errors.Join(errs...)
}

// tenantFiles maps each tenant policy file of dir to its path by the file
// name without its extension, which LoadDir requires to be the tenant's
// name. Unreadable directories give an empty map.
func tenantFiles(dir string) map[string]string {
	entries, _ := os.ReadDir(dir)
	files := make(map[string]string, len(entries))
	for _, e := range entries {
		if !tenantdata.IsPolicyFile(e.Name()) {
			continue
		}
		stem := strings.TrimSuffix(e.Name(), filepath.Ext(e.Name()))
		files[stem] = filepath.Join(dir, e.Name())
	}
	return files
}

// Watch reloads the set whenever a watched file changes, until ctx ends.
// Changes are debounced so an editor's burst of writes reloads once. It
// is StartWatch followed by Run.
func (l *Loader) Watch(ctx context.Context) error {
	ws, err := l.StartWatch()
	if err != nil {
		return err
	}
	return ws.Run(ctx)
}

// Watching is a watch registered on the loader's directories; Run acts
// on the changes.
type Watching struct {
	l *Loader
	w *fsnotify.Watcher
}

// StartWatch registers the watch on every policy and tenant directory
// before it returns, so that any change made after it returns is seen by
// Run, even one made before Run starts. Call it before the first Load
// for no change to fall between the load and the watch.
func (l *Loader) StartWatch() (*Watching, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching policy files: %w", err)
	}
	roots := append([]string(nil), l.opts.PolicyDirs...)
	if l.opts.TenantsDir != "" {
		roots = append(roots, l.opts.TenantsDir)
	}
	for _, root := range roots {
		if err := addTree(w, root); err != nil {
			w.Close()
			return nil, fmt.Errorf("watching %s: %w", root, err)
		}
	}
	return &Watching{l: l, w: w}, nil
}

// Close stops watching; Run then returns. It is for a watch that is never
// run; Run closes the watcher itself when ctx ends.
func (ws *Watching) Close() error { return ws.w.Close() }

// Run reloads the set on every debounced change until ctx ends or the
// watch is closed. Such a load reads again only the tenant files the
// watch saw change (and any that is not a regular file), unless a change
// may have gone unseen (the watch's queue overflowed); it still reads
// every module.
func (ws *Watching) Run(ctx context.Context) error {
	l, w := ws.l, ws.w
	defer w.Close()
	l.watching.Add(1)
	defer l.watching.Add(-1)
	var (
		timer   *time.Timer
		pending <-chan time.Time
		seen    = l.newFileChanges()
	)
	debounce := func() {
		if timer == nil {
			timer = time.NewTimer(l.opts.Debounce)
		} else {
			timer.Reset(l.opts.Debounce)
		}
		pending = timer.C
	}
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ev.Has(fsnotify.Create) {
				if st, err := os.Stat(ev.Name); err == nil && st.IsDir() {
					_ = addTree(w, ev.Name)
				}
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			l.noteChange(seen, ev.Name)
			debounce()
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			l.opts.Logger.Warn("file watcher error", "error", err.Error())
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: read everything, soon.
				seen.all = true
				debounce()
			}
		case <-pending:
			pending = nil
			// Files changed, not the stored policies: those reload
			// through LoadStored and LoadStoredTenants.
			_, _ = l.reload(ctx, seen, map[string]bool{})
			seen = l.newFileChanges()
		}
	}
}

// fileChanges are the tenant files a watch saw change since the last load
// it ran.
type fileChanges struct {
	// all is set when a change may have gone unseen: every file is read.
	all bool
	// files are tenant files of Options.TenantsDir, by path as
	// filepath.Join names them.
	files map[string]bool
}

func (l *Loader) newFileChanges() *fileChanges { return &fileChanges{files: map[string]bool{}} }

// add adds the changes of o.
func (c *fileChanges) add(o *fileChanges) {
	c.all = c.all || o.all
	if c.files == nil {
		c.files = map[string]bool{}
	}
	maps.Copy(c.files, o.files)
}

// noteChange records the change of the file at name that the watch
// reported. A name in no directory the loader reads is taken as a sign
// that paths do not compare: every file is read then.
func (l *Loader) noteChange(c *fileChanges, name string) {
	name = filepath.Clean(name)
	if l.opts.TenantsDir != "" {
		dir := filepath.Clean(l.opts.TenantsDir)
		if filepath.Dir(name) == dir {
			// Another name is no tenant file; a tenant file that links
			// elsewhere is read on every load.
			if base := filepath.Base(name); tenantdata.IsPolicyFile(base) {
				c.files[filepath.Join(l.opts.TenantsDir, base)] = true
			}
			return
		}
		if within(dir, name) {
			return
		}
	}
	for _, dir := range l.opts.PolicyDirs {
		if within(filepath.Clean(dir), name) {
			return // modules are read on every load
		}
	}
	c.all = true
}

// within reports whether path is below dir.
func within(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	return err == nil && filepath.IsLocal(rel)
}

func addTree(w *fsnotify.Watcher, root string) error {
	var dirs []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			return err
		}
	}
	return nil
}
