package engine

// The compiled residual's evaluation: steps, operands, patterns and the
// frame they share. See compiled.go.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/topdown/builtins"
)

// frame is one evaluation's state: variables in slots, rule values
// memoised, and the built-in context. Frames are pooled per program.
type frame struct {
	p     *program
	input *ast.Term
	slots []*ast.Term
	// trail lists the slots bound, for undoing on backtracking.
	trail []int
	memo  []memo
	// calls are the functions' results by arguments, as topdown's
	// virtual cache keeps them; indexed like memo.
	calls [][]callResult
	flags []bool
	accs  []acc
	// stack holds call operands.
	stack []*ast.Term
	// out and outs capture a built-in's result.
	out     *ast.Term
	outs    int
	capture func(*ast.Term) error
	bctx    topdown.BuiltinContext
	bcache  builtins.Cache
	cancel  topdown.Cancel
	results rego.ResultSet
	// steps counts enumerations between cancellation checks.
	steps int
}

// memo is a rule set's value in one evaluation (or a function's value
// while it is computed).
type memo struct {
	state uint8
	val   *ast.Term
	set   ast.Set
}

const (
	memoNone uint8 = iota
	memoBusy
	memoDone
)

// callResult is one function call's arguments and result.
type callResult struct {
	args []*ast.Term
	val  *ast.Term
}

// acc collects a comprehension's elements.
type acc struct {
	elems []*ast.Term
	set   ast.Set
	obj   ast.Object
}

var noOpMetrics = metrics.NoOp()

func newFrame(p *program) *frame {
	fr := &frame{
		p:      p,
		slots:  make([]*ast.Term, p.slots),
		memo:   make([]memo, p.memos),
		calls:  make([][]callResult, p.memos),
		flags:  make([]bool, p.flags),
		accs:   make([]acc, p.accs),
		bcache: builtins.Cache{},
	}
	fr.capture = fr.captureOut
	return fr
}

func (fr *frame) captureOut(t *ast.Term) error {
	fr.outs++
	fr.out = t
	return nil
}

// errCompiledPanic is the error of a compiled evaluation that panicked.
var errCompiledPanic = errors.New("compiled residual: panic")

// errCompiledUnbound is an internal error: a variable the compiler took
// for bound was not. The request is then decided by topdown.
var errCompiledUnbound = errors.New("compiled residual: a variable is unbound")

// eval evaluates the program for one input. An error other than the
// context's end means topdown must decide (compiled.go); so does a panic,
// which is an error here (the frame is dropped).
func (p *program) eval(ctx context.Context, input ast.Value, cancel topdown.Cancel) (rs rego.ResultSet, err error) {
	defer func() {
		if r := recover(); r != nil {
			rs, err = nil, fmt.Errorf("%w: %v", errCompiledPanic, r)
		}
	}()
	fr := p.frames.Get().(*frame)
	fr.input = ast.NewTerm(input)
	fr.cancel = cancel
	fr.bctx = topdown.BuiltinContext{
		Context:                     ctx,
		Metrics:                     noOpMetrics,
		Cancel:                      cancel,
		Cache:                       fr.bcache,
		InterQueryBuiltinValueCache: p.valueCache,
		Capabilities:                p.capabilities,
	}
	err = p.query.from(fr, 0, queryKont{})
	rs = fr.results
	fr.reset(err != nil)
	p.frames.Put(fr)
	if err != nil {
		return nil, err
	}
	return rs, nil
}

// reset readies a frame for the next evaluation. Slots are unbound by
// the steps as they backtrack; after an error they are cleared.
func (fr *frame) reset(failed bool) {
	if failed {
		clear(fr.slots)
		fr.trail = fr.trail[:0]
		clear(fr.flags)
	}
	clear(fr.memo)
	for i, cs := range fr.calls {
		if len(cs) > 0 {
			clear(cs)
			fr.calls[i] = cs[:0]
		}
	}
	for i := range fr.accs {
		fr.accs[i] = acc{elems: fr.accs[i].elems[:0]}
	}
	clear(fr.stack[:cap(fr.stack)])
	fr.stack = fr.stack[:0]
	clear(fr.bcache)
	fr.input, fr.out, fr.outs, fr.results, fr.cancel = nil, nil, 0, nil, nil
	fr.bctx = topdown.BuiltinContext{}
}

