package checkpoint

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/audit"
)

// BenchmarkAppend compares an append to the memory log with and without
// the checkpointer's wrapper: the admin call path's whole cost of
// checkpoints.
func BenchmarkAppend(b *testing.B) {
	for _, wrapped := range []bool{false, true} {
		name := "plain"
		if wrapped {
			name = "wrapped"
		}
		b.Run(name, func(b *testing.B) {
			st := memoryStore(b)
			log := st
			if wrapped {
				c, err := New(Options{Log: st.(audit.Header), Signer: newSigner(b), Dest: &recorder{}})
				if err != nil {
					b.Fatal(err)
				}
				c.Start()
				defer c.Close(context.Background())
				log = c.Wrap(st)
			}
			e := entry(0)
			b.ResetTimer()
			for b.Loop() {
				if _, err := log.Append(context.Background(), e); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFileWrite is one checkpoint signed and appended, fsync included.
func BenchmarkFileWrite(b *testing.B) {
	s := newSigner(b)
	f, err := OpenFile(filepath.Join(b.TempDir(), "checkpoints.jws"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	h := audit.Head{Seq: 1, Hash: "00", ID: "x"}
	for b.Loop() {
		line, err := s.Sign(h, t0)
		if err != nil {
			b.Fatal(err)
		}
		if err := f.Write(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheck checks 1,000 checkpoints against a chain of 10,000
// events.
func BenchmarkCheck(b *testing.B) {
	s := newSigner(b)
	c := newChain(b, 10000)
	var seqs []uint64
	for seq := uint64(10); seq <= 10000; seq += 10 {
		seqs = append(seqs, seq)
	}
	lines := checkpoints(b, s, c, seqs...)
	b.ResetTimer()
	for b.Loop() {
		if r, err := Check(context.Background(), c, lines); err != nil || !r.OK() {
			b.Fatal(r, err)
		}
	}
}
