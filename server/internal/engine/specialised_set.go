package engine

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// specialisations are one policy set's residuals, one slot per tenant
// environment of its data. The map is fixed when the set is prepared; a
// slot fills once, at load or in the background after the first request
// of its tenant environment, and is read without a lock.
type specialisations struct {
	// spec specialises for this set; nil when specialisation is off.
	spec  *specialiser
	slots map[envKey]*slot
	// count is the slots filled, against the engine's limit.
	count atomic.Int64
	// warm are the slots to fill in the background once the set serves.
	warm []envKey
}

// warmUp hands p's warm slots to the background, once p serves.
func (e *Engine) warmUp(p *prepared) {
	if p.special == nil {
		return
	}
	for _, k := range p.special.warm {
		if sl := p.special.slots[k]; sl.queued.CompareAndSwap(false, true) {
			e.background.add(func() {
				if e.current.Load() == p {
					_ = e.fill(context.Background(), p.special, k)
				}
			})
		}
	}
}

// slot is one tenant environment's residual, or why it has none.
type slot struct {
	sp      atomic.Pointer[specialised]
	refused atomic.Pointer[string]
	// queued is set when the slot is handed to the background.
	queued atomic.Bool
}

// Defaults of Options.SpecialiseAtLoad and Options.SpecialisedLimit.
const (
	defaultSpecialiseAtLoad = 32
	defaultSpecialisedLimit = 4096
)

// newSpecialisations makes the slots of a set and fills those the load
// specialises: first the tenant environments the serving set had
// specialised (they are the ones in use), then the others in name order,
// up to Options.SpecialiseAtLoad.
//
// A set LoadTenants builds keeps the residuals of the tenants change
// leaves alone, when no module reads another tenant's data.
func (e *Engine) newSpecialisations(ctx context.Context, p *prepared, keys []envKey, change tenantChange) error {
	ss := &specialisations{slots: make(map[envKey]*slot, len(keys))}
	p.special = ss
	for _, k := range keys {
		ss.slots[k] = &slot{}
	}
	if e.reference {
		return nil
	}
	spec, err := newSpecialiser(ctx, p.set.Compiler, p.set.Store, e.strict, p.builtins)
	if err != nil {
		return err
	}
	spec.valueCache, spec.evaluators = e.builtins, &e.evaluators
	ss.spec = spec
	if prev := change.previous; prev != nil && prev.special != nil && prev.special.spec != nil && p.modules.tenantLocal {
		for _, k := range keys {
			if change.changed(k.tenant) {
				continue
			}
			if old := prev.special.slots[k]; old != nil {
				if sp := old.sp.Load(); sp != nil {
					ss.slots[k].sp.Store(sp)
					ss.count.Add(1)
				} else if why := old.refused.Load(); why != nil {
					ss.slots[k].refused.Store(why)
				}
			}
		}
	}

	order := make([]envKey, 0, len(keys))
	if old := e.current.Load(); old != nil && old.special != nil {
		for _, k := range keys {
			if sl := old.special.slots[k]; sl != nil && sl.sp.Load() != nil {
				order = append(order, k)
			}
		}
	}
	for _, k := range keys {
		if !slices.Contains(order, k) {
			order = append(order, k)
		}
	}
	if change.previous != nil {
		// One tenant's change: the set serves at once, and the changed
		// tenant environments that were in use are specialised again in
		// the background (warm).
		for _, k := range order {
			if change.changed(k.tenant) && ss.slots[k].sp.Load() == nil && ss.slots[k].refused.Load() == nil {
				if sl := change.previous.special.slots[k]; sl != nil && sl.sp.Load() != nil {
					ss.warm = append(ss.warm, k)
				}
			}
		}
		return nil
	}
	start := time.Now()
	for _, k := range order[:min(len(order), e.atLoad)] {
		left := e.budget - time.Since(start)
		if left <= 0 {
			break // the rest after their first request
		}
		if err := e.fillWithin(ctx, ss, k, left); err != nil {
			return err
		}
	}
	return nil
}

// Partial evaluation computes everything the tenant's data decides, so a
// module looping over known values loops at specialisation: each tenant
// environment gets Options.SpecialiseTimeout, and a load spends at most
// Options.SpecialiseBudget specialising before the set serves.
const (
	defaultSpecialiseTimeout = 10 * time.Second
	defaultSpecialiseBudget  = time.Second
)

