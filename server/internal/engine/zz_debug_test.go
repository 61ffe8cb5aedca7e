package engine

import (
	"context"
	"fmt"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

func TestZZDebug(t *testing.T) {
	e := loaded(t, Options{}, Bundle{Tenants: demoTenants(t)})
	p := e.current.Load()
	s := p.special.spec
	known := ast.MustParseTerm(`{"tenant":"acme","environment":"production","explain":false}`).Value
	pq, err := rego.New(rego.ParsedQuery(s.query), rego.Compiler(s.compiler), rego.Store(s.store), rego.ParsedInput(known),
		rego.ParsedUnknowns(s.unknowns), rego.ShallowInlining(true)).Partial(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	f, _ := os.Create("/tmp/residual.rego")
	fmt.Fprintln(f, pq.Queries[0])
	for _, m := range pq.Support {
		fmt.Fprintln(f, m)
	}
	f.Close()
}
