// Package engine evaluates the Rego policy library for one request at a time.
//
// Load compiles the built-in library together with the authors' modules,
// builds an in-memory store holding the tenants' effective policies as
// data.tenants, and prepares the one query the server runs,
// data.pdp.decision. The prepared state is swapped whole behind an
// atomic.Pointer, only when everything succeeded: a broken reload keeps the
// last good set serving. LoadTenants builds the next set from the serving
// one when only some tenants' data changed, compiling nothing again and
// sharing the other tenants' data. Decide reads that pointer once, builds
// the input as an ast.Value straight from the request and validates the
// decision document strictly; anything unexpected is an error, never an
// allow.
//
// The contract between this package and Rego is rego/README.md. The package
// knows nothing of gRPC or the generated protobuf types.
package engine

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/cache"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Options configure an Engine. The zero value is ready to use.
type Options struct {
	// Logger receives load results; nil discards them.
	Logger *slog.Logger
	// Library holds the built-in policy library: every *.rego file in it
	// but *_test.rego is compiled with each bundle. Nil means the library
	// embedded in the binary (pdp.Policies); tests may replace it.
	Library fs.FS
	// LenientBuiltinErrors, when true, makes a failing built-in function
	// (a malformed CIDR, a bad sprintf argument) leave its expression
	// undefined, as OPA does by default. The default fails the whole
	// decision instead, so that a deny rule that errors can never turn into
	// an allow.
	LenientBuiltinErrors bool
	// Now is the clock used when a request carries no time; nil means
	// time.Now.
	Now func() time.Time
	// Reference decides every request with the whole library's
	// data.pdp.decision instead of its tenant environment's specialised
	// residual (specialise.go). The decisions are the same (the
	// differential tests hold them equal); the residuals cost less
	// (bench/README.md, "Issue 11, part 2").
	Reference bool
	// SpecialiseAtLoad is how many tenant environments a load specialises
	// before the new set serves, those the serving set had specialised
	// first; the others are specialised in the background after their
	// first request, which the reference decides. Zero means 32; a
	// negative value, none.
	SpecialiseAtLoad int
	// SpecialiseBudget is the most time a load spends specialising before
	// the new set serves; zero means one second.
	SpecialiseBudget time.Duration
	// SpecialiseTimeout bounds the partial evaluation of one tenant
	// environment (a module looping over the tenant's data loops there);
	// the reference decides a tenant environment that takes longer. Zero
	// means ten seconds.
	SpecialiseTimeout time.Duration
	// SpecialisedLimit bounds the tenant environments a set holds
	// residuals for; the reference decides the others. Zero means 4096.
	SpecialisedLimit int
	// EvalWorkers bounds the evaluations in flight; more Decide calls wait
	// for a free one. Zero means GOMAXPROCS, one per core. See workers.go.
	EvalWorkers int
	// RecentSets is how many of the last served policy sets Evaluate can
	// still use, the serving one included; zero means DefaultRecentSets.
	RecentSets int
}

// Bundle is one policy set: the authors' modules and the tenants' data.
type Bundle struct {
	// Modules are the authors' Rego modules, file path to source. The path
	// names the module in errors ("policies/geo.rego:12: ...") and must not
	// collide with a path of the built-in library.
	Modules map[string]string
	// Tenants become data.tenants: tenant name to { plan, environments },
	// with every default filled in (see rego/README.md). Values must be
	// JSON-like: nil, bool, numbers, string, []any, map[string]any.
	Tenants map[string]any
}

// Engine evaluates decisions against the last successfully loaded bundle.
// It is safe for concurrent use.
type Engine struct {
	logger  *slog.Logger
	library fs.FS
	strict  bool
	now     func() time.Time
	workers *workers
	// reference is Options.Reference.
	reference bool
	// paths counts decisions by path; see Paths.
	paths paths
	// atLoad and limit are Options.SpecialiseAtLoad and
	// SpecialisedLimit, defaults applied.
	atLoad, limit int
	// budget and timeout are Options.SpecialiseBudget and
	// SpecialiseTimeout, defaults applied.
	budget, timeout time.Duration
	// background specialises tenant environments after their first
	// request.
	background serial
	// builtins keeps compiled glob and regex patterns across evaluations
	// and reloads; see builtincache.go.
	builtins cache.InterQueryValueCache
	// evaluators counts residual evaluations by evaluator; see Evaluators.
	evaluators evaluatorCounts

	// loadMu serialises Load so that two reloads cannot interleave.
	loadMu  sync.Mutex
	current atomic.Pointer[prepared]
	// recent holds the last sets that served, newest last, so that a
	// recorded decision can be evaluated again with the set that made it
	// (see Evaluate). Guarded by loadMu.
	recent []*prepared
	// recentSets is Options.RecentSets, the default applied.
	recentSets int
}