// fill specialises one slot; only the context's end is an error.
func (e *Engine) fill(ctx context.Context, ss *specialisations, k envKey) error {
	return e.fillWithin(ctx, ss, k, e.timeout)
}

// fillWithin is fill within limit: a partial evaluation that outlasts a
// limit shorter than Options.SpecialiseTimeout (a load's budget) leaves
// the slot pending, for the background to try again with the whole
// timeout after the set serves.
func (e *Engine) fillWithin(ctx context.Context, ss *specialisations, k envKey, limit time.Duration) error {
	limit = min(limit, e.timeout)
	sl := ss.slots[k]
	if sl.sp.Load() != nil || sl.refused.Load() != nil {
		return nil
	}
	if ss.count.Load() >= int64(e.limit) {
		why := "the engine holds its limit of specialised tenant environments (Options.SpecialisedLimit)"
		sl.refused.Store(&why)
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, limit)
	sp, err := ss.spec.specialise(sctx, k)
	timedOut := sctx.Err() != nil
	cancel()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if timedOut && limit < e.timeout {
		return nil
	}
	if timedOut {
		err = fmt.Errorf("partial evaluation took longer than %v", e.timeout)
	}
	if err != nil {
		why := err.Error()
		sl.refused.Store(&why)
		return nil
	}
	ss.count.Add(1)
	sl.sp.Store(sp)
	return nil
}

// route picks the residual that decides req, or says why the reference
// must. A tenant environment without one yet is handed to the
// background.
func (e *Engine) route(p *prepared, req *decision.Request) (*specialised, string) {
	if req.Explain {
		return nil, FallbackExplain
	}
	env := req.Environment
	if env == "" {
		env = decision.DefaultEnvironment
	}
	k := envKey{req.Tenant, env}
	sl := p.special.slots[k]
	switch {
	case sl == nil:
		return nil, FallbackUnknown
	case p.special.spec == nil:
		return nil, FallbackDisabled
	}
	if sp := sl.sp.Load(); sp != nil {
		return sp, Specialised
	}
	if sl.refused.Load() != nil {
		return nil, FallbackUnspecialisable
	}
	if sl.queued.CompareAndSwap(false, true) {
		e.background.add(func() {
			// A set that no longer serves is not worth the work.
			if e.current.Load() == p {
				_ = e.fill(context.Background(), p.special, k)
			}
		})
	}
	return nil, FallbackPending
}

// serial runs functions one at a time on a goroutine that exits when
// none is left, so that an idle engine holds no goroutine.
type serial struct {
	mu      sync.Mutex
	queue   []func()
	running bool
	// idle is closed and replaced whenever the queue empties (tests).
	idle chan struct{}
}

func (s *serial) add(fn func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queue = append(s.queue, fn)
	if !s.running {
		s.running = true
		go s.run()
	}
}

func (s *serial) run() {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.running = false
			if s.idle != nil {
				close(s.idle)
				s.idle = nil
			}
			s.mu.Unlock()
			return
		}
		fn := s.queue[0]
		s.queue = s.queue[1:]
		s.mu.Unlock()
		fn()
	}
}

// Settle returns when the background has specialised every tenant
// environment queued so far (a load's rest, those first requested since):
// measurements of the steady state start there.
func (e *Engine) Settle() { e.background.wait() }

// wait returns when the queue is empty.
func (s *serial) wait() {
	s.mu.Lock()
	if !s.running {
		s.mu.Unlock()
		return
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
	}
	idle := s.idle
	s.mu.Unlock()
	<-idle
}

// paths counts decisions by the path that made them.
type paths struct {
	specialised atomic.Int64
	fallback    [len(fallbacks)]atomic.Int64
}

func (c *paths) count(path string) {
	if path == Specialised {
		c.specialised.Add(1)
		return
	}
	if i := slices.Index(fallbacks[:], path); i >= 0 {
		c.fallback[i].Add(1)
	}
}

// Paths returns how many decisions each path made since the engine
// started: Specialised, and each fallback reason.
func (e *Engine) Paths() map[string]int64 {
	out := map[string]int64{Specialised: e.paths.specialised.Load()}
	for i, r := range fallbacks {
		out[r] = e.paths.fallback[i].Load()
	}
	return out
}

