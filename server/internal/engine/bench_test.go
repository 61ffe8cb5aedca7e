package engine

import (
	"context"
	"io/fs"
	"testing"
)

// BenchmarkDecide measures one decision for a realistic request of the
// demo tenant: input building, evaluation, strict parsing and the decision
// id. "builtin" runs the embedded library with every control module,
// "core" the core module alone.
func BenchmarkDecide(b *testing.B) {
	for _, bb := range []struct {
		name    string
		library fs.FS
	}{
		{"builtin", nil},
		{"core", coreLibrary(b, nil)},
	} {
		b.Run(bb.name, func(b *testing.B) {
			e := loaded(b, Options{Library: bb.library}, Bundle{Tenants: demoTenants(b)})
			req := demoRequest()
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Decide(ctx, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkBuildInput measures the request to ast.Value conversion alone.
func BenchmarkBuildInput(b *testing.B) {
	req := fullRequest()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := buildInput(req, clock); err != nil {
			b.Fatal(err)
		}
	}
}
