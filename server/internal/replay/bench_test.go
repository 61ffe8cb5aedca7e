package replay_test

import (
	"context"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/replay"
)

// BenchmarkShadowObserve is what shadow evaluation adds to the request
// path: sampling and one queue send (or a drop on a full queue); the
// evaluation runs on the shadow's goroutines.
func BenchmarkShadowObserve(b *testing.B) {
	policyDir, tenantsDir := demoSet(b)
	cand, err := replay.Load(context.Background(), []string{policyDir}, tenantsDir)
	if err != nil {
		b.Fatal(err)
	}
	for _, sample := range []float64{0.1, 1} {
		b.Run(map[float64]string{0.1: "sample=0.1", 1: "sample=1"}[sample], func(b *testing.B) {
			s, err := replay.NewShadow(replay.ShadowOptions{Sample: sample})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.SetGlobal(cand, "bench")
			req := generate(1)[0]
			d := &decision.Decision{Kind: decision.KindAllow, ID: "d", Enforced: true}
			b.ReportAllocs()
			for b.Loop() {
				s.Observe(&req, d)
			}
		})
	}
}
