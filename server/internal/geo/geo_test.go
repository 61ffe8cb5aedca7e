package geo

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// network is one record of a test database.
type network struct {
	cidr     string
	country  string
	city     string
	lat, lon float64
	located  bool
	regOnly  bool // only registered_country is set
}

// writeDB builds a database of kind "Country" or "City" at path (atomically,
// through a rename) with IP version 4 or 6.
func writeDB(t *testing.T, path, kind string, ipVersion int, nets []network) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            "GeoLite2-" + kind,
		IPVersion:               ipVersion,
		RecordSize:              24,
		IncludeReservedNetworks: true, // the documentation ranges are reserved
		Languages:               []string{"en", "de"},
		Description:             map[string]string{"en": "pdp test " + kind + " database"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nets {
		_, ipnet, err := net.ParseCIDR(n.cidr)
		if err != nil {
			t.Fatal(err)
		}
		iso := mmdbtype.Map{"iso_code": mmdbtype.String(n.country)}
		rec := mmdbtype.Map{"registered_country": iso}
		if !n.regOnly {
			rec["country"] = iso
		}
		if kind == "City" && n.city != "" {
			rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{
				"en": mmdbtype.String(n.city),
				"de": mmdbtype.String(n.city + " (de)"),
			}}
		}
		if kind == "City" && n.located {
			rec["location"] = mmdbtype.Map{
				"latitude":        mmdbtype.Float64(n.lat),
				"longitude":       mmdbtype.Float64(n.lon),
				"accuracy_radius": mmdbtype.Uint16(20),
			}
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	replaceFile(t, path, buf.Bytes())
}

// replaceFile writes data beside path and renames it over path, as
// geoipupdate does.
func replaceFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var cityNets = []network{
	{cidr: "203.0.113.0/24", country: "FR", city: "Paris", lat: 48.8566, lon: 2.3522, located: true},
	{cidr: "198.51.100.0/24", country: "br", city: "São Paulo", lat: -23.5505, lon: -46.6333, located: true},
	{cidr: "192.0.2.0/24", country: "DE"}, // country only, no city, no location
	{cidr: "2001:db8:1::/48", country: "JP", city: "Tokyo", lat: 35.6762, lon: 139.6503, located: true},
	{cidr: "2001:db8:2::/48", country: "AU", regOnly: true},
	{cidr: "100.64.0.0/24", country: "NZ", city: "Null Island", lat: 0, lon: 0, located: true},
}

func openDB(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(path, Options{Interval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func lookup(t *testing.T, db *DB, ip string) (decision.GeoSignals, bool) {
	t.Helper()
	return db.Lookup(netip.MustParseAddr(ip))
}

func TestCityDatabase(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	writeDB(t, path, "City", 6, cityNets)
	db := openDB(t, path)
	if got := db.Metadata().DatabaseType; got != "GeoLite2-City" {
		t.Fatalf("type %q", got)
	}
	cases := []struct {
		ip   string
		want decision.GeoSignals
		ok   bool
	}{
		{"203.0.113.7", decision.GeoSignals{Found: true, Country: "FR", City: "Paris", HasLocation: true, Latitude: 48.8566, Longitude: 2.3522}, true},
		{"::ffff:203.0.113.7", decision.GeoSignals{Found: true, Country: "FR", City: "Paris", HasLocation: true, Latitude: 48.8566, Longitude: 2.3522}, true},
		{"198.51.100.1", decision.GeoSignals{Found: true, Country: "BR", City: "São Paulo", HasLocation: true, Latitude: -23.5505, Longitude: -46.6333}, true},
		{"192.0.2.44", decision.GeoSignals{Found: true, Country: "DE"}, true},
		{"2001:db8:1::1", decision.GeoSignals{Found: true, Country: "JP", City: "Tokyo", HasLocation: true, Latitude: 35.6762, Longitude: 139.6503}, true},
		{"2001:db8:1::1%eth0", decision.GeoSignals{Found: true, Country: "JP", City: "Tokyo", HasLocation: true, Latitude: 35.6762, Longitude: 139.6503}, true},
		{"2001:db8:2::9", decision.GeoSignals{Found: true, Country: "AU"}, true},
		{"100.64.0.1", decision.GeoSignals{Found: true, Country: "NZ", City: "Null Island", HasLocation: true}, true},
		{"10.1.2.3", decision.GeoSignals{}, false},
		{"2001:db8:3::1", decision.GeoSignals{}, false},
		{"::1", decision.GeoSignals{}, false},
	}
	for _, c := range cases {
		got, ok := lookup(t, db, c.ip)
		if ok != c.ok || got != c.want {
			t.Errorf("%s: got %+v %v, want %+v %v", c.ip, got, ok, c.want, c.ok)
		}
	}
	if g, ok := db.Lookup(netip.Addr{}); ok || g != (decision.GeoSignals{}) {
		t.Errorf("invalid address: %+v %v", g, ok)
	}
}

func TestCountryDatabaseIPv4Only(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country.mmdb")
	writeDB(t, path, "Country", 4, []network{
		{cidr: "203.0.113.0/24", country: "FR", city: "ignored"},
		{cidr: "198.51.100.0/25", country: "US"},
	})
	db := openDB(t, path)
	got, ok := lookup(t, db, "203.0.113.9")
	if want := (decision.GeoSignals{Found: true, Country: "FR"}); !ok || got != want {
		t.Errorf("country database: %+v %v, want %+v (no city, no location)", got, ok, want)
	}
	if got, ok := lookup(t, db, "198.51.100.200"); ok {
		t.Errorf("outside the /25: %+v", got)
	}
	// An IPv6 address in an IPv4 database is an error of the reader: not found.
	if got, ok := lookup(t, db, "2001:db8:1::1"); ok {
		t.Errorf("IPv6 in an IPv4 database: %+v", got)
	}
	if got, ok := lookup(t, db, "::ffff:203.0.113.9"); !ok || got.Country != "FR" {
		t.Errorf("IPv4-mapped address: %+v %v", got, ok)
	}
}

func TestCountryDatabaseIPv6(t *testing.T) {
	path := filepath.Join(t.TempDir(), "country6.mmdb")
	writeDB(t, path, "Country", 6, []network{
		{cidr: "2001:db8:aa::/48", country: "CA"},
		{cidr: "203.0.113.0/24", country: "IT"},
	})
	db := openDB(t, path)
	if got, ok := lookup(t, db, "2001:db8:aa:1::5"); !ok || got.Country != "CA" || got.City != "" || got.HasLocation {
		t.Errorf("IPv6: %+v %v", got, ok)
	}
	if got, ok := lookup(t, db, "203.0.113.1"); !ok || got.Country != "IT" {
		t.Errorf("IPv4 in an IPv6 database: %+v %v", got, ok)
	}
}

func TestOpenRejects(t *testing.T) {
	dir := t.TempDir()
	if _, err := Open(filepath.Join(dir, "missing.mmdb"), Options{Interval: -1}); err == nil {
		t.Error("missing file opened")
	}
	if _, err := Open(dir, Options{Interval: -1}); err == nil || !strings.Contains(err.Error(), "regular file") {
		t.Errorf("directory: %v", err)
	}
	junk := filepath.Join(dir, "junk.mmdb")
	replaceFile(t, junk, []byte("this is not a MaxMind database"))
	if _, err := Open(junk, Options{Interval: -1}); err == nil {
		t.Error("junk opened")
	}
	// A damaged search tree is caught by verification, not by the first lookup.
	good := filepath.Join(dir, "good.mmdb")
	writeDB(t, good, "City", 6, cityNets)
	data, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 64 && i < len(data); i++ {
		data[i] = 0xff
	}
	bad := filepath.Join(dir, "bad.mmdb")
	replaceFile(t, bad, data)
	if _, err := Open(bad, Options{Interval: -1}); err == nil {
		t.Error("damaged database opened")
	}
}

func TestReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	writeDB(t, path, "City", 6, cityNets)
	db := openDB(t, path)
	if err := db.Reload(); err != ErrUnchanged {
		t.Fatalf("unchanged file: %v", err)
	}
	writeDB(t, path, "City", 6, []network{{cidr: "203.0.113.0/24", country: "ES", city: "Madrid", lat: 40.4168, lon: -3.7038, located: true}})
	if err := db.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, _ := lookup(t, db, "203.0.113.7"); got.Country != "ES" || got.City != "Madrid" {
		t.Errorf("after reload: %+v", got)
	}
	if got, ok := lookup(t, db, "198.51.100.1"); ok {
		t.Errorf("network dropped by the new file still found: %+v", got)
	}

	// A broken file keeps the database in use.
	replaceFile(t, path, []byte("truncated"))
	if err := db.Reload(); err == nil {
		t.Fatal("broken file accepted")
	}
	if got, _ := lookup(t, db, "203.0.113.7"); got.City != "Madrid" {
		t.Errorf("after a rejected reload: %+v", got)
	}
}

// syncBuffer is a log destination safe for the watcher goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestWatchReloadsChangedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	writeDB(t, path, "City", 6, cityNets)
	var logs syncBuffer
	db, err := Open(path, Options{Interval: 5 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	// A broken file is logged and ignored.
	replaceFile(t, path, []byte("not a database"))
	waitFor(t, func() bool { return strings.Contains(logs.String(), "not reloaded") })
	if got, _ := lookup(t, db, "203.0.113.7"); got.City != "Paris" {
		t.Fatalf("broken file replaced the database: %+v", got)
	}

	// A good file is picked up.
	writeDB(t, path, "City", 6, []network{{cidr: "203.0.113.0/24", country: "PT", city: "Lisbon"}})
	waitFor(t, func() bool {
		got, _ := lookup(t, db, "203.0.113.7")
		return got.City == "Lisbon"
	})
	if !strings.Contains(logs.String(), "GeoIP database reloaded") {
		t.Errorf("reload not logged:\n%s", logs.String())
	}

	db.Close()
	if got, ok := lookup(t, db, "203.0.113.7"); ok {
		t.Errorf("lookup after Close: %+v", got)
	}
	if err := db.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestConcurrentLookupsDuringReload(t *testing.T) {
	path := filepath.Join(t.TempDir(), "city.mmdb")
	writeDB(t, path, "City", 6, cityNets)
	db := openDB(t, path)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			addr := netip.MustParseAddr("203.0.113.7")
			for {
				select {
				case <-stop:
					return
				default:
				}
				if g, ok := db.Lookup(addr); !ok || (g.City != "Paris" && g.City != "Lyon") {
					t.Errorf("lookup during reload: %+v %v", g, ok)
					return
				}
			}
		})
	}
	for i := range 6 {
		city := "Paris"
		if i%2 == 0 {
			city = "Lyon"
		}
		writeDB(t, path, "City", 6, []network{{cidr: "203.0.113.0/24", country: "FR", city: city}})
		if err := db.Reload(); err != nil {
			t.Error(err)
		}
	}
	close(stop)
	wg.Wait()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
