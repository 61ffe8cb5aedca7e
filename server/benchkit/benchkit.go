// Package benchkit gives the bench module (bench/, `make bench`, its own
// Go module) the pieces of pdp it measures in-process or prepares on disk,
// so that it needs nothing under server/internal: the tenants' data
// document, the engine with the IP lists derived from the tenants, a
// request mapped and enriched as `pdp serve` would, the input document OPA
// is given, the GC tuning of `pdp serve`, a bolt file holding an
// imported deny list, and many tenants loaded and reloaded as `pdp serve`
// loads them (Scale).
//
// It is test support, like package pdptest: it keeps no promise of
// stability to code outside this repository.
package benchkit

import (
	"context"
	"sync"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/engine"
	"github.com/pdp-dev/pdp/server/internal/gctune"
	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/iprules/iprulestest"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// TenantsData loads the tenant files of dir and returns the data.tenants
// document pdp's engine loads (tenant to {plan, environments}).
func TenantsData(dir string) (map[string]any, error) {
	pols, err := tenantdata.LoadDir(dir)
	if err != nil {
		return nil, err
	}
	return tenantdata.Data(pols), nil
}

// TuneGC tunes the garbage collector as `pdp serve --gc-headroom-mb` does,
// with headroom bytes, until ctx ends.
func TuneGC(ctx context.Context, headroom int64) {
	gctune.Run(ctx, gctune.Options{Headroom: headroom})
}

// Engine is pdp's engine holding the built-in library and the tenants of
// one directory, with the IP lists those tenants declare, at a fixed
// clock.
type Engine struct {
	engine *engine.Engine
	ips    *ipset.Set
	now    time.Time
}

// NewEngine loads the tenant files of dir into a new engine whose clock
// is now.
func NewEngine(ctx context.Context, dir string, now time.Time) (*Engine, error) {
	data, err := TenantsData(dir)
	if err != nil {
		return nil, err
	}
	snap, err := ipset.FromTenantPolicies(data)
	if err != nil {
		return nil, err
	}
	e := engine.New(engine.Options{Now: func() time.Time { return now }})
	if _, err := e.Load(ctx, engine.Bundle{Tenants: data}); err != nil {
		return nil, err
	}
	return &Engine{engine: e, ips: ipset.NewSet(snap), now: now}, nil
}

// Request is a check mapped to the engine's request, its signals filled.
type Request struct {
	r *decision.Request
}

// Prepare maps req as the DecisionService does and fills its signals: the
// profile of a known user (KnownUserSignals) and the IP signals of the
// client address as pdp's enricher computes them from the tenants' lists.
func (e *Engine) Prepare(req *pdpv1.CheckRequest) (*Request, error) {
	dr, err := pdpsvc.ToRequest(req, e.now)
	if err != nil {
		return nil, err
	}
	dr.Signals = knownUserSignals(req.GetNetwork().GetCountry())
	if ip := dr.Network.IP; ip.IsValid() {
		dr.Signals.IP = ipSignals(e.ips.Lookup(dr.Tenant, dr.Environment, ip, e.now))
	}
	return &Request{r: dr}, nil
}

// Settle returns when every tenant environment requested so far has been
// specialised in the background (engine.Engine.Settle).
func (e *Engine) Settle() { e.engine.Settle() }

// Decide evaluates one prepared request; a deny is a decision, not an
// error.
func (e *Engine) Decide(ctx context.Context, r *Request) error {
	_, err := e.engine.Decide(ctx, r.r)
	return err
}

// InputJSON is the input document pdp's engine evaluates for req at now
// (engine.InputJSON), with the profile signals of a known user and no IP
// signals: without them the library matches the client address against
// the tenant's allow and deny lists in Rego, as OPA on its own has to.
func InputJSON(req *pdpv1.CheckRequest, now time.Time) (map[string]any, error) {
	dr, err := pdpsvc.ToRequest(req, now)
	if err != nil {
		return nil, err
	}
	dr.Signals = knownUserSignals(req.GetNetwork().GetCountry())
	return engine.InputJSON(dr, func() time.Time { return now })
}

// knownUserSignals are the profile signals of a user with a history: the
// device and the action known, the hour usual, the country seen.
func knownUserSignals(country string) decision.Signals {
	return decision.Signals{
		Profile: decision.ProfileSignals{
			Known: true, DeviceKnown: true, LoginCount: 20,
			Countries: []string{country}, HourUsual: true, ActionSeen: true,
		},
	}
}

// ipSignals are the IP signals of a lookup, as pdp's enricher sets them.
func ipSignals(r ipset.Result) decision.IPSignals {
	s := decision.IPSignals{
		Checked:    true,
		Denied:     r.Deny.Found(),
		Allowed:    r.Allow.Found(),
		Suspicious: r.Suspicious.Found(),
	}
	if s.Denied {
		s.DeniedBy = r.Deny.Description()
	}
	if s.Suspicious {
		s.SuspiciousBy = r.Suspicious.Description()
	}
	return s
}

// denyRules keeps generated deny lists by size, for a run that stores the
// same list twice.
var denyRules = struct {
	sync.Mutex
	bySize map[int][]iprules.Rule
}{bySize: map[int][]iprules.Rule{}}

// SeedDenyList stores n distinct global deny rules in the bolt file at
// path, as an imported feed: the records ImportIPList writes, loaded by
// pdp at start. The rules are iprulestest.FeedRules(n): IPv4 /32s and
// /24s, IPv6 /64s, the same ones for the same n.
func SeedDenyList(ctx context.Context, path string, n int) error {
	denyRules.Lock()
	rules, ok := denyRules.bySize[n]
	if !ok {
		rules = iprulestest.FeedRules(n)
		denyRules.bySize[n] = rules
	}
	denyRules.Unlock()
	st, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		return err
	}
	// One import: its rules are sorted by id and written in one
	// transaction, several times faster than chunks.
	if _, _, err := st.IPRules().Import(ctx, "", "deny", iprules.ImportPrefix+"bench", rules); err != nil {
		st.Close()
		return err
	}
	return st.Close()
}
