package bolt

import (
	"context"
	"math"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// fullProfile fills every field, with the values a codec gets wrong:
// nanoseconds, times before 1970 and far ahead, zoned and IPv4-mapped
// addresses, negative zero, empty and non-ASCII strings.
func fullProfile() *store.Profile {
	p := &store.Profile{Tenant: "acme", UserID: "ü/1"}
	at := func(i int) time.Time { return t0.Add(time.Duration(i)*time.Hour + time.Duration(i)*time.Nanosecond) }
	for i := range store.MaxDevices {
		p.Devices = append(p.Devices, store.Seen{Key: "dev-" + strings.Repeat("x", i), FirstSeen: at(-i), LastSeen: at(i), Count: int64(i * 1000)})
	}
	p.Countries = []store.Seen{{Key: "PT", FirstSeen: at(0), LastSeen: at(1), Count: 1}, {Key: "", Count: -1}}
	p.Actions = []store.Seen{{Key: "admin.users.delete", FirstSeen: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), LastSeen: time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC), Count: math.MaxInt64}}
	for h := range p.Hours {
		if h%3 != 0 {
			p.Hours[h] = store.HourSlot{Count: int64(h), LastSeen: at(h)}
		}
	}
	p.Hours[3].Count = 7 // a count without a time is kept too
	p.Hours[23].LastSeen = time.Date(1960, 5, 1, 0, 0, 0, 5, time.UTC)
	for d := range 400 {
		p.LoginDays = append(p.LoginDays, store.DayCount{Day: store.DayOf(t0) - 400 + int64(d), Count: int64(d % 7)})
	}
	p.LoginDays = append(p.LoginDays, store.DayCount{Day: -3, Count: math.MinInt64})
	p.LoginCount = 1 << 40
	p.LastLogin = store.Login{
		Time: at(5), IP: netip.MustParseAddr("fe80::1%eth0"), Country: "PT", City: "Lisboa",
		HasLocation: true, Latitude: 38.72, Longitude: math.Copysign(0, -1), DeviceID: "dev-",
	}
	p.LastActivity = at(6)
	for i := range store.MaxFailedLogins {
		p.FailedLogins = append(p.FailedLogins, at(i))
	}
	p.Suspension = store.Suspension{Suspended: true, Reason: "incident\n\"x\"", At: at(7), By: "incident response"}
	p.MFAResetAt = at(8)
	p.UpdatedAt = at(9)
	return p
}

func TestProfileRoundTrip(t *testing.T) {
	t.Parallel()
	mapped := fullProfile()
	mapped.LastLogin.IP = netip.MustParseAddr("::ffff:198.51.100.7")
	mapped.LastLogin.HasLocation, mapped.LastLogin.Latitude, mapped.LastLogin.Longitude = false, 0, 0
	outside := fullProfile() // the last login's device and country are in no list
	outside.LastLogin.DeviceID, outside.LastLogin.Country = "evicted", "BR"
	v4 := &store.Profile{Tenant: "t", UserID: "u"}
	v4.Apply(event(decision.EventLoginSucceeded, "t", "u", t0, ipA), store.Settings{})
	v6 := &store.Profile{Tenant: "t", UserID: "u"}
	v6.Apply(event(decision.EventMFAFailed, "t", "u", t0, ipB), store.Settings{})
	tests := []struct {
		name string
		p    *store.Profile
	}{
		{"empty", &store.Profile{Tenant: "t", UserID: "u"}},
		{"full", fullProfile()},
		{"mapped address", mapped},
		{"login outside the lists", outside},
		{"one login", v4},
		{"one failure", v6},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			v := string(encodeProfile(42, tc.p))
			got := fullProfile() // decoding must overwrite every field
			if err := decodeProfile(userKey{tc.p.Tenant, tc.p.UserID}, v, got); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.p, got, cmpOpts, exactTimes); d != "" {
				t.Errorf("round trip (-want +got):\n%s", d)
			}
			if got.LastLogin.IP != tc.p.LastLogin.IP {
				t.Errorf("address %v, want %v", got.LastLogin.IP, tc.p.LastLogin.IP)
			}
			if math.Float64bits(got.LastLogin.Longitude) != math.Float64bits(tc.p.LastLogin.Longitude) {
				t.Errorf("longitude %v, want %v", got.LastLogin.Longitude, tc.p.LastLogin.Longitude)
			}
			if writtenOf(v) != 42 {
				t.Errorf("write time %d, want 42", writtenOf(v))
			}
		})
	}
}

// exactTimes compares times with ==: the same instant, in UTC, without a
// monotonic reading, as JSON gave back.
var exactTimes = cmp.Comparer(func(a, b time.Time) bool { return a == b })

func TestIPRecordRoundTrip(t *testing.T) {
	t.Parallel()
	var r store.IPRecord
	for i := range store.MaxIPFailures + 10 {
		user := ""
		if i%3 != 0 {
			user = "u" + strings.Repeat("1", i%5)
		}
		r.Apply(t0.Add(time.Duration(i)*time.Millisecond), user, store.Settings{})
	}
	for _, rec := range []*store.IPRecord{{}, &r} {
		v := string(encodeIPRecord(7, rec))
		var got store.IPRecord
		if err := decodeIPRecord(v, &got); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(rec, &got, cmpOpts, exactTimes); d != "" {
			t.Errorf("round trip (-want +got):\n%s", d)
		}
	}
}