func (fr *frame) bind(slot int, v *ast.Term) {
	fr.slots[slot] = v
	fr.trail = append(fr.trail, slot)
}

func (fr *frame) undo(mark int) {
	for _, s := range fr.trail[mark:] {
		fr.slots[s] = nil
	}
	fr.trail = fr.trail[:mark]
}

// cancelled checks the evaluation's cancellation, as topdown does before
// each expression.
func (fr *frame) cancelled() error {
	if fr.cancel != nil && fr.cancel.Cancelled() {
		err := &topdown.Error{Code: topdown.CancelErr, Message: "caller cancelled query execution"}
		if ctx := fr.bctx.Context; ctx != nil && ctx.Err() != nil {
			err.Message = ctx.Err().Error()
		}
		return err
	}
	return nil
}

// tick counts one enumerated element and checks cancellation now and then.
func (fr *frame) tick() error {
	fr.steps++
	if fr.steps&255 == 0 {
		return fr.cancelled()
	}
	return nil
}

// body is a compiled body: its steps in order.
type body struct{ steps []step }

// from runs the body from step i; k is called for each solution.
func (b *body) from(fr *frame, i int, k kont) error {
	if i == len(b.steps) {
		return k.done(fr)
	}
	return b.steps[i].run(fr, b, i, k)
}

// step is one compiled expression: for each of its solutions it binds
// its variables and runs the rest of the body.
type step interface {
	run(fr *frame, b *body, i int, k kont) error
}

// kont is what a body does with a solution.
type kont interface {
	done(fr *frame) error
}

// failStep never holds (a constant expression that is false).
type failStep struct{}

func (failStep) run(*frame, *body, int, kont) error { return nil }

// truthStep holds when its operand is defined and not false.
type truthStep struct{ op operand }

func (s *truthStep) run(fr *frame, b *body, i int, k kont) error {
	v, err := s.op.eval(fr)
	if err != nil || v == nil {
		return err
	}
	if isFalse(v) {
		return nil
	}
	return b.from(fr, i+1, k)
}

func isFalse(v *ast.Term) bool {
	f, ok := v.Value.(ast.Boolean)
	return ok && !bool(f)
}

// eqStep compares two defined operands. Both are evaluated, whichever
// is undefined: topdown may evaluate either first.
type eqStep struct{ a, b operand }

func (s *eqStep) run(fr *frame, b *body, i int, k kont) error {
	x, err := s.a.eval(fr)
	if err != nil {
		return err
	}
	y, err := s.b.eval(fr)
	if err != nil || x == nil || y == nil {
		return err
	}
	if !x.Equal(y) {
		return nil
	}
	return b.from(fr, i+1, k)
}

// matchStep matches a pattern against a defined operand.
type matchStep struct {
	op  operand
	pat pattern
}

func (s *matchStep) run(fr *frame, b *body, i int, k kont) error {
	v, err := s.op.eval(fr)
	if err != nil || v == nil {
		return err
	}
	mark := len(fr.trail)
	ok, err := s.pat.match(fr, v)
	if ok && err == nil {
		err = b.from(fr, i+1, k)
	}
	fr.undo(mark)
	return err
}

// compareStep is a comparison built-in without output.
type compareStep struct {
	kind int
	a, b operand
}

func (s *compareStep) run(fr *frame, b *body, i int, k kont) error {
	x, err := s.a.eval(fr)
	if err != nil {
		return err
	}
	y, err := s.b.eval(fr)
	if err != nil {
		return err
	}
	if x == nil || y == nil {
		return errCompiledUnbound
	}
	var holds bool
	switch s.kind {
	case cmpEq:
		holds = x.Equal(y)
	case cmpNeq:
		holds = !x.Equal(y)
	case cmpLt:
		holds = x.Value.Compare(y.Value) < 0
	case cmpLte:
		holds = x.Value.Compare(y.Value) <= 0
	case cmpGt:
		holds = x.Value.Compare(y.Value) > 0
	case cmpGte:
		holds = x.Value.Compare(y.Value) >= 0
	}
	if !holds {
		return nil
	}
	return b.from(fr, i+1, k)
}

