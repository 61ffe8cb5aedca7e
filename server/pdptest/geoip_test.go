package pdptest_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/app"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/pdptest"
)

const geoTenant = `
tenant: geo-e2e
plan: enterprise
environments:
  production:
    mfa: {mode: "off"}
    roles:
      viewer: {actions: [api.read]}
    countries:
      blocked: [BR]
`

// writeCityDB writes a GeoLite2-City-shaped database: 198.51.100.0/24 in
// São Paulo, 203.0.113.0/24 in Paris.
func writeCityDB(t *testing.T, path string) {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: "GeoLite2-City", IncludeReservedNetworks: true,
		Description: map[string]string{"en": "pdptest city database"}, Languages: []string{"en"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []struct {
		cidr, iso, city string
		lat, lon        float64
	}{
		{"198.51.100.0/24", "BR", "São Paulo", -23.55, -46.63},
		{"203.0.113.0/24", "FR", "Paris", 48.86, 2.35},
	} {
		_, ipnet, err := net.ParseCIDR(n.cidr)
		if err != nil {
			t.Fatal(err)
		}
		rec := mmdbtype.Map{
			"country":  mmdbtype.Map{"iso_code": mmdbtype.String(n.iso)},
			"city":     mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String(n.city)}},
			"location": mmdbtype.Map{"latitude": mmdbtype.Float64(n.lat), "longitude": mmdbtype.Float64(n.lon)},
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestGeoIPLocatesRequestsWithoutACountry(t *testing.T) {
	db := filepath.Join(t.TempDir(), "city.mmdb")
	writeCityDB(t, db)
	srv := pdptest.Start(t, pdptest.WithTenant("geo-e2e.yaml", geoTenant),
		pdptest.WithConfig(func(c *config.Config) { c.GeoIPDB = db }))
	check := func(ip, country string) *pdpv1.CheckResponse {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := srv.Decisions.Check(ctx, &pdpv1.CheckRequest{
			Tenant:  "geo-e2e",
			Subject: &pdpv1.Subject{Id: "geo-user", Roles: []string{"viewer"}},
			Network: &pdpv1.Network{Ip: ip, Country: country},
			Device:  &pdpv1.Device{Id: "d1", Managed: true, Compliant: true},
			Action:  &pdpv1.Action{Name: "api.read"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}

	r := check("198.51.100.20", "")
	if r.GetDecision() != pdpv1.Decision_DECISION_DENY || !slices.Contains(irCodes(r), "network.country_blocked") {
		t.Fatalf("GeoIP country BR: %v %v", r.GetDecision(), irCodes(r))
	}
	for _, reason := range r.GetReasons() {
		if reason.GetCode() == "network.country_blocked" && !strings.Contains(reason.GetMessage(), "GeoIP") {
			t.Errorf("message %q does not name GeoIP as the source", reason.GetMessage())
		}
	}
	// The request's own country wins over the database.
	if r := check("198.51.100.20", "FR"); slices.Contains(irCodes(r), "network.country_blocked") {
		t.Errorf("request country FR: %v %v", r.GetDecision(), irCodes(r))
	}
	if r := check("203.0.113.5", ""); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Errorf("GeoIP country FR: %v %v", r.GetDecision(), irCodes(r))
	}
	// An address the database does not know is not located.
	if r := check("192.0.2.1", ""); r.GetDecision() != pdpv1.Decision_DECISION_ALLOW {
		t.Errorf("unknown address: %v %v", r.GetDecision(), irCodes(r))
	}
}

func TestServeRefusesABrokenGeoIPDatabase(t *testing.T) {
	db := filepath.Join(t.TempDir(), "broken.mmdb")
	if err := os.WriteFile(db, []byte("not a database"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.GRPCAddr, cfg.HTTPAddr, cfg.Store, cfg.GeoIPDB = "127.0.0.1:0", "127.0.0.1:0", "memory:", db
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := app.Run(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "GeoIP database") {
		t.Fatalf("got %v, want a GeoIP database error", err)
	}
}
