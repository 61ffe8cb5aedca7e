package engine

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// Tests of the built-in library as a whole, on generated requests and
// policies: its decisions against a golden file, and the soundness of the
// quiet flags that let the common allow skip the control rules.

var (
	updateGolden = flag.Bool("update", false, "TestLibraryGolden: rewrite testdata/library_golden.txt from the library under test")
	goldenLib    = flag.String("library", "", "TestLibraryGolden: a directory of *.rego to test instead of the embedded library")
)

const goldenFile = "testdata/library_golden.txt"

// libCustom and libExtra are author modules, in package pdp.custom and in
// package pdp, contributing to every set; half of the generated rounds load
// them.
const (
	libCustom = `package pdp.custom

deny contains {"code": "custom.no_exports", "message": "exports are off", "rule": "custom.no_exports"} if {
	data.pdp.action_matches("export.*", input.action.name)
}

challenge contains {"code": "custom.night", "message": "night", "rule": "custom.night", "step_ups": [{"kind": "mfa", "reason_code": "custom.night"}]} if {
	input.attributes.night == true
}

notices contains {"code": "custom.hello", "message": "hi", "rule": "custom.hello"} if input.attributes.hello == true

obligations contains {"kind": "audit", "params": {"action": input.action.name}} if {
	data.pdp.action_matches("*.delete", input.action.name)
}

risk_factors contains {"name": "unusual_time", "weight": 0.45, "detail": "custom"} if input.attributes.risky == true

checks contains {"rule": "custom.no_exports", "code": "custom.no_exports", "effect": "deny", "message": "not an export"} if {
	not data.pdp.action_matches("export.*", input.action.name)
}
`
	libExtra = `package pdp

deny contains {"code": "extra.blocked_resource", "message": "blocked", "rule": "extra.blocked"} if {
	input.action.resource == "/blocked"
}

risk_factors contains {"name": "ip_reputation", "weight": 0.1, "detail": "extra"} if input.attributes.extra == true
`
)

// libraryRounds is the number of generated policy sets of the golden file;
// each is evaluated for libraryCases requests, with and without the
// explanation. The soundness test, which evaluates every case many times,
// takes the first soundRounds.
const (
	libraryRounds = 12
	libraryCases  = 40
	soundRounds   = 6
)

// libraryCase is one generated request and the policy set it runs against.
type libraryCase struct {
	round, index int
	custom       bool
	input        map[string]any
}

// libraryRound is one generated policy set, prepared as the engine
// prepares it, with its compiler and store for other queries.
type libraryRound struct {
	p        *prepared
	compiler *ast.Compiler
	store    storage.Store
	queries  map[string]rego.PreparedEvalQuery
}

