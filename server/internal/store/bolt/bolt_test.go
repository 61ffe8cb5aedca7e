package bolt

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/storetest"
)

var (
	t0  = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	ipA = netip.MustParseAddr("198.51.100.7")
	ipB = netip.MustParseAddr("2001:db8::42")
)

var cmpOpts = cmp.Options{cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b })}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		s, err := Open(filepath.Join(t.TempDir(), "pdp.db"), Options{SweepInterval: -1})
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func open(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	if opts.SweepInterval == 0 {
		opts.SweepInterval = -1
	}
	s, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func event(kind decision.EventKind, tenant, user string, at time.Time, ip netip.Addr) *decision.Event {
	e := &decision.Event{Tenant: tenant, Kind: kind, Subject: decision.Subject{ID: user}, Time: at}
	e.Network.IP = ip
	e.Network.Country = "PT"
	e.Network.HasLocation, e.Network.Latitude, e.Network.Longitude = true, 38.72, -9.14
	e.Device.ID = "d-" + user
	e.Action.Name = "login"
	return e
}

func mustApply(t testing.TB, s store.Store, e *decision.Event) store.Outcome {
	t.Helper()
	out, err := s.ApplyEvent(context.Background(), e, store.Settings{})
	if err != nil {
		t.Fatalf("ApplyEvent: %v", err)
	}
	return out
}

// snapshot is everything the tests read back after a reopen.
type snapshot struct {
	Profiles map[string]*store.Profile
	Views    map[string]*store.View
}

func take(t *testing.T, s store.Store, users []string) snapshot {
	t.Helper()
	ctx := context.Background()
	snap := snapshot{Profiles: map[string]*store.Profile{}, Views: map[string]*store.View{}}
	for _, tenant := range []string{"acme", "globex"} {
		for _, u := range users {
			p := new(store.Profile)
			if ok, err := s.GetProfile(ctx, tenant, u, p); err != nil {
				t.Fatal(err)
			} else if ok {
				snap.Profiles[tenant+"/"+u] = p
			}
			for _, ip := range []netip.Addr{ipA, ipB} {
				v := new(store.View)
				if err := s.Read(ctx, store.Query{Tenant: tenant, UserID: u, IP: ip, At: t0.Add(time.Minute)}, v); err != nil {
					t.Fatal(err)
				}
				snap.Views[tenant+"/"+u+"/"+ip.String()] = v
			}
		}
	}
	return snap
}

func TestCloseAndReopenKeepsEverything(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "data", "pdp.db") // the parent directory is created
	s := open(t, path, Options{})
	ctx := context.Background()
	mustApply(t, s, event(decision.EventLoginSucceeded, "acme", "u1", t0, ipA))
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "u1", t0.Add(time.Second), ipB))
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "u2", t0.Add(2*time.Second), ipB))
	mustApply(t, s, event(decision.EventLoginFailed, "acme", "", t0.Add(3*time.Second), ipA))
	mustApply(t, s, event(decision.EventMFASucceeded, "globex", "u1", t0, ipA))
	mustApply(t, s, event(decision.EventLoginFailed, "globex", "gone", t0, ipA))
	if err := s.SetSuspension(ctx, "acme", "u3", store.Suspension{Suspended: true, Reason: "test", At: t0, By: "admin"}); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetMFA(ctx, "acme", "u2", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetSSOStatus(ctx, "acme", store.SSOStatus{Available: false, Reason: "IdP down", UpdatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	if found, err := s.DeleteUser(ctx, "globex", "gone"); err != nil || !found {
		t.Fatalf("DeleteUser = %v, %v", found, err)
	}
	users := []string{"u1", "u2", "u3", "gone"}
	before := take(t, s, users)
	if len(before.Profiles) != 4 {
		t.Fatalf("%d profiles before the reopen, want 4", len(before.Profiles))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path, Options{})
	t.Cleanup(func() { _ = s.Close() })
	after := take(t, s, users)
	if d := cmp.Diff(before, after, cmpOpts); d != "" {
		t.Errorf("state changed across Close and Open (-before +after):\n%s", d)
	}
	// The reopened store keeps counting where the old one stopped.
	out := mustApply(t, s, event(decision.EventLoginFailed, "acme", "u1", t0.Add(4*time.Second), ipB))
	if out.UserFailedLogins != 2 || out.IPFailedLogins != 3 || out.IPFailedUsers != 2 {
		t.Errorf("outcome after the reopen: %+v", out)
	}
}

func TestOpenRejectsAFileThatIsNotADatabase(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pdp.db")
	junk := []byte(strings.Repeat("this is not a bbolt file\n", 4096))
	if err := os.WriteFile(path, junk, 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a corrupted file")
	}
	if !strings.Contains(err.Error(), path) {
		t.Errorf("error %q does not name %s", err, path)
	}
}

func TestOpenRejectsADamagedRecord(t *testing.T) {
	t.Parallel()
	expectOpenRejectsDamage(t, func(b *bbolt.Bucket, k []byte) error {
		return b.Put(k, []byte("\x00\x00\x00\x00\x00\x00\x00\x01{not json"))
	})
}

// expectOpenRejectsDamage stores one user's profile, changes its record
// in the file with damage, and expects Open to refuse the file with an
// error naming the file and the bucket.
func expectOpenRejectsDamage(t *testing.T, damage func(profiles *bbolt.Bucket, key []byte) error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "pdp.db")
	s := open(t, path, Options{})
	mustApply(t, s, event(decision.EventLoginSucceeded, "acme", "u1", t0, ipA))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		return damage(tx.Bucket(bucketProfiles), encodeUserKey(userKey{"acme", "u1"}))
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{}); err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a damaged record")
	} else if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "profiles") {
		t.Errorf("error %q does not name the file and the bucket", err)
	}
}

func TestOpenRejectsANewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pdp.db")
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		return b.Put(keySchema, []byte{schemaVersion + 1})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	if s, err := Open(path, Options{}); err == nil {
		_ = s.Close()
		t.Fatal("Open accepted a newer schema")
	} else if !strings.Contains(err.Error(), "schema") {
		t.Errorf("error %q does not mention the schema", err)
	}
}

func TestOpenFailsFastWhenTheFileIsInUse(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pdp.db")
	first := open(t, path, Options{})
	t.Cleanup(func() { _ = first.Close() })
	start := time.Now()
	second, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
	if err == nil {
		_ = second.Close()
		t.Fatal("a second Open of a locked file succeeded")
	}
	if elapsed := time.Since(start); elapsed > 5*time.Second {
		t.Errorf("Open took %v to give up", elapsed)
	}
	if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("error %q does not say that %s is in use", err, path)
	}
	// Once the holder closes, the file opens.
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third := open(t, path, Options{})
	if err := third.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsAnUnusablePath(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", filepath.Join(file, "pdp.db"), dir} {
		s, err := Open(path, Options{LockTimeout: 100 * time.Millisecond})
		if err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded", path)
			continue
		}
		if path != "" && !strings.Contains(err.Error(), path) {
			t.Errorf("Open(%q) error %q does not name the path", path, err)
		}
	}
}

func TestCloseWaitsForWritesAndRefusesLaterOnes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pdp.db")
	s := open(t, path, Options{})
	const n = 64
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := s.ApplyEvent(context.Background(), event(decision.EventLoginFailed, "acme", "u1", t0.Add(time.Duration(i)), ipA), store.Settings{})
			errs <- err
		}()
	}
	time.Sleep(time.Millisecond)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	acked := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			acked++
		case !errors.Is(err, store.ErrClosed):
			t.Errorf("ApplyEvent during Close: %v", err)
		}
	}
	s = open(t, path, Options{})
	t.Cleanup(func() { _ = s.Close() })
	var v store.View
	if err := s.Read(context.Background(), store.Query{Tenant: "acme", UserID: "u1", IP: ipA, At: t0}, &v); err != nil {
		t.Fatal(err)
	}
	if want := min(acked, store.MaxFailedLogins); v.UserFailedLogins != want || v.IPFailedLogins != acked {
		t.Errorf("after reopening: %d user and %d IP failures, want %d and %d acknowledged", v.UserFailedLogins, v.IPFailedLogins, want, acked)
	}
}