// callStep calls a built-in through topdown's own implementation.
type callStep struct {
	name string
	f    topdown.BuiltinFunc
	// fast computes the result without the built-in, or returns nil.
	fast func(args []*ast.Term) *ast.Term
	args []operand
	out  pattern
	loc  *ast.Location
}

func (s *callStep) run(fr *frame, b *body, i int, k kont) error {
	mark := len(fr.stack)
	for _, a := range s.args {
		v, err := a.eval(fr)
		if err != nil {
			fr.stack = fr.stack[:mark]
			return err
		}
		fr.stack = append(fr.stack, v)
	}
	fr.out, fr.outs = nil, 0
	var err error
	if s.fast != nil {
		if fr.out = s.fast(fr.stack[mark:]); fr.out != nil {
			fr.outs = 1
		}
	}
	if fr.out == nil {
		fr.bctx.Location = s.loc
		if fr.bctx.Time == nil {
			fr.bctx.Time = ast.NewTerm(ast.Number(strconv.FormatInt(time.Now().UnixNano(), 10)))
		}
		err = s.f(fr.bctx, fr.stack[mark:], fr.capture)
	}
	clear(fr.stack[mark:])
	fr.stack = fr.stack[:mark]
	out, outs := fr.out, fr.outs
	fr.out = nil
	if err != nil {
		var halt topdown.Halt
		if errors.As(err, &halt) {
			return halt.Err
		}
		if fr.p.strict {
			return err
		}
		return nil
	}
	if outs > 1 {
		return fmt.Errorf("compiled residual: built-in %s returned %d values", s.name, outs)
	}
	if out == nil {
		return nil
	}
	if s.out == nil {
		if isFalse(out) {
			return nil
		}
		return b.from(fr, i+1, k)
	}
	tm := len(fr.trail)
	ok, err := s.out.match(fr, out)
	if ok && err == nil {
		err = b.from(fr, i+1, k)
	}
	fr.undo(tm)
	return err
}

// funcStep calls a support function.
type funcStep struct {
	fn   *function
	args []operand
	out  pattern
}

func (s *funcStep) run(fr *frame, b *body, i int, k kont) error {
	mark := len(fr.stack)
	for _, a := range s.args {
		v, err := a.eval(fr)
		if err != nil || v == nil {
			fr.stack = fr.stack[:mark]
			return err
		}
		fr.stack = append(fr.stack, v)
	}
	args := fr.stack[mark : mark+len(s.args)]
	v, cached := s.fn.cached(fr, args)
	var err error
	if !cached {
		v, err = s.fn.call(fr, args)
	}
	if err != nil || v == nil {
		clear(fr.stack[mark:])
		fr.stack = fr.stack[:mark]
		return err
	}
	if s.out == nil {
		if !cached {
			s.fn.remember(fr, args, v)
		}
		clear(fr.stack[mark:])
		fr.stack = fr.stack[:mark]
		if isFalse(v) {
			return nil
		}
		return b.from(fr, i+1, k)
	}
	tm := len(fr.trail)
	ok, err := s.out.match(fr, v)
	if ok && err == nil && !cached {
		// topdown keeps a rule's value only when it matched the output.
		s.fn.remember(fr, args, v)
	}
	clear(fr.stack[mark:])
	fr.stack = fr.stack[:mark]
	if ok && err == nil {
		err = b.from(fr, i+1, k)
	}
	fr.undo(tm)
	return err
}

// cached is the result of an earlier call of fn with equal arguments in
// this evaluation. topdown answers such a call from its virtual cache,
// which compares arguments as values: f(1.0) after f(1) gives f(1)'s
// result even where the two would differ (json.marshal, sprintf).
func (fn *function) cached(fr *frame, args []*ast.Term) (*ast.Term, bool) {
next:
	for _, c := range fr.calls[fn.memo] {
		for j, a := range c.args {
			if !a.Equal(args[j]) {
				continue next
			}
		}
		return c.val, true
	}
	return nil, false
}

func (fn *function) remember(fr *frame, args []*ast.Term, v *ast.Term) {
	fr.calls[fn.memo] = append(fr.calls[fn.memo], callResult{args: slices.Clone(args), val: v})
}

// notStep holds when its expression has no solution. Like topdown, it
// enumerates every solution of the expression.
type notStep struct {
	inner *body
	flag  int
	k     *notKont
}

