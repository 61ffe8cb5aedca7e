package bolt

import (
	"context"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
)

var heapProfile = flag.String("heapprofile", "", "BenchmarkProfileMemory writes the heap profile of the reopened store to this file")

// seedEvent is the i-th event of the memory benchmark, shaped like the
// seeding of pdpbench's scaling runs: one successful login of a distinct
// user, with one device, one country and one IP, and no action.
func seedEvent(i int) *decision.Event {
	tenants := [...]string{"acme", "globex", "initech"}
	countries := [...]string{"PT", "US", "DE", "BR", "JP"}
	tenant := tenants[i%len(tenants)]
	k := i / len(tenants)
	e := &decision.Event{
		Tenant:  tenant,
		Kind:    decision.EventLoginSucceeded,
		Subject: decision.Subject{ID: fmt.Sprintf("%s-s%07d", tenant, k)},
		Time:    t0.Add(-24 * time.Hour).Add(time.Duration(i%3600) * time.Second),
	}
	e.Network.IP = netip.AddrFrom4([4]byte{198, 18, byte(k >> 8), byte(k)})
	e.Network.Country = countries[k%len(countries)]
	e.Device.ID = fmt.Sprintf("dev-%s-s%07d", tenant, k)
	return e
}

// seed applies seedEvent(0) to seedEvent(n-1) from 32 writers.
func seed(tb testing.TB, s *Store, n int) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				mustApply(tb, s, seedEvent(i))
			}
		})
	}
	wg.Wait()
}

// liveHeap returns the bytes of live heap objects after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// rssPhase measures the peak resident set of a phase of the process: it
// hands the free heap back to the kernel, resets the high-water mark and
// remembers the resident set it starts from. Linux only; 0 elsewhere.
type rssPhase struct{ start int64 }

func startRSSPhase() rssPhase {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // resets VmHWM
	return rssPhase{start: procStatus("VmRSS")}
}

// peak returns how far the resident set rose above the start.
func (p rssPhase) peak() int64 {
	return max(0, procStatus("VmHWM")-p.start)
}

// procStatus returns a /proc/self/status field given in kB, in bytes.
func procStatus(field string) int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// BenchmarkProfileMemory measures what one seeded profile costs: live heap
// bytes after seeding N users into a new file ("heap-B/profile") and the
// peak growth of the resident set while seeding ("seed-rss-B/profile");
// the same after reopening the file, the start-up load
// ("reopen-heap-B/profile", "reopen-rss-B/profile"); the file size
// ("file-B/profile"), the pages of the profiles bucket a full load reads
// ("pages-B/profile") and the bytes of them in use ("used-B/profile").
// The resident set counts Go's heap headroom and the file pages touched.
// Run it with -benchtime=1x; see bench/README.md.
func BenchmarkProfileMemory(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("profiles=%d", n), func(b *testing.B) {
			for b.Loop() {
				path := filepath.Join(b.TempDir(), "pdp.db")
				before := liveHeap()
				phase := startRSSPhase()
				s := open(b, path, Options{})
				seed(b, s, n)
				seedRSS := phase.peak()
				seeded := liveHeap()
				if p, _ := s.Len(); p != n {
					b.Fatalf("%d profiles, want %d", p, n)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
				s = nil
				base := liveHeap()
				phase = startRSSPhase()
				s = open(b, path, Options{})
				reopenRSS := phase.peak()
				reopened := liveHeap()
				var v store.View
				if err := s.Read(context.Background(), store.Query{Tenant: "acme", UserID: "acme-s0000000", At: t0}, &v); err != nil || !v.HasProfile {
					b.Fatalf("Read after reopen: %v, has profile %v", err, v.HasProfile)
				}
				if *heapProfile != "" {
					writeHeapProfile(b, *heapProfile)
				}
				fi, err := os.Stat(path)
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(float64(int64(seeded)-int64(before))/float64(n), "heap-B/profile")
				b.ReportMetric(float64(int64(reopened)-int64(base))/float64(n), "reopen-heap-B/profile")
				b.ReportMetric(float64(seedRSS)/float64(n), "seed-rss-B/profile")
				b.ReportMetric(float64(reopenRSS)/float64(n), "reopen-rss-B/profile")
				b.ReportMetric(float64(fi.Size())/float64(n), "file-B/profile")
				var st bbolt.BucketStats
				if err := s.db.View(func(tx *bbolt.Tx) error {
					st = tx.Bucket(bucketProfiles).Stats()
					return nil
				}); err != nil {
					b.Fatal(err)
				}
				pages := st.BranchPageN + st.BranchOverflowN + st.LeafPageN + st.LeafOverflowN
				b.ReportMetric(float64(pages*s.db.Info().PageSize)/float64(n), "pages-B/profile")
				b.ReportMetric(float64(st.LeafInuse+st.BranchInuse)/float64(n), "used-B/profile")
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func writeHeapProfile(tb testing.TB, path string) {
	f, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	runtime.GC()
	err = pprof.Lookup("heap").WriteTo(f, 0)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		tb.Fatal(err)
	}
}
