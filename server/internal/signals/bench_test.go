package signals

import (
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

func BenchmarkEnrich(b *testing.B) {
	f := newFixture(b)
	for i := range 20 {
		f.report(b, decision.EventLoginSucceeded, "u1", t0.Add(time.Duration(i)*time.Hour),
			evDevice("laptop"), evCountry("PT"), evIP(ipA), evAt(38.7, -9.1), evAction("login"))
	}
	req := request("u1", t0.Add(day), rqDevice("laptop"), rqIP(ipA), rqAt(38.7, -9.1))
	ctx := b.Context()
	b.ReportAllocs()
	for b.Loop() {
		if err := f.enr.Enrich(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}
