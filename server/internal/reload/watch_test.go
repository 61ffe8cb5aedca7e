package reload_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/reload"
)

// A change made after StartWatch returns and before Run starts is picked
// up: the watch is registered synchronously. (The server starts the watch
// before its first load and runs it once its ports listen.)
func TestStartWatchSeesChangesBeforeRun(t *testing.T) {
	t.Parallel()
	dir := copyDemo(t)
	loaded := make(chan reload.Set, 8)
	e := engine.New(engine.Options{})
	l := reload.New(e, reload.Options{TenantsDir: dir, Debounce: 10 * time.Millisecond, OnLoad: func(s reload.Set) { loaded <- s }})
	ws, err := l.StartWatch()
	if err != nil {
		t.Fatal(err)
	}
	first, err := l.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	<-loaded
	initech, err := os.ReadFile(filepath.Join(dir, "initech.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, "newco.yaml"), strings.Replace(string(initech), "tenant: initech", "tenant: newco", 1))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ws.Run(ctx) }()
	select {
	case s := <-loaded:
		if _, ok := s.Policies["newco"]; !ok || s.Revision == first {
			t.Fatalf("reloaded set %s without the new tenant", s.Revision)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the change made before Run was not reloaded")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestStartWatchMissingDirectory(t *testing.T) {
	t.Parallel()
	l := reload.New(engine.New(engine.Options{}), reload.Options{TenantsDir: filepath.Join(t.TempDir(), "missing")})
	if _, err := l.StartWatch(); err == nil {
		t.Fatal("watch started on a missing directory")
	}
}

func TestWatchingCloseEndsRun(t *testing.T) {
	t.Parallel()
	l := reload.New(engine.New(engine.Options{}), reload.Options{TenantsDir: copyDemo(t)})
	ws, err := l.StartWatch()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- ws.Run(context.Background()) }()
	if err := ws.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after Close")
	}
}

// Through the watch, as through Load: two edits of the same size in the
// same second, the file's time set back, are each served.
func TestWatchServesEveryEditOfAFile(t *testing.T) {
	t.Parallel()
	dir := copyDemo(t)
	acme := filepath.Join(dir, "acme.yaml")
	loaded := make(chan reload.Set, 8)
	l := reload.New(engine.New(engine.Options{}), reload.Options{PolicyDirs: []string{demoPolicies}, TenantsDir: dir,
		Debounce: 10 * time.Millisecond, OnLoad: func(s reload.Set) { loaded <- s }})
	ws, err := l.StartWatch()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-loaded
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ws.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	st, err := os.Stat(acme)
	if err != nil {
		t.Fatal(err)
	}
	previous := "4h"
	for _, timeout := range []string{"3h", "2h"} {
		edit(t, acme, "inactivity_timeout: "+previous, "inactivity_timeout: "+timeout)
		if err := os.Chtimes(acme, st.ModTime(), st.ModTime()); err != nil {
			t.Fatal(err)
		}
		previous = timeout
		want, err := loadWhole(t, dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		deadline := time.After(10 * time.Second)
		for got := (reload.Set{}); got.Revision != want.Revision; {
			select {
			case got = <-loaded:
			case <-deadline:
				t.Fatalf("inactivity_timeout %s: the watch did not serve revision %s", timeout, want.Revision)
			}
		}
	}
}

// A tenant file changed while the modules cannot be read is served once
// they can: the failed load read no tenant file.
func TestWatchServesAChangeMadeWhileALoadFails(t *testing.T) {
	t.Parallel()
	dir := copyDemo(t)
	policies := filepath.Join(t.TempDir(), "policies")
	write(t, filepath.Join(policies, "notes.rego"), "package pdp.custom\n\nnotes := 1\n")
	loaded := make(chan reload.Set, 8)
	failed := make(chan struct{}, 8)
	l := reload.New(engine.New(engine.Options{}), reload.Options{PolicyDirs: []string{policies}, TenantsDir: dir,
		Debounce: 10 * time.Millisecond, Metrics: metricsFunc(func(ok bool) {
			if !ok {
				failed <- struct{}{}
			}
		}), OnLoad: func(s reload.Set) { loaded <- s }})
	ws, err := l.StartWatch()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Load(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-loaded
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ws.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	if err := os.RemoveAll(policies); err != nil {
		t.Fatal(err)
	}
	edit(t, filepath.Join(dir, "acme.yaml"), "inactivity_timeout: 4h", "inactivity_timeout: 3h")
	select {
	case <-failed:
	case s := <-loaded:
		t.Fatalf("revision %s loaded without the modules", s.Revision)
	case <-time.After(10 * time.Second):
		t.Fatal("no load failed")
	}
	// The new directory is not watched: a change of another tenant makes
	// the next load.
	write(t, filepath.Join(policies, "notes.rego"), "package pdp.custom\n\nnotes := 1\n")
	edit(t, filepath.Join(dir, "globex.yaml"), "tenant: globex", "tenant: globex # edited")
	want, err := reload.New(engine.New(engine.Options{}), reload.Options{PolicyDirs: []string{policies}, TenantsDir: dir}).Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for got := (reload.Set{}); got.Revision != want; {
		select {
		case got = <-loaded:
		case <-failed:
		case <-deadline:
			t.Fatalf("the watch did not serve revision %s, with acme's change", want)
		}
	}
}

type metricsFunc func(ok bool)

func (f metricsFunc) RecordReload(ok bool) { f(ok) }

// LoadStored serves a change of the stored policies; while a watch runs,
// it leaves the tenant files to the watch, which reads the ones it saw
// change after its debounce.
func TestLoadStoredLeavesTheFilesToARunningWatch(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := copyDemo(t)
	var (
		mu     sync.Mutex
		stored = map[string]*pdpv1.TenantPolicy{}
	)
	list := func(context.Context) (map[string]*pdpv1.TenantPolicy, error) {
		mu.Lock()
		defer mu.Unlock()
		return maps.Clone(stored), nil
	}
	store := func(tenant, plan string) {
		mu.Lock()
		defer mu.Unlock()
		stored[tenant] = &pdpv1.TenantPolicy{Tenant: tenant, Plan: plan, Environments: map[string]*pdpv1.SecurityPolicy{"production": {}}}
	}
	l := reload.New(engine.New(engine.Options{}), reload.Options{PolicyDirs: []string{demoPolicies}, TenantsDir: dir,
		Debounce: time.Hour, Stored: list})
	// hooli's plan, and acme's inactivity timeout in production, in hours.
	plans := func() (hooli, acme any) {
		set := l.Current()
		prod := set.Tenants["acme"].(map[string]any)["environments"].(map[string]any)["production"].(map[string]any)
		return set.Tenants["hooli"].(map[string]any)["plan"], time.Duration(prod["inactivity_timeout_ns"].(int64)).Hours()
	}
	if _, err := l.Load(ctx); err != nil {
		t.Fatal(err)
	}

	// No watch: every file is read.
	store("hooli", "free")
	edit(t, filepath.Join(dir, "acme.yaml"), "inactivity_timeout: 4h", "inactivity_timeout: 3h")
	if _, err := l.LoadStored(ctx); err != nil {
		t.Fatal(err)
	}
	if hooli, acme := plans(); hooli != "free" || acme != 3.0 {
		t.Errorf("without a watch: hooli's plan %v, acme's timeout %vh; want free, 3h", hooli, acme)
	}

	ws, err := l.StartWatch()
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- ws.Run(runCtx) }()
	defer func() {
		cancel()
		<-done
	}()
	for !l.Watched() {
		time.Sleep(time.Millisecond)
	}
	store("hooli", "paid")
	edit(t, filepath.Join(dir, "acme.yaml"), "inactivity_timeout: 3h", "inactivity_timeout: 2h")
	if _, err := l.LoadStored(ctx); err != nil {
		t.Fatal(err)
	}
	if hooli, acme := plans(); hooli != "paid" || acme != 3.0 {
		t.Errorf("with a watch: hooli's plan %v, acme's timeout %vh; want paid, and acme's file left to the watch (3h)", hooli, acme)
	}
}
