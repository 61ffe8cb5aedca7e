package decisionlog_test

import (
	"context"
	"io"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/decisionlog"
)

// benchmarkWrap decides through a logging wrapper whose writer discards,
// from parallel callers: the cost a decision pays for its line.
func benchmarkWrap(b *testing.B, mode decisionlog.Mode) {
	l := decisionlog.New(decisionlog.Options{Writer: io.Discard, Mode: mode})
	d := logged(l, fixedDecider{challenge()})
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req := request()
		for pb.Next() {
			if _, err := d.Decide(context.Background(), req); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.StopTimer()
	if err := l.Close(context.Background()); err != nil {
		b.Fatal(err)
	}
	if l.Dropped() != 0 && mode == decisionlog.ModeBlock {
		b.Fatalf("block mode dropped %d lines", l.Dropped())
	}
}

func BenchmarkWrapDrop(b *testing.B)  { benchmarkWrap(b, decisionlog.ModeDrop) }
func BenchmarkWrapBlock(b *testing.B) { benchmarkWrap(b, decisionlog.ModeBlock) }