// forEachLibraryCase generates the rounds and cases deterministically and
// calls fn for each case.
func forEachLibraryCase(t *testing.T, library fs.FS, rounds int, fn func(r *libraryRound, c libraryCase)) {
	t.Helper()
	g := &gen{state: 0x5eed}
	for round := range rounds {
		g.bias = []float64{0, 0.7, 0.9, 0.95}[round%4]
		custom := round%2 == 1
		tenants := map[string]any{"acme": map[string]any{
			"plan":         "enterprise",
			"environments": map[string]any{"production": g.policy(), "staging": g.policy()},
		}}
		b := Bundle{Tenants: tenants}
		if custom {
			b.Modules = map[string]string{"custom/custom.rego": libCustom, "custom/extra.rego": libExtra}
		}
		p, err := New(Options{Library: library}).prepare(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		sources, err := LibraryModules(library)
		if err != nil {
			t.Fatal(err)
		}
		maps.Copy(sources, b.Modules)
		compiler, err := compile(sources)
		if err != nil {
			t.Fatal(err)
		}
		data, err := ast.InterfaceToValue(map[string]any{"tenants": tenants})
		if err != nil {
			t.Fatal(err)
		}
		r := &libraryRound{p: p, compiler: compiler, store: inmem.NewFromASTObject(data.(ast.Object)),
			queries: map[string]rego.PreparedEvalQuery{}}
		for i := range libraryCases {
			fn(r, libraryCase{round: round, index: i, custom: custom, input: g.input()})
		}
	}
}

// TestLibraryGolden evaluates the library on generated requests and
// policies, with author modules or without, with the explanation and
// without, and compares every decision document (its kind and a hash of
// its canonical JSON) with testdata/library_golden.txt. The file was
// written from the library before its performance rewrite, so the rewrite
// (and any later one) is held to decide exactly as that library did.
//
// A deliberate change of behaviour rewrites the file:
//
//	go test ./server/internal/engine/ -run TestLibraryGolden -args -update
func TestLibraryGolden(t *testing.T) {
	t.Parallel()
	library := builtinLibrary()
	if *goldenLib != "" {
		library = libraryDir(t, *goldenLib)
	}
	var got []string
	ctx := context.Background()
	forEachLibraryCase(t, library, libraryRounds, func(r *libraryRound, c libraryCase) {
		for _, explain := range []bool{false, true} {
			c.input["explain"] = explain
			in, err := ast.InterfaceToValue(c.input)
			if err != nil {
				t.Fatal(err)
			}
			rs, err := r.p.query.Eval(ctx, rego.EvalParsedInput(in))
			got = append(got, fmt.Sprintf("%d/%d/%v %s", c.round, c.index, explain, summary(t, rs, err)))
		}
	})

	if *updateGolden {
		if err := os.WriteFile(goldenFile, []byte(strings.Join(got, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want := readLines(t, goldenFile)
	if len(want) != len(got) {
		t.Fatalf("%d decisions, the golden file has %d", len(got), len(want))
	}
	diffs := 0
	for i := range want {
		if want[i] != got[i] {
			diffs++
			if diffs <= 5 {
				t.Errorf("decision %d: got %q, want %q", i, got[i], want[i])
			}
		}
	}
	if diffs > 0 {
		t.Errorf("%d of %d decisions differ", diffs, len(want))
	}
}

// summary is the decision kind and the hash of the canonical JSON of the
// document, or the error.
func summary(t *testing.T, rs rego.ResultSet, err error) string {
	t.Helper()
	switch {
	case err != nil:
		return "error"
	case len(rs) == 0:
		return "undefined"
	}
	doc, ok := rs[0].Expressions[0].Value.(ast.Value)
	if !ok {
		t.Fatalf("result is %T", rs[0].Expressions[0].Value)
	}
	v, err := ast.JSON(doc)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v) // map keys sorted: canonical
	if err != nil {
		t.Fatal(err)
	}
	kind := "?"
	if o, ok := doc.(ast.Object); ok {
		if k := o.Get(ast.StringTerm("decision")); k != nil {
			kind = strings.Trim(k.String(), `"`)
		}
	}
	sum := sha256.Sum256(b)
	return kind + " " + hex.EncodeToString(sum[:8])
}

// TestLibraryQuietIsSound checks, on generated requests and policies, what
// the library relies on to skip its control rules: a quiet flag that is
// true means that the rules it guards add nothing. Each flag is checked by
// evaluating the library_* sets with the flag forced to false (so that its
// rules run for real) and comparing them with the sets as they are.
func TestLibraryQuietIsSound(t *testing.T) {
	t.Parallel()
	flags := quietFlags(t)
	sets := `{"deny": data.pdp.library_deny, "challenge": data.pdp.library_challenge,
		"notices": data.pdp.library_notices, "obligations": data.pdp.library_obligations,
		"risk_factors": data.pdp.library_risk_factors}`
	checked := map[string]int{}
	forEachLibraryCase(t, builtinLibrary(), soundRounds, func(p *libraryRound, c libraryCase) {
		in, err := ast.InterfaceToValue(c.input)
		if err != nil {
			t.Fatal(err)
		}
		actual := evalQuery(t, p, in, sets)
		for _, f := range flags {
			on := evalQuery(t, p, in, "data.pdp."+f)
			if on == nil || on.Compare(ast.Boolean(true)) != 0 {
				continue
			}
			checked[f]++
			forced := evalQuery(t, p, in, sets+" with data.pdp."+f+" as false")
			if forced.Compare(actual) != 0 {
				t.Errorf("round %d case %d: %s is true, but its rules add to the sets:\ninput %v\nwith the flag: %v\nforced false: %v",
					c.round, c.index, f, in, actual, forced)
			}
		}
		if q := evalQuery(t, p, in, "data.pdp.core_quiet"); q != nil && q.Compare(ast.Boolean(true)) == 0 {
			checked["core_quiet"]++
			all := sets
			for _, f := range flags {
				all += " with data.pdp." + f + " as false"
			}
			if evalQuery(t, p, in, all+" with data.pdp.core_quiet as false").Compare(actual) != 0 {
				t.Errorf("round %d case %d: core_quiet is true, but the library adds to the sets: input %v", c.round, c.index, in)
			}
		}
	})
	// Every flag must have been true, and so checked, in some case.
	for _, f := range append(flags, "core_quiet") {
		if checked[f] == 0 {
			t.Errorf("%s was never true in the generated cases", f)
		}
	}
}

// evalQuery evaluates a query against a round's compiler and store, for
// one input; each query is prepared once per round. It returns nil when
// the query is undefined.
func evalQuery(t *testing.T, r *libraryRound, input ast.Value, query string) ast.Value {
	t.Helper()
	ctx := context.Background()
	pq, ok := r.queries[query]
	if !ok {
		var err error
		pq, err = rego.New(
			rego.Query("x := "+query),
			rego.Compiler(r.compiler),
			rego.Store(r.store),
			rego.StrictBuiltinErrors(true),
		).PrepareForEval(ctx)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		r.queries[query] = pq
	}
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	if len(rs) == 0 {
		return nil
	}
	v, err := ast.InterfaceToValue(rs[0].Bindings["x"])
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// quietFlags are the flags that guard the library's contributions,
// relative to data.pdp: every control package's quiet (its deny,
// challenge, notices and obligations) and, for a control adding risk
// factors, its factors_quiet.
func quietFlags(t *testing.T) []string {
	t.Helper()
	var flags []string
	controls := controlPackages(compiledLibrary(t))
	for _, name := range slices.Sorted(maps.Keys(controls)) {
		for _, f := range []string{"quiet", "factors_quiet"} {
			if controls[name][f] {
				flags = append(flags, "controls."+name+"."+f)
			}
		}
	}
	return flags
}

// controlPackages are the rule names of every control package,
// pdp.controls.<control>, by control.
func controlPackages(c *ast.Compiler) map[string]map[string]bool {
	controls := map[string]map[string]bool{}
	for _, m := range c.Modules {
		path := m.Package.Path
		if len(path) != 4 || !path.HasPrefix(controlsPath) {
			continue
		}
		name, _ := path[3].Value.(ast.String)
		if controls[string(name)] == nil {
			controls[string(name)] = map[string]bool{}
		}
		for _, r := range m.Rules {
			controls[string(name)][r.Head.Name.String()] = true
		}
	}
	return controls
}

// controlsPath is the path of the control packages, pdp.controls.<control>.
var controlsPath = ast.MustParseRef("data.pdp.controls")

// controlFlags are the flag each contribution set of a control package is
// read under by the core (core.rego's library_* sets).
var controlFlags = map[string]string{
	"deny": "quiet", "challenge": "quiet", "notices": "quiet", "obligations": "quiet",
	"risk_factors": "factors_quiet",
}

// TestLibraryQuietFlags checks the convention that makes the quiet path
// safe to extend: the core reads a control package's deny, challenge,
// notices and obligations only when its quiet flag is false, and its risk
// factors only when its factors_quiet is false, and core_quiet holds only
// when no control's quiet is false. So a control package that adds to
// those sets must define the flag with a default of false (without it,
// an undefined flag would make the core skip the control's rules), every
// flag must guard a set of its package, and no module but the core adds to
// the library_* sets. A new control that forgets its flag fails here.
func TestLibraryQuietFlags(t *testing.T) {
	t.Parallel()
	c := compiledLibrary(t)
	flags := map[string]map[string]bool{}   // control -> flags defined with a default of false
	guarded := map[string]map[string]bool{} // control -> flags the core reads its sets under
	for file, m := range c.Modules {
		if strings.HasSuffix(file, "_test.rego") {
			continue
		}
		path := m.Package.Path
		if len(path) != 4 || !path.HasPrefix(controlsPath) {
			for _, r := range m.Rules {
				if strings.HasPrefix(r.Head.Name.String(), "library_") && !strings.HasSuffix(file, "core.rego") {
					t.Errorf("%s:%d: %s adds to a library set; a control adds to the sets of its package, pdp.controls.<control>",
						file, r.Location.Row, r.Head.Name)
				}
			}
			continue
		}
		control := path.String()
		if flags[control] == nil {
			flags[control], guarded[control] = map[string]bool{}, map[string]bool{}
		}
		for _, r := range m.Rules {
			name := r.Head.Name.String()
			if f, ok := controlFlags[name]; ok {
				guarded[control][f] = true
			}
			if r.Default && r.Head.Value.Equal(ast.InternedTerm(false)) {
				flags[control][name] = true
			}
		}
	}
	if len(flags) == 0 {
		t.Fatal("the library has no control package")
	}
	for control := range flags {
		for f := range guarded[control] {
			if !flags[control][f] {
				t.Errorf("%s adds to sets the core reads under its %s flag, which it does not define with \"default %s := false\"", control, f, f)
			}
		}
		for _, f := range []string{"quiet", "factors_quiet"} {
			if flags[control][f] && !guarded[control][f] {
				t.Errorf("%s: %s guards no set of the control", control, f)
			}
		}
	}
}

func compiledLibrary(t *testing.T) *ast.Compiler {
	t.Helper()
	modules, err := LibraryModules(builtinLibrary())
	if err != nil {
		t.Fatal(err)
	}
	c, err := compile(modules)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// libraryDir is a library file system of the *.rego files of dir, as the
// embedded one lays them out (under rego/).
func libraryDir(t *testing.T, dir string) fs.FS {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	lib := fstest.MapFS{}
	for _, e := range entries {
		if IsPolicyFile(e.Name()) {
			b, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			lib["rego/"+e.Name()] = &fstest.MapFile{Data: b}
		}
	}
	return lib
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	s := bufio.NewScanner(f)
	for s.Scan() {
		lines = append(lines, s.Text())
	}
	if err := s.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}