// Specialisation describes how the serving set decides one tenant
// environment.
type Specialisation struct {
	Tenant, Environment string
	// State is "specialised", "pending" (on its first request, the
	// background specialises it) or "unspecialisable" (Reason says why),
	// or "disabled".
	State  string
	Reason string
	// Rules and Exprs measure a residual: its support rules and the
	// expressions of its query and rule bodies.
	Rules, Exprs int
	// Evaluator is how a specialised tenant environment's residual is
	// evaluated: EvaluatorCompiled, or EvaluatorTopdown when the compiler
	// refused it (EvaluatorReason says why).
	Evaluator, EvaluatorReason string
}

// Specialisations lists the serving set's tenant environments in name
// order.
func (e *Engine) Specialisations() []Specialisation {
	p := e.current.Load()
	if p == nil || p.special == nil {
		return nil
	}
	keys := slices.SortedFunc(maps.Keys(p.special.slots), func(a, b envKey) int {
		if c := strings.Compare(a.tenant, b.tenant); c != 0 {
			return c
		}
		return strings.Compare(a.env, b.env)
	})
	out := make([]Specialisation, 0, len(keys))
	for _, k := range keys {
		sl := p.special.slots[k]
		s := Specialisation{Tenant: k.tenant, Environment: k.env, State: "pending"}
		switch sp, why := sl.sp.Load(), sl.refused.Load(); {
		case p.special.spec == nil:
			s.State = FallbackDisabled
		case sp != nil:
			s.State, s.Rules, s.Exprs = Specialised, sp.rules, sp.exprs
			s.Evaluator = EvaluatorCompiled
			if sp.compiled == nil {
				s.Evaluator, s.EvaluatorReason = EvaluatorTopdown, sp.compiledWhy
			}
		case why != nil:
			s.State, s.Reason = FallbackUnspecialisable, *why
		}
		out = append(out, s)
	}
	return out
}

// envKeys lists the tenant environments of a bundle's tenants.
func envKeys(tenants map[string]any) []envKey {
	var keys []envKey
	for _, tenant := range slices.Sorted(maps.Keys(tenants)) {
		t, _ := tenants[tenant].(map[string]any)
		envs, _ := t["environments"].(map[string]any)
		for _, env := range slices.Sorted(maps.Keys(envs)) {
			keys = append(keys, envKey{tenant, env})
		}
	}
	return keys
}

// SpecialisationCounts counts the serving set's tenant environments by
// the State Specialisations gives them.
func (e *Engine) SpecialisationCounts() map[string]int {
	out := map[string]int{Specialised: 0, FallbackPending: 0, FallbackUnspecialisable: 0, FallbackDisabled: 0}
	p := e.current.Load()
	if p == nil || p.special == nil {
		return out
	}
	for _, sl := range p.special.slots {
		switch {
		case p.special.spec == nil:
			out[FallbackDisabled]++
		case sl.sp.Load() != nil:
			out[Specialised]++
		case sl.refused.Load() != nil:
			out[FallbackUnspecialisable]++
		default:
			out[FallbackPending]++
		}
	}
	return out
}

// logRefusals logs, once per load and reason, the tenant environments
// the whole library decides because they cannot be specialised.
func (e *Engine) logRefusals(ctx context.Context, p *prepared) {
	if p.special == nil {
		return
	}
	byReason := map[string][]string{}
	topdownBy := map[string][]string{}
	for k, sl := range p.special.slots {
		if why := sl.refused.Load(); why != nil {
			byReason[*why] = append(byReason[*why], k.tenant+"/"+k.env)
		}
		if sp := sl.sp.Load(); sp != nil && sp.compiled == nil {
			topdownBy[sp.compiledWhy] = append(topdownBy[sp.compiledWhy], k.tenant+"/"+k.env)
		}
	}
	for _, why := range slices.Sorted(maps.Keys(topdownBy)) {
		names := slices.Sorted(slices.Values(topdownBy[why]))
		e.logger.LogAttrs(ctx, slog.LevelInfo, "tenant environments whose residual topdown evaluates",
			slog.String("reason", why),
			slog.Int("count", len(names)),
			slog.String("first", names[0]))
	}
	for _, why := range slices.Sorted(maps.Keys(byReason)) {
		names := slices.Sorted(slices.Values(byReason[why]))
		e.logger.LogAttrs(ctx, slog.LevelInfo, "tenant environments decided by the whole library",
			slog.String("reason", why),
			slog.Int("count", len(names)),
			slog.String("first", names[0]))
	}
}
