package iprules_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/iprules/iprulestest"
	"github.com/pdp-dev/pdp/server/internal/ipset"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
)

// The memory a pdp process spends on an imported deny feed: the feed is
// stored in a bolt file as pdpbench's scaling step stores it (one global
// import of IPv4 /32s and /24s and IPv6 /64s), then loaded by the path
// pdp takes at start (Applier.Load over the bolt store). Run with
//
//	go test -run '^$' -bench LoadImportedFeed -benchtime 1x ./server/internal/iprules
//
// heap-B/cidr is the live heap the loaded lists keep, after GC;
// peak-heap-B/cidr the largest heap seen while loading; peak-rss-MB the
// VmHWM of a fresh process that opens the file and loads it (the bolt
// file's pages it reads count too).

// seedFeed stores an n-rule feed in a new bolt file at path.
func seedFeed(tb testing.TB, path string, n int) {
	tb.Helper()
	st, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	if _, _, err := st.IPRules().Import(context.Background(), "", "deny", iprules.ImportPrefix+"bench", iprulestest.FeedRules(n)); err != nil {
		tb.Fatal(err)
	}
}

// loadFeed loads the rules of the bolt file at path into a new set, as
// pdp does at start, and returns the set, the number of rules loaded and
// the open store (which pdp keeps open, with the file's pages it read
// mapped).
func loadFeed(tb testing.TB, path string) (*ipset.Set, int, *bolt.Store) {
	tb.Helper()
	st, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		tb.Fatal(err)
	}
	set := ipset.NewSet(nil)
	n, err := iprules.NewApplier(set, st.IPRules()).Load(context.Background(), time.Now())
	if err != nil {
		st.Close()
		tb.Fatal(err)
	}
	return set, n, st
}

// heapObjects samples the bytes of heap objects (live and not yet swept).
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// watchPeak samples heapObjects every 200µs until stop is called, which
// returns the largest value seen.
func watchPeak() (stop func() uint64) {
	var peak uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(200 * time.Microsecond)
		defer t.Stop()
		for {
			peak = max(peak, heapObjects())
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
	return func() uint64 {
		close(done)
		wg.Wait()
		return max(peak, heapObjects())
	}
}

func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	return heapObjects()
}

func BenchmarkLoadImportedFeed(b *testing.B) {
	for _, n := range []int{1_000, 100_000, 1_000_000} {
		b.Run(fmt.Sprintf("cidrs=%d", n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "pdp.db")
			seedFeed(b, path, n)
			for b.Loop() {
				_, got, st := loadFeed(b, path)
				st.Close()
				if got != n {
					b.Fatalf("loaded %d rules, want %d", got, n)
				}
			}
			b.StopTimer()
			base := liveHeap()
			stop := watchPeak()
			set, _, st := loadFeed(b, path)
			peak := stop()
			st.Close()
			live := liveHeap()
			runtime.KeepAlive(set)
			b.ReportMetric(float64(live-base)/float64(n), "heap-B/cidr")
			b.ReportMetric(float64(peak-base)/float64(n), "peak-heap-B/cidr")
			rss := childRSS(b, path, n)
			b.ReportMetric(float64(rss["VmHWM"])/(1<<20), "peak-rss-MB")
			b.ReportMetric(float64(rss["VmRSS"])/(1<<20), "rss-MB")
			b.ReportMetric(float64(rss["RssFile"])/(1<<20), "rss-file-MB")
		})
	}
}

// childRSS runs TestLoadImportedFeedProcess in a new process and returns
// the memory figures of its /proc status after the load, in bytes.
func childRSS(tb testing.TB, path string, n int) map[string]uint64 {
	tb.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadImportedFeedProcess$", "-test.count=1")
	cmd.Env = append(os.Environ(), "IPRULES_LOAD_FEED="+path, "IPRULES_LOAD_FEED_N="+strconv.Itoa(n))
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%v: %s", err, out)
	}
	m := map[string]uint64{}
	for line := range strings.Lines(string(out)) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok {
			continue
		}
		if x, err := strconv.ParseUint(v, 10, 64); err == nil {
			m[k] = x
		}
	}
	if m["VmHWM"] == 0 {
		tb.Fatalf("no VmHWM from the child: %s", out)
	}
	return m
}

// TestLoadImportedFeedProcess is the child of BenchmarkLoadImportedFeed:
// it loads the feed named by $IPRULES_LOAD_FEED and prints its memory.
func TestLoadImportedFeedProcess(t *testing.T) {
	path := os.Getenv("IPRULES_LOAD_FEED")
	if path == "" {
		t.Skip("run by BenchmarkLoadImportedFeed")
	}
	want, _ := strconv.Atoi(os.Getenv("IPRULES_LOAD_FEED_N"))
	set, n, st := loadFeed(t, path)
	defer st.Close()
	if n != want {
		t.Fatalf("loaded %d rules, want %d", n, want)
	}
	runtime.GC()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch k {
		case "VmHWM", "VmRSS", "RssAnon", "RssFile":
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			fmt.Printf("%s=%d\n", k, kb<<10)
		}
	}
	runtime.KeepAlive(set)
}
