package ssf_test

import (
	"context"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/store/memory"
)

// BenchmarkReader is the cost the signal enrichment adds per decision: for
// a tenant without a stream (nothing is read), and for one whose user has
// a few effects in the memory store.
func BenchmarkReader(b *testing.B) {
	st := memory.NewSSF()
	for i, ev := range []string{"credential-change", "session-revoked", "risk-level-change"} {
		e := ssf.Effect{Tenant: "acme", Stream: "idp", JTI: string(rune('a' + i)), Event: ev, Subject: ssf.Subject{User: "u1"},
			At: t0.Add(-time.Minute), Received: t0, Until: t0.Add(time.Hour), Level: "HIGH"}
		if err := st.Apply(context.Background(), e, t0.Add(time.Hour)); err != nil {
			b.Fatal(err)
		}
	}
	r := ssf.NewReader(st, func(tenant string) bool { return tenant == "acme" })
	for _, tenant := range []string{"globex", "acme"} {
		b.Run(tenant, func(b *testing.B) {
			req := &decision.Request{Tenant: tenant, Subject: decision.Subject{ID: "u1", Email: "u1@acme.com"},
				Session: decision.Session{ID: "s1"}, Device: decision.Device{ID: "d1"}}
			var sig decision.SSFSignals
			b.ReportAllocs()
			for b.Loop() {
				if err := r.Read(context.Background(), req, t0, &sig); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