// TestDecodeRejectsDamage cuts and flips encoded records: decoding must
// fail or succeed without panicking, and every cut must fail.
func TestDecodeRejectsDamage(t *testing.T) {
	t.Parallel()
	k := userKey{"acme", "ü/1"}
	v := string(encodeProfile(1, fullProfile()))
	var p store.Profile
	for n := range len(v) {
		if err := decodeProfile(k, v[:n], &p); err == nil {
			t.Fatalf("a profile cut to %d of %d bytes decoded", n, len(v))
		}
	}
	if err := decodeProfile(k, v+"x", &p); err == nil {
		t.Fatal("a profile with a trailing byte decoded")
	}
	for i := 8; i < len(v); i++ {
		b := []byte(v)
		b[i] ^= 0xff
		_ = decodeProfile(k, string(b), &p)
	}
	var r store.IPRecord
	rv := string(encodeIPRecord(1, &store.IPRecord{Failures: []store.IPFailure{{Time: t0, UserID: "u"}}, UpdatedAt: t0}))
	for n := range len(rv) {
		if err := decodeIPRecord(rv[:n], &r); err == nil {
			t.Fatalf("an IP record cut to %d of %d bytes decoded", n, len(rv))
		}
	}
}

func FuzzDecodeProfile(f *testing.F) {
	f.Add(string(encodeProfile(1, fullProfile())))
	f.Add(string(encodeProfile(1, &store.Profile{})))
	f.Fuzz(func(t *testing.T, v string) {
		k := userKey{"t", "u"}
		var p store.Profile
		if decodeProfile(k, v, &p) != nil {
			return
		}
		again := string(encodeProfile(writtenOf(v), &p))
		var q store.Profile
		if err := decodeProfile(k, again, &q); err != nil {
			t.Fatalf("re-encoded profile does not decode: %v", err)
		}
		if d := cmp.Diff(&p, &q, cmpOpts, exactTimes); d != "" {
			t.Errorf("decode(encode(p)) != p (-p +again):\n%s", d)
		}
	})
}

// TestOpenReadsSchema1 opens a file of schema 1, whose records are JSON:
// it serves them unchanged, writes binary from then on, and marks the
// file schema 2.
func TestOpenReadsSchema1(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "pdp.db")
	profile := fullProfile()
	var rec store.IPRecord
	rec.Apply(t0, "u1", store.Settings{})
	rec.Apply(t0.Add(time.Second), "ü/1", store.Settings{})

	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketMeta, bucketProfiles, bucketIPs, bucketSSO} {
			if _, err := tx.CreateBucket(b); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketMeta).Put(keySchema, []byte{1}); err != nil {
			return err
		}
		pv, err := encodeValue(1, profile)
		if err != nil {
			return err
		}
		if err := tx.Bucket(bucketProfiles).Put(encodeUserKey(userKey{"acme", "ü/1"}), pv); err != nil {
			return err
		}
		iv, err := encodeValue(2, &rec)
		if err != nil {
			return err
		}
		return tx.Bucket(bucketIPs).Put(encodeIPKey(ipKey{"acme", ipB}), iv)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	ctx := context.Background()
	check := func(s *Store, want *store.Profile) {
		t.Helper()
		got, err := store.LoadProfile(ctx, s, "acme", "ü/1")
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(want, got, cmpOpts, exactTimes); d != "" {
			t.Errorf("profile (-want +got):\n%s", d)
		}
		var v store.View
		if err := s.Read(ctx, store.Query{Tenant: "acme", UserID: "ü/1", IP: ipB, At: t0.Add(time.Minute)}, &v); err != nil {
			t.Fatal(err)
		}
		if v.IPFailedLogins != 2 || v.IPFailedUsers != 2 {
			t.Errorf("IP counters %d, %d, want 2, 2", v.IPFailedLogins, v.IPFailedUsers)
		}
	}
	s := open(t, filepath.Clean(path), Options{})
	check(s, profile)
	if err := s.db.View(func(tx *bbolt.Tx) error {
		if v := tx.Bucket(bucketMeta).Get(keySchema); len(v) != 1 || v[0] != schemaVersion {
			t.Errorf("schema %v after Open, want %d", v, schemaVersion)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.ResetMFA(ctx, "acme", "ü/1", t0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	profile.MFAResetAt = t0
	s = open(t, path, Options{})
	defer s.Close()
	check(s, profile)
	if err := s.db.View(func(tx *bbolt.Tx) error {
		if isJSON(tx.Bucket(bucketProfiles).Get(encodeUserKey(userKey{"acme", "ü/1"}))) {
			t.Error("the rewritten profile is still JSON")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsADamagedBinaryRecord(t *testing.T) {
	t.Parallel()
	expectOpenRejectsDamage(t, func(b *bbolt.Bucket, k []byte) error {
		v := b.Get(k)
		return b.Put(k, v[:len(v)-1])
	})
}

// BenchmarkDecodeProfile decodes the profile BenchmarkRead reads (20
// logins: one device, country and action, 20 hour slots) and a profile
// filled to its bounds, as Read and GetProfile do.
func BenchmarkDecodeProfile(b *testing.B) {
	typical := &store.Profile{Tenant: "acme", UserID: "u42"}
	for i := range 20 {
		typical.Apply(event(decision.EventLoginSucceeded, "acme", "u42", t0.Add(time.Duration(i)*time.Hour), ipA), store.Settings{})
	}
	for _, p := range []struct {
		name string
		p    *store.Profile
	}{{"20-logins", typical}, {"full", fullProfile()}} {
		b.Run(p.name, func(b *testing.B) {
			v := string(encodeProfile(1, p.p))
			k := userKey{p.p.Tenant, p.p.UserID}
			var dst store.Profile
			b.ReportAllocs()
			for b.Loop() {
				if err := decodeProfile(k, v, &dst); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(v)), "value-B")
		})
	}
}
