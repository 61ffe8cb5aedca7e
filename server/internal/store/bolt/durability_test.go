package bolt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
)

const crashEnv = "PDP_BOLT_CRASH_PATH"

// TestCrashChild is the process TestKillKeepsAcknowledgedEvents kills: it
// does nothing unless started by that test with crashEnv set. Eight
// writers apply events concurrently and print each user whose event
// ApplyEvent acknowledged; after 300 acknowledgements the process kills
// itself with SIGKILL while writes are still in flight, without Close.
func TestCrashChild(t *testing.T) {
	path := os.Getenv(crashEnv)
	if path == "" {
		return
	}
	s, err := Open(path, Options{SweepInterval: -1})
	if err != nil {
		fmt.Println("open:", err)
		os.Exit(2)
	}
	var (
		mu    sync.Mutex
		acked atomic.Int64
	)
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				user := fmt.Sprintf("w%d-%d", w, i)
				e := event(decision.EventLoginFailed, "acme", user, t0.Add(time.Duration(i)*time.Millisecond), netip.AddrFrom4([4]byte{192, 0, 2, byte(w)}))
				if _, err := s.ApplyEvent(context.Background(), e, store.Settings{}); err != nil {
					fmt.Println("apply:", err)
					os.Exit(2)
				}
				mu.Lock()
				fmt.Println("ack", user)
				mu.Unlock()
				if acked.Add(1) == 300 {
					_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
				}
			}
		}()
	}
	select {}
}

func TestKillKeepsAcknowledgedEvents(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pdp.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	var stdout bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stdout
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child: %v, want it killed by SIGKILL; output:\n%s", err, stdout.String())
	}
	var users []string
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		if user, ok := strings.CutPrefix(sc.Text(), "ack "); ok {
			users = append(users, user)
		}
	}
	if len(users) < 300 {
		t.Fatalf("child acknowledged %d events, want at least 300; output:\n%s", len(users), stdout.String())
	}

	s := open(t, path, Options{})
	t.Cleanup(func() { _ = s.Close() })
	var p store.Profile
	for _, u := range users {
		ok, err := s.GetProfile(context.Background(), "acme", u, &p)
		if err != nil {
			t.Fatal(err)
		}
		if !ok || len(p.FailedLogins) != 1 {
			t.Errorf("acknowledged event of %s lost in the crash (profile %v, %d failures)", u, ok, len(p.FailedLogins))
		}
	}
	profiles, _ := s.Len()
	t.Logf("%d events acknowledged before the kill, %d on disk", len(users), profiles)
}

func TestSweepDropsIdleStateDurably(t *testing.T) {
	t.Parallel()
	wall := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var now atomic.Pointer[time.Time]
	now.Store(&wall)
	opts := Options{ProfileRetention: time.Hour, IPRetention: time.Minute, MaxBatch: 2, Now: func() time.Time { return *now.Load() }}
	path := filepath.Join(t.TempDir(), "pdp.db")
	s := open(t, path, opts)
	ctx := context.Background()
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC) // event time plays no part in sweeping
	for _, user := range []string{"idle", "suspended", "reset"} {
		mustApply(t, s, event(decision.EventLoginFailed, "acme", user, at, ipA))
	}
	if err := s.SetSuspension(ctx, "acme", "suspended", store.Suspension{Suspended: true, At: at}); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetMFA(ctx, "acme", "reset", at); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		now            time.Time
		profiles, ips  int
		leftP, leftIPs int
	}{
		{wall.Add(time.Minute), 0, 0, 3, 1},
		{wall.Add(time.Minute + 1), 0, 1, 3, 0},
		{wall.Add(time.Hour + 1), 1, 0, 2, 0},
	}
	for _, tc := range tests {
		p, i, err := s.Sweep(tc.now)
		if err != nil {
			t.Fatal(err)
		}
		lp, li := s.Len()
		if p != tc.profiles || i != tc.ips || lp != tc.leftP || li != tc.leftIPs {
			t.Errorf("Sweep(%v) dropped %d, %d leaving %d, %d; want %d, %d leaving %d, %d",
				tc.now.Sub(wall), p, i, lp, li, tc.profiles, tc.ips, tc.leftP, tc.leftIPs)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Write times are stored: what was swept stays gone, and what is left
	// keeps its age after the reopen.
	later := wall.Add(2 * time.Hour)
	now.Store(&later)
	s = open(t, path, opts)
	t.Cleanup(func() { _ = s.Close() })
	if lp, li := s.Len(); lp != 2 || li != 0 {
		t.Errorf("after the reopen: %d profiles and %d IP records, want 2 and 0", lp, li)
	}
	if err := s.SetSuspension(ctx, "acme", "suspended", store.Suspension{Suspended: false, At: at}); err != nil {
		t.Fatal(err)
	}
	if p, _, err := s.Sweep(later.Add(time.Hour + 1)); err != nil || p != 1 {
		t.Errorf("Sweep after lifting the suspension dropped %d (%v), want 1", p, err)
	}
}

func TestSweeperRunsAndStopsOnClose(t *testing.T) {
	t.Parallel()
	s, err := Open(filepath.Join(t.TempDir(), "pdp.db"), Options{SweepInterval: time.Millisecond, IPRetention: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "", t0, ipA))
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ips := s.Len(); ips == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the sweeper never dropped the idle IP record")
		}
		time.Sleep(time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Sweep(time.Now()); !errors.Is(err, store.ErrClosed) {
		t.Errorf("Sweep after Close = %v, want ErrClosed", err)
	}
}

func benchStore(b *testing.B) *Store {
	s := open(b, filepath.Join(b.TempDir(), "pdp.db"), Options{})
	b.Cleanup(func() { _ = s.Close() })
	return s
}

func BenchmarkRead(b *testing.B) {
	s := benchStore(b)
	var wg sync.WaitGroup
	for u := range 1000 {
		wg.Go(func() { // concurrent writers share commits: a quick setup
			for i := range 20 {
				mustApply(b, s, event(decision.EventLoginSucceeded, "acme", fmt.Sprintf("u%d", u), t0.Add(time.Duration(i)*time.Hour), ipA))
			}
		})
	}
	wg.Wait()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var v store.View
		q := store.Query{Tenant: "acme", UserID: "u42", IP: ipA, At: t0.Add(24 * time.Hour)}
		for pb.Next() {
			if err := s.Read(context.Background(), q, &v); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkApplyEvent is one writer: every event waits for its own fsync.
func BenchmarkApplyEvent(b *testing.B) {
	s := benchStore(b)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		mustApply(b, s, event(decision.EventLoginSucceeded, "acme", "u1", t0.Add(time.Duration(i)*time.Second), ipA))
	}
}

// BenchmarkApplyEventParallel is many writers of different users: the
// group commit lets them share fsyncs.
func BenchmarkApplyEventParallel(b *testing.B) {
	s := benchStore(b)
	var n atomic.Int64
	b.ReportAllocs()
	b.SetParallelism(32)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		user := fmt.Sprintf("u%d", n.Add(1))
		for i := 0; pb.Next(); i++ {
			mustApply(b, s, event(decision.EventLoginSucceeded, "acme", user, t0.Add(time.Duration(i)*time.Second), ipA))
		}
	})
}
