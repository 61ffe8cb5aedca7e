package redis

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pdp-dev/pdp/server/internal/store"
)

func richProfile() *store.Profile {
	at := time.Date(2026, 3, 10, 12, 0, 0, 123456789, time.UTC)
	p := &store.Profile{
		Tenant: "acme", UserID: "ü1",
		Devices:      []store.Seen{{Key: "d1", FirstSeen: at, LastSeen: at.Add(time.Hour), Count: 3}},
		Countries:    []store.Seen{{Key: "PT", FirstSeen: at, LastSeen: at, Count: 1}, {Key: "ES", FirstSeen: at, LastSeen: at, Count: 2}},
		Actions:      []store.Seen{{Key: "export.csv", FirstSeen: at, LastSeen: at, Count: 1}},
		LoginDays:    []store.DayCount{{Day: store.DayOf(at), Count: 4}, {Day: -3, Count: 1}},
		LoginCount:   1 << 40,
		LastLogin:    store.Login{Time: at, IP: netip.MustParseAddr("2001:db8::1"), Country: "PT", City: "Lisboa", HasLocation: true, Latitude: 38.72, Longitude: -9.14, DeviceID: "d1"},
		LastActivity: at.Add(time.Minute),
		FailedLogins: []time.Time{at.Add(-time.Second), at},
		Suspension:   store.Suspension{Suspended: true, Reason: "brute force", At: at, By: "incident response"},
		MFAResetAt:   time.Date(1960, 1, 1, 0, 0, 0, 0, time.UTC),
		UpdatedAt:    at,
	}
	p.Hours[12] = store.HourSlot{Count: 7, LastSeen: at}
	return p
}

func TestCodecRoundTrips(t *testing.T) {
	t.Parallel()
	for _, p := range []*store.Profile{richProfile(), {}, {Tenant: "t", UserID: "u", LastLogin: store.Login{IP: netip.MustParseAddr("192.0.2.1")}}} {
		var got store.Profile
		got.Devices = []store.Seen{{Key: "stale"}} // reused, not appended to
		if err := decodeProfile(encodeProfile(p), &got); err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(p, &got, cmpOpts...); d != "" {
			t.Errorf("profile round trip (-want +got):\n%s", d)
		}
		if !got.MFAResetAt.Equal(p.MFAResetAt) || got.MFAResetAt.IsZero() != p.MFAResetAt.IsZero() {
			t.Errorf("MFAResetAt %v, want %v", got.MFAResetAt, p.MFAResetAt)
		}
	}
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	r := &store.IPRecord{
		Failures:  []store.IPFailure{{Time: at, UserID: "u1"}, {Time: at.Add(time.Nanosecond)}},
		Users:     []store.Seen{{Key: "u1", FirstSeen: at, LastSeen: at, Count: 1}},
		UpdatedAt: at,
	}
	var got store.IPRecord
	if err := decodeIPRecord(encodeIPRecord(r), &got); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(r, &got, cmpOpts...); d != "" {
		t.Errorf("record round trip (-want +got):\n%s", d)
	}
}

var cmpOpts = []cmp.Option{cmpopts.EquateEmpty(), cmp.Comparer(func(a, b netip.Addr) bool { return a == b }), cmp.Comparer(func(a, b time.Time) bool {
	return a.Equal(b) && a.IsZero() == b.IsZero()
})}

func TestCodecRejectsDamage(t *testing.T) {
	t.Parallel()
	b := encodeProfile(richProfile())
	for _, bad := range [][]byte{nil, {}, b[:len(b)-1], append(append([]byte{}, b...), 0), encodeIPRecord(&store.IPRecord{}), []byte(`{"tenant":"acme"}`)} {
		if err := decodeProfile(bad, new(store.Profile)); err == nil {
			t.Errorf("decodeProfile accepted %q", bad)
		}
	}
	if err := decodeIPRecord(b, new(store.IPRecord)); err == nil {
		t.Error("decodeIPRecord accepted a profile")
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(encodeProfile(richProfile()))
	f.Add(encodeIPRecord(&store.IPRecord{Failures: []store.IPFailure{{UserID: "u"}}}))
	f.Add([]byte{formatProfile, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p store.Profile
		if decodeProfile(b, &p) == nil {
			if again := encodeProfile(&p); decodeProfile(again, new(store.Profile)) != nil {
				t.Fatal("a decoded profile does not encode back")
			}
		}
		var r store.IPRecord
		_ = decodeIPRecord(b, &r)
	})
}
