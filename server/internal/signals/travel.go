package signals

import (
	"math"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// EarthRadiusKm is the mean Earth radius the distances use.
const EarthRadiusKm = 6371.0088

// minElapsed keeps the speed finite when two logins share a timestamp.
const minElapsed = time.Second

// HaversineKm returns the great-circle distance between two points given in
// degrees.
func HaversineKm(lat1, lon1, lat2, lon2 float64) float64 {
	const rad = math.Pi / 180
	dLat := (lat2 - lat1) * rad
	dLon := (lon2 - lon1) * rad
	s1, s2 := math.Sin(dLat/2), math.Sin(dLon/2)
	a := s1*s1 + math.Cos(lat1*rad)*math.Cos(lat2*rad)*s2*s2
	return 2 * EarthRadiusKm * math.Asin(math.Sqrt(min(1, a)))
}

// Travel describes the movement from the last successful login to a point
// at time at: the distance, and the speed over the time between them (at
// least one second, whichever came first). It is unknown (zero) when the
// last login has no time or no location.
func Travel(last store.Login, lat, lon float64, at time.Time) decision.Travel {
	if last.Time.IsZero() || !last.HasLocation {
		return decision.Travel{}
	}
	d := HaversineKm(last.Latitude, last.Longitude, lat, lon)
	elapsed := at.Sub(last.Time)
	if elapsed < 0 {
		elapsed = -elapsed
	}
	elapsed = max(elapsed, minElapsed)
	return decision.Travel{
		Known:       true,
		DistanceKm:  d,
		SpeedKmh:    d / elapsed.Hours(),
		FromCountry: last.Country,
		Since:       last.Time,
	}
}