// DefaultRecentSets is how many of the last served policy sets Evaluate
// can still use by default. Sets loaded per tenant share the unchanged
// tenants, so each costs about its changed tenants.
const DefaultRecentSets = 8

// prepared is one loaded policy set, immutable once published.
type prepared struct {
	query    rego.PreparedEvalQuery
	revision string
	// set is what packages with queries of their own evaluate; see Current.
	set *Set
	// directory answers Directory; see directory.go.
	directory *directorySet
	// builtins is the engine's built-in value cache.
	builtins rego.EvalOption
	// modules and tenants are what the set was built from; LoadTenants
	// builds the next set from them.
	modules *modules
	tenants *tenantData
	// probed are the tenant environments the set was probed with.
	probed []tenantEnv
	// special holds the tenant environments' residuals (specialise.go).
	special *specialisations
}

// New returns an Engine that is not ready until the first successful Load.
func New(opts Options) *Engine {
	e := &Engine{
		logger:    opts.Logger,
		library:   opts.Library,
		strict:    !opts.LenientBuiltinErrors,
		now:       opts.Now,
		workers:   newWorkers(opts.EvalWorkers),
		reference: opts.Reference,
		atLoad:    opts.SpecialiseAtLoad,
		limit:     opts.SpecialisedLimit,
		budget:    opts.SpecialiseBudget,
		timeout:   opts.SpecialiseTimeout,
		builtins:  newBuiltinCache(),

		recentSets: opts.RecentSets,
	}
	if e.recentSets <= 0 {
		e.recentSets = DefaultRecentSets
	}
	if e.logger == nil {
		e.logger = slog.New(slog.DiscardHandler)
	}
	if e.library == nil {
		e.library = builtinLibrary()
	}
	if e.now == nil {
		e.now = time.Now
	}
	switch {
	case e.atLoad == 0:
		e.atLoad = defaultSpecialiseAtLoad
	case e.atLoad < 0:
		e.atLoad = 0
	}
	if e.limit <= 0 {
		e.limit = defaultSpecialisedLimit
	}
	if e.budget <= 0 {
		e.budget = defaultSpecialiseBudget
	}
	if e.timeout <= 0 {
		e.timeout = defaultSpecialiseTimeout
	}
	return e
}

// Load compiles the library and the bundle's modules, stores the tenants'
// data and prepares data.pdp.decision. On success the new set replaces the
// old one for every later Decide and its revision is returned. On failure
// the last good set keeps serving and the error names the file and line of
// every problem OPA reported.
func (e *Engine) Load(ctx context.Context, b Bundle) (string, error) {
	e.loadMu.Lock()
	defer e.loadMu.Unlock()

	p, err := e.prepare(ctx, b)
	if err != nil {
		e.logger.LogAttrs(ctx, slog.LevelWarn, "policy load failed",
			slog.String("serving_revision", e.Revision()), slog.Any("error", err))
		return "", err
	}
	e.current.Store(p)
	e.remember(p)
	counts := e.SpecialisationCounts()
	e.logger.LogAttrs(ctx, slog.LevelInfo, "policy loaded",
		slog.String("revision", p.revision),
		slog.Int("modules", len(b.Modules)),
		slog.Int("tenants", len(b.Tenants)),
		slog.Int("specialised", counts[Specialised]),
		slog.Int("unspecialisable", counts[FallbackUnspecialisable]),
		slog.Int("pending", counts[FallbackPending]))
	e.logRefusals(ctx, p)
	return p.revision, nil
}

// Set is one loaded policy set, for packages that prepare queries of
// their own against what the engine serves (package compliance): its
// compiled modules, the library's and the authors', and its data
// (data.tenants). Neither may be modified. Every successful Load makes a
// new Set, so a caller may keep what it prepared for one Set until Current
// returns another.
type Set struct {
	Compiler *ast.Compiler
	Store    storage.Store
}

// Current returns the policy set serving now; nil before the first
// successful Load.
func (e *Engine) Current() *Set {
	if p := e.current.Load(); p != nil {
		return p.set
	}
	return nil
}

// Ready reports whether a policy set is loaded.
func (e *Engine) Ready() bool { return e.current.Load() != nil }

