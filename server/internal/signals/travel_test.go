package signals

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// eastOf returns the longitude at km kilometres east of (0, 0) on the equator.
func eastOf(km float64) float64 { return km / (EarthRadiusKm * math.Pi / 180) }

func TestHaversineKm(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want                   float64
	}{
		{"same point", 38.72, -9.14, 38.72, -9.14, 0},
		{"100 km along the equator", 0, 0, 0, eastOf(100), 100},
		{"pole to pole", 90, 0, -90, 0, math.Pi * EarthRadiusKm},
		{"antipodes across the date line", 0, 179, 0, -1, math.Pi * EarthRadiusKm},
		{"Lisbon to New York", 38.7223, -9.1393, 40.7128, -74.0060, 5420},
	}
	for _, tc := range tests {
		got := HaversineKm(tc.lat1, tc.lon1, tc.lat2, tc.lon2)
		tol := 1e-6
		if tc.name == "Lisbon to New York" {
			tol = 10 // published great-circle figure, rounded
		}
		if math.Abs(got-tc.want) > tol {
			t.Errorf("%s: %f km, want %f", tc.name, got, tc.want)
		}
	}
}

func TestTravel(t *testing.T) {
	t.Parallel()
	last := store.Login{Time: t0, Country: "EC", HasLocation: true}
	approx := cmpopts.EquateApprox(0, 1e-6)
	tests := []struct {
		name string
		last store.Login
		lon  float64
		at   time.Time
		want decision.Travel
	}{
		{"900 km in exactly one hour", last, eastOf(900), t0.Add(time.Hour),
			decision.Travel{Known: true, DistanceKm: 900, SpeedKmh: 900, FromCountry: "EC", Since: t0}},
		{"900 km a second faster", last, eastOf(900), t0.Add(time.Hour - time.Second),
			decision.Travel{Known: true, DistanceKm: 900, SpeedKmh: 900 * 3600 / 3599.0, FromCountry: "EC", Since: t0}},
		{"900 km a second slower", last, eastOf(900), t0.Add(time.Hour + time.Second),
			decision.Travel{Known: true, DistanceKm: 900, SpeedKmh: 900 * 3600 / 3601.0, FromCountry: "EC", Since: t0}},
		{"100 km in a minute", last, eastOf(100), t0.Add(time.Minute),
			decision.Travel{Known: true, DistanceKm: 100, SpeedKmh: 6000, FromCountry: "EC", Since: t0}},
		{"request before the login", last, eastOf(100), t0.Add(-time.Hour),
			decision.Travel{Known: true, DistanceKm: 100, SpeedKmh: 100, FromCountry: "EC", Since: t0}},
		{"same instant counts one second", last, eastOf(1), t0,
			decision.Travel{Known: true, DistanceKm: 1, SpeedKmh: 3600, FromCountry: "EC", Since: t0}},
		{"last login without location", store.Login{Time: t0, Country: "EC"}, eastOf(1), t0.Add(time.Hour), decision.Travel{}},
		{"no last login", store.Login{}, eastOf(1), t0.Add(time.Hour), decision.Travel{}},
	}
	for _, tc := range tests {
		got := Travel(tc.last, 0, tc.lon, tc.at)
		if d := cmp.Diff(tc.want, got, approx); d != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, d)
		}
	}
}

func TestTravelSignal(t *testing.T) {
	t.Parallel()
	geo := fakeGeo{ipB: {Country: "EC", HasLocation: true, Latitude: 0, Longitude: eastOf(500)}}
	f := newFixture(t, withGeo(geo))
	f.report(t, decision.EventLoginSucceeded, "u1", t0, evCountry("EC"), evAt(0, 0))
	f.report(t, decision.EventLoginSucceeded, "u2", t0, evCountry("EC"))
	// u3 logs in from an IP GeoIP places; the recorder stores that location.
	f.report(t, decision.EventLoginSucceeded, "u3", t0, evIP(ipB))
	tests := []struct {
		name string
		req  *decision.Request
		km   float64
		kmh  float64
		from string
	}{
		{"request location", request("u1", t0.Add(time.Hour), rqAt(0, eastOf(100))), 100, 100, "EC"},
		{"GeoIP location when the request has none", request("u1", t0.Add(time.Hour), rqIP(ipB)), 500, 500, "EC"},
		{"request location wins over GeoIP", request("u1", t0.Add(time.Hour), rqIP(ipB), rqAt(0, eastOf(200))), 200, 200, "EC"},
		{"last login located by GeoIP", request("u3", t0.Add(time.Hour), rqAt(0, 0)), 500, 500, "EC"},
	}
	for _, tc := range tests {
		sig := f.enrich(t, tc.req)
		tr := sig.Profile.Travel
		if !tr.Known || math.Abs(tr.DistanceKm-tc.km) > 1e-6 || math.Abs(tr.SpeedKmh-tc.kmh) > 1e-6 || tr.FromCountry != tc.from {
			t.Errorf("%s: %+v, want %v km at %v km/h from %s", tc.name, tr, tc.km, tc.kmh, tc.from)
		}
	}
	for _, req := range []*decision.Request{
		request("u1", t0.Add(time.Hour)),                           // no location now
		request("u2", t0.Add(time.Hour), rqAt(0, 1)),               // no location then
		request("u1", t0.Add(time.Hour), rqIP(ipA)),                // GeoIP does not know the IP
		request("nobody", t0.Add(time.Hour), rqAt(0, eastOf(100))), // no profile
	} {
		if tr := f.enrich(t, req).Profile.Travel; tr.Known {
			t.Errorf("travel known for %s: %+v", req.Subject.ID, tr)
		}
	}
}