func (s *notStep) run(fr *frame, b *body, i int, k kont) error {
	fr.flags[s.flag] = false
	if err := s.inner.from(fr, 0, s.k); err != nil {
		return err
	}
	if fr.flags[s.flag] {
		fr.flags[s.flag] = false
		return nil
	}
	return b.from(fr, i+1, k)
}

// everyStep holds when the body holds for every key and value of the
// domain (topdown's evalEvery): a domain that is not a collection fails;
// the bodies are evaluated in the domain's order until one fails.
type everyStep struct {
	domain     operand
	key, value pattern
	body       *body
	flag       int
	k          *notKont
}

func (s *everyStep) run(fr *frame, b *body, i int, k kont) error {
	d, err := s.domain.eval(fr)
	if err != nil || d == nil {
		return err
	}
	all := true
	each := func(key, val *ast.Term) error {
		if !all {
			return nil
		}
		if err := fr.tick(); err != nil {
			return err
		}
		mark := len(fr.trail)
		ok := true
		if s.key != nil {
			ok, err = s.key.match(fr, key)
		}
		if ok && err == nil && s.value != nil {
			ok, err = s.value.match(fr, val)
		}
		if ok && err == nil {
			fr.flags[s.flag] = false
			err = s.body.from(fr, 0, s.k)
			if err == nil && !fr.flags[s.flag] {
				all = false
			}
			fr.flags[s.flag] = false
		}
		fr.undo(mark)
		return err
	}
	switch x := d.Value.(type) {
	case *ast.Array:
		for idx := range x.Len() {
			if err := each(ast.InternedTerm(idx), x.Elem(idx)); err != nil {
				return err
			}
		}
	case ast.Object:
		ki := x.KeysIterator()
		for key, more := ki.Next(); more; key, more = ki.Next() {
			if err := each(key, x.Get(key)); err != nil {
				return err
			}
		}
	case ast.Set:
		for _, elem := range x.Slice() {
			if err := each(elem, elem); err != nil {
				return err
			}
		}
	default:
		return nil
	}
	if !all {
		return nil
	}
	return b.from(fr, i+1, k)
}

type notKont struct{ flag int }

func (k *notKont) done(fr *frame) error {
	fr.flags[k.flag] = true
	return nil
}

// enumStep enumerates a ref with unbound keys and matches each value
// against the other side of the expression. When the other side is an
// operand, it is evaluated first, once: topdown evaluates a ref on the
// other side before enumerating, so it does even when there is nothing
// to enumerate.
type enumStep struct {
	ref   *refEnum
	other pattern
	// pre is the other side when it is an operand to evaluate.
	pre operand
	// lookup: the other side is a value (no ref in it), so a set at the
	// ref's last key is looked up, not enumerated (topdown's fast path,
	// which binds the key to the value as the other side writes it).
	lookup bool
}

type refEnum struct {
	head operand
	keys []refKey
}

// refKey is one key of an enumerated ref: bound (op) or a pattern.
type refKey struct {
	op    operand
	pat   pattern
	isVar bool
}

func (s *enumStep) run(fr *frame, b *body, i int, k kont) error {
	other := s.other
	if s.pre != nil {
		x, err := s.pre.eval(fr)
		if err != nil {
			return err
		}
		if x == nil {
			// Undefined; the ref is still evaluated, as topdown may.
			_, err := s.ref.head.eval(fr)
			return err
		}
		other = constPattern{t: x}
	}
	v, err := s.ref.head.eval(fr)
	if err != nil || v == nil {
		return err
	}
	return s.walk(fr, b, i, k, v, 0, other)
}

