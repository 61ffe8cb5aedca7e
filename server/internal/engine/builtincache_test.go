package engine

import (
	"fmt"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Every evaluation gets the engine's built-in value cache, which keeps the
// compiled glob and regex patterns across reloads.
func TestEvaluationsKeepTheirPatternsInTheEnginesCache(t *testing.T) {
	t.Parallel()
	library := func(pattern string) fstest.MapFS {
		return fstest.MapFS{"rego/p.rego": {Data: []byte(fmt.Sprintf(
			"package pdp\n\ndecision := [glob.match(%q, null, input.action.name), regex.match(`^%s`, input.action.name)]\n",
			pattern+".*", pattern))}}
	}
	in, err := buildInput(demoRequest(), clock)
	if err != nil {
		t.Fatal(err)
	}
	e := loaded(t, Options{Library: library("api")}, Bundle{Tenants: demoTenants(t)})
	if _, err := e.current.Load().eval(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	e.library = library("files")
	if _, err := e.Load(t.Context(), Bundle{Tenants: demoTenants(t)}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.current.Load().eval(t.Context(), in); err != nil {
		t.Fatal(err)
	}
	// glob.match keys a pattern with its delimiters after a dash; none here.
	for _, key := range []string{"api.*-", "^api", "files.*-", "^files"} {
		if _, ok := e.builtins.Get(ast.String(key)); !ok {
			t.Errorf("the engine's cache does not hold the pattern %q", key)
		}
	}
}

// The cache holds builtinCacheEntries patterns, and no more.
func TestBuiltinCacheHoldsBuiltinCacheEntriesPatterns(t *testing.T) {
	t.Parallel()
	c := newBuiltinCache()
	const extra = 100
	for i := range builtinCacheEntries + extra {
		c.Insert(ast.String(fmt.Sprintf("p%d.*-", i)), i)
	}
	held := 0
	for i := range builtinCacheEntries + extra {
		if _, ok := c.Get(ast.String(fmt.Sprintf("p%d.*-", i))); ok {
			held++
		}
	}
	if held != builtinCacheEntries {
		t.Fatalf("the cache holds %d of %d patterns, want %d", held, builtinCacheEntries+extra, builtinCacheEntries)
	}
}