// Revision identifies the policy set serving now; empty before the first
// successful Load.
func (e *Engine) Revision() string {
	if p := e.current.Load(); p != nil {
		return p.revision
	}
	return ""
}

// Decide evaluates data.pdp.decision for one validated request, at
// req.Time, which it sets to the clock's time when the request has none. A deny or a
// challenge is a decision, not an error. Errors mean the engine could not
// decide: fault.Unavailable before the first Load, fault.DeadlineExceeded
// when ctx ends first, fault.InvalidArgument when the attributes are not
// JSON-like, fault.Internal when evaluation fails (a built-in error
// included, unless Options.LenientBuiltinErrors) or the policy returns a
// document that does not follow the contract. An error never carries a
// decision, so it can never be mistaken for an allow.
func (e *Engine) Decide(ctx context.Context, req *decision.Request) (*decision.Decision, error) {
	if req == nil {
		return nil, fault.New(fault.InvalidArgument, "no request")
	}
	p := e.current.Load()
	if p == nil {
		return nil, fault.New(fault.Unavailable, "no policy loaded")
	}
	if err := ctx.Err(); err != nil {
		return nil, contextFault(err)
	}

	// A request without a time is decided at the clock's, and keeps it:
	// the decision log records the input exactly as it was evaluated.
	if req.Time.IsZero() {
		req.Time = e.now()
	}
	parts, err := convertParts(req)
	if err != nil {
		return nil, err
	}
	sp, path := e.route(p, req)
	e.paths.count(path)
	if sp != nil {
		// The residual is given only the input it reads.
		return e.decideSpecialised(ctx, p, sp, parts.input(req, req.Time, sp.plan))
	}
	return e.decide(ctx, p, parts.input(req, req.Time, nil))
}

// decideSpecialised evaluates one input with a tenant environment's
// residual and names the decision.
func (e *Engine) decideSpecialised(ctx context.Context, p *prepared, sp *specialised, input ast.Value) (*decision.Decision, error) {
	rs, err := e.workers.eval(ctx, sp, input)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, contextFault(ctxErr)
		}
		return nil, fault.Wrap(err, fault.Internal, "policy evaluation failed")
	}
	d, err := sp.assemble(rs)
	var malformed malformedError
	switch {
	case errors.As(err, &malformed):
		return nil, fault.Wrap(malformed.err, fault.Internal, "policy returned a malformed decision")
	case err != nil:
		return nil, fault.Wrap(err, fault.Internal, "policy evaluation failed")
	}
	return e.name(d, p)
}

// decide evaluates one input with p and names the decision.
func (e *Engine) decide(ctx context.Context, p *prepared, input ast.Value) (*decision.Decision, error) {
	rs, err := e.workers.eval(ctx, p, input)
	if err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, contextFault(ctxErr)
		}
		return nil, fault.Wrap(err, fault.Internal, "policy evaluation failed")
	}
	d, err := parseResultSet(rs)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "policy returned a malformed decision")
	}
	return e.name(d, p)
}

// name gives a decision its id and its policy set's revision.
func (e *Engine) name(d *decision.Decision, p *prepared) (*decision.Decision, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "cannot allocate a decision id")
	}
	d.ID = id.String()
	d.PolicyRevision = p.revision
	return d, nil
}

// noMetrics keeps evaluation from recording timers nobody reads.
var noMetrics = rego.EvalMetrics(metrics.NoOp())

// eval evaluates the decision query for one input. The query is cancelled
// when ctx ends, through a callback rather than the goroutine per query that
// rego starts otherwise.
func (p *prepared) eval(ctx context.Context, input ast.Value) (rego.ResultSet, error) {
	cancel := topdown.NewCancel()
	stop := context.AfterFunc(ctx, cancel.Cancel)
	defer stop()
	return p.query.Eval(ctx, rego.EvalParsedInput(input), noMetrics, rego.EvalExternalCancel(cancel), p.builtins)
}

// contextFault maps the end of the caller's context to a domain error.
func contextFault(err error) error {
	if errors.Is(err, context.Canceled) {
		return fault.Wrap(err, fault.DeadlineExceeded, "request canceled before a decision")
	}
	return fault.Wrap(err, fault.DeadlineExceeded, "deadline exceeded before a decision")
}

// astResult makes evaluation results ast.Values instead of Go values, so
// that the decision is read without a conversion pass.
func astResult(t *ast.Term, _ *rego.EvalContext) (any, error) { return t.Value, nil }