func (s *enumStep) walk(fr *frame, b *body, i int, k kont, cur *ast.Term, pos int, other pattern) error {
	if pos == len(s.ref.keys) {
		mark := len(fr.trail)
		ok, err := other.match(fr, cur)
		if ok && err == nil {
			err = b.from(fr, i+1, k)
		}
		fr.undo(mark)
		return err
	}
	key := s.ref.keys[pos]
	if key.op != nil {
		kv, err := key.op.eval(fr)
		if err != nil || kv == nil {
			return err
		}
		next := lookup(cur, kv)
		if next == nil {
			return nil
		}
		return s.walk(fr, b, i, k, next, pos+1, other)
	}
	switch x := cur.Value.(type) {
	case *ast.Array:
		if !key.isVar {
			// topdown enumerates an array only for a variable key.
			return nil
		}
		for idx := range x.Len() {
			if err := fr.tick(); err != nil {
				return err
			}
			mark := len(fr.trail)
			ok, err := key.pat.match(fr, ast.InternedTerm(idx))
			if ok && err == nil {
				err = s.walk(fr, b, i, k, x.Elem(idx), pos+1, other)
			}
			fr.undo(mark)
			if err != nil {
				return err
			}
		}
	case ast.Object:
		ki := x.KeysIterator()
		for key2, more := ki.Next(); more; key2, more = ki.Next() {
			if err := fr.tick(); err != nil {
				return err
			}
			mark := len(fr.trail)
			ok, err := key.pat.match(fr, key2)
			if ok && err == nil {
				err = s.walk(fr, b, i, k, x.Get(key2), pos+1, other)
			}
			fr.undo(mark)
			if err != nil {
				return err
			}
		}
	case ast.Set:
		if want, ok := other.(constPattern); ok && s.lookup && pos == len(s.ref.keys)-1 {
			if !x.Contains(want.t) {
				return nil
			}
			mark := len(fr.trail)
			ok, err := key.pat.match(fr, want.t)
			if ok && err == nil {
				err = s.walk(fr, b, i, k, want.t, pos+1, other)
			}
			fr.undo(mark)
			return err
		}
		for _, elem := range x.Slice() {
			if err := fr.tick(); err != nil {
				return err
			}
			mark := len(fr.trail)
			ok, err := key.pat.match(fr, elem)
			if ok && err == nil {
				err = s.walk(fr, b, i, k, elem, pos+1, other)
			}
			fr.undo(mark)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// lookup is topdown's evalTerm.get: a set gives the key it contains, an
// object or an array the value under the key.
func lookup(v, key *ast.Term) *ast.Term {
	switch x := v.Value.(type) {
	case ast.Set:
		if x.Contains(key) {
			return key
		}
	case ast.Object:
		return x.Get(key)
	case *ast.Array:
		return x.Get(key)
	}
	return nil
}

// operand is a term whose variables are bound; nil is undefined.
type operand interface {
	eval(fr *frame) (*ast.Term, error)
}

type constOp struct{ t *ast.Term }

func (o constOp) eval(*frame) (*ast.Term, error) { return o.t, nil }

type slotOp struct{ slot int }

func (o slotOp) eval(fr *frame) (*ast.Term, error) {
	v := fr.slots[o.slot]
	if v == nil {
		return nil, errCompiledUnbound
	}
	return v, nil
}

type inputOp struct{}

func (inputOp) eval(fr *frame) (*ast.Term, error) { return fr.input, nil }

type arrayOp struct{ elems []operand }

func (o arrayOp) eval(fr *frame) (*ast.Term, error) {
	ts := make([]*ast.Term, len(o.elems))
	for i, e := range o.elems {
		v, err := e.eval(fr)
		if err != nil || v == nil {
			return nil, err
		}
		ts[i] = v
	}
	return ast.ArrayTerm(ts...), nil
}

type objectOp struct{ keys, vals []operand }

func (o objectOp) eval(fr *frame) (*ast.Term, error) {
	obj := ast.NewObjectWithCapacity(len(o.keys))
	for i := range o.keys {
		k, err := o.keys[i].eval(fr)
		if err != nil || k == nil {
			return nil, err
		}
		v, err := o.vals[i].eval(fr)
		if err != nil || v == nil {
			return nil, err
		}
		obj.Insert(k, v)
	}
	return ast.NewTerm(obj), nil
}

type setOp struct{ elems []operand }

func (o setOp) eval(fr *frame) (*ast.Term, error) {
	s := ast.NewSetWithCapacity(len(o.elems))
	for _, e := range o.elems {
		v, err := e.eval(fr)
		if err != nil || v == nil {
			return nil, err
		}
		s.Add(v)
	}
	return ast.NewTerm(s), nil
}

// refOp looks a ref up; every key is bound.
type refOp struct {
	head operand
	keys []operand
}

func (o refOp) eval(fr *frame) (*ast.Term, error) {
	v, err := o.head.eval(fr)
	if err != nil || v == nil {
		return nil, err
	}
	for _, k := range o.keys {
		kv, err := k.eval(fr)
		if err != nil || kv == nil {
			return nil, err
		}
		if v = lookup(v, kv); v == nil {
			return nil, nil
		}
	}
	return v, nil
}

// ruleOp is a support rule's value.
type ruleOp struct{ rs *ruleSet }

func (o ruleOp) eval(fr *frame) (*ast.Term, error) { return o.rs.value(fr) }

const (
	compArray = iota
	compSet
	compObject
)

// compOp is a comprehension: its body's solutions collected.
type compOp struct {
	kind        int
	body        *body
	head, value operand
	acc         int
	k           *compKont
}

func (o *compOp) eval(fr *frame) (*ast.Term, error) {
	if err := fr.cancelled(); err != nil {
		return nil, err
	}
	a := &fr.accs[o.acc]
	a.elems = a.elems[:0]
	a.set, a.obj = nil, nil
	if err := o.body.from(fr, 0, o.k); err != nil {
		return nil, err
	}
	switch o.kind {
	case compArray:
		if len(a.elems) == 0 {
			return ast.InternedEmptyArray, nil
		}
		ts := make([]*ast.Term, len(a.elems))
		copy(ts, a.elems)
		clear(a.elems)
		return ast.ArrayTerm(ts...), nil
	case compSet:
		if a.set == nil {
			return ast.InternedEmptySet, nil
		}
		return ast.NewTerm(a.set), nil
	}
	if a.obj == nil {
		return ast.InternedEmptyObject, nil
	}
	return ast.NewTerm(a.obj), nil
}

type compKont struct{ op *compOp }

func (k *compKont) done(fr *frame) error {
	o := k.op
	a := &fr.accs[o.acc]
	h, err := o.head.eval(fr)
	if err != nil {
		return err
	}
	switch o.kind {
	case compArray:
		a.elems = append(a.elems, h)
	case compSet:
		if a.set == nil {
			a.set = ast.NewSet(h)
		} else {
			a.set.Add(h)
		}
	case compObject:
		v, err := o.value.eval(fr)
		if err != nil {
			return err
		}
		if a.obj == nil {
			a.obj = ast.NewObject(ast.Item(h, v))
			return nil
		}
		if exist := a.obj.Get(h); exist != nil && !exist.Equal(v) {
			return errors.New("compiled residual: object comprehension keys must be unique")
		}
		a.obj.Insert(h, v)
	}
	return nil
}

// pattern matches a value, binding its unbound variables.
type pattern interface {
	match(fr *frame, v *ast.Term) (bool, error)
}

type varPattern struct{ slot int }

func (p varPattern) match(fr *frame, v *ast.Term) (bool, error) {
	if cur := fr.slots[p.slot]; cur != nil {
		return cur.Equal(v), nil
	}
	fr.bind(p.slot, v)
	return true, nil
}

type constPattern struct{ t *ast.Term }

func (p constPattern) match(_ *frame, v *ast.Term) (bool, error) { return p.t.Equal(v), nil }

type opPattern struct{ op operand }

func (p opPattern) match(fr *frame, v *ast.Term) (bool, error) {
	x, err := p.op.eval(fr)
	if err != nil || x == nil {
		return false, err
	}
	return x.Equal(v), nil
}

type arrayPattern struct{ elems []pattern }

func (p arrayPattern) match(fr *frame, v *ast.Term) (bool, error) {
	a, ok := v.Value.(*ast.Array)
	if !ok || a.Len() != len(p.elems) {
		return false, nil
	}
	for i, e := range p.elems {
		if ok, err := e.match(fr, a.Elem(i)); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

type objectPattern struct {
	keys []*ast.Term
	vals []pattern
}

func (p objectPattern) match(fr *frame, v *ast.Term) (bool, error) {
	o, ok := v.Value.(ast.Object)
	if !ok || o.Len() != len(p.keys) {
		return false, nil
	}
	for i, k := range p.keys {
		x := o.Get(k)
		if x == nil {
			return false, nil
		}
		if ok, err := p.vals[i].match(fr, x); !ok || err != nil {
			return false, err
		}
	}
	return true, nil
}

// truthyPattern matches every value but false (an expression that is a
// term).
type truthyPattern struct{}

func (truthyPattern) match(_ *frame, v *ast.Term) (bool, error) { return !isFalse(v), nil }

// ruleSet is a complete rule or a partial set, evaluated once per
// evaluation.
type ruleSet struct {
	name      string
	memo      int
	set       bool
	rules     []*compiledRule
	def       *compiledRule
	earlyExit bool
	compiling bool
}

type compiledRule struct {
	params []pattern
	body   *body
	head   operand
	k      kont
	loc    *ast.Location
}

func (rs *ruleSet) value(fr *frame) (*ast.Term, error) {
	m := &fr.memo[rs.memo]
	switch m.state {
	case memoDone:
		return m.val, nil
	case memoBusy:
		return nil, fmt.Errorf("compiled residual: %s is recursive", rs.name)
	}
	m.state = memoBusy
	for _, r := range rs.rules {
		if err := fr.cancelled(); err != nil {
			return nil, err
		}
		err := r.body.from(fr, 0, r.k)
		if err == errStop {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	m = &fr.memo[rs.memo]
	if rs.set {
		m.val = ast.InternedEmptySet
		if m.set != nil {
			m.val = ast.NewTerm(m.set)
		}
		m.set = nil
	} else if m.val == nil && rs.def != nil {
		v, err := rs.def.head.eval(fr)
		if err != nil {
			return nil, err
		}
		m.val = v
	}
	m.state = memoDone
	return m.val, nil
}

// valueKont records a complete rule's or a function's value; a second,
// different value is a conflict, as in topdown.
type valueKont struct {
	memo      int
	r         *compiledRule
	earlyExit bool
}

func (k *valueKont) done(fr *frame) error {
	v, err := k.r.head.eval(fr)
	if err != nil {
		return err
	}
	m := &fr.memo[k.memo]
	if m.val != nil {
		if !m.val.Equal(v) {
			return fmt.Errorf("compiled residual: conflicting values at %v", k.r.loc)
		}
		return nil
	}
	m.val = v
	if k.earlyExit {
		return errStop
	}
	return nil
}

// setKont adds a partial set rule's element.
type setKont struct {
	rs *ruleSet
	r  *compiledRule
}

func (k *setKont) done(fr *frame) error {
	v, err := k.r.head.eval(fr)
	if err != nil {
		return err
	}
	m := &fr.memo[k.rs.memo]
	if m.set == nil {
		m.set = ast.NewSet(v)
		return nil
	}
	m.set.Add(v)
	return nil
}

// function is a support function.
type function struct {
	name      string
	arity     int
	memo      int
	rules     []*compiledRule
	def       *compiledRule
	compiling bool
}

// call evaluates the function for its arguments: every rule whose
// parameters match, a conflict between two values an error, the default
// when no rule holds.
func (fn *function) call(fr *frame, args []*ast.Term) (*ast.Term, error) {
	m := &fr.memo[fn.memo]
	if m.state == memoBusy {
		return nil, fmt.Errorf("compiled residual: %s is recursive", fn.name)
	}
	m.state, m.val = memoBusy, nil
	err := fn.rulesFor(fr, args, fn.rules)
	m = &fr.memo[fn.memo]
	if err == nil && m.val == nil && fn.def != nil {
		err = fn.rulesFor(fr, args, []*compiledRule{fn.def})
		m = &fr.memo[fn.memo]
	}
	v := m.val
	m.state, m.val = memoNone, nil
	if err != nil {
		return nil, err
	}
	return v, nil
}

func (fn *function) rulesFor(fr *frame, args []*ast.Term, rules []*compiledRule) error {
	for _, r := range rules {
		if err := fr.cancelled(); err != nil {
			return err
		}
		mark := len(fr.trail)
		ok := true
		var err error
		for i, p := range r.params {
			if ok, err = p.match(fr, args[i]); !ok || err != nil {
				break
			}
		}
		if ok && err == nil {
			err = r.body.from(fr, 0, r.k)
		}
		fr.undo(mark)
		if err == errStop {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// queryKont records one solution of the query: its output variables.
type queryKont struct{}

func (queryKont) done(fr *frame) error {
	b := make(rego.Vars, len(fr.p.outputs))
	for _, o := range fr.p.outputs {
		v := fr.slots[o.slot]
		if v == nil {
			continue
		}
		b[o.name] = v.Value
	}
	fr.results = append(fr.results, rego.Result{Bindings: b})
	return nil
}
