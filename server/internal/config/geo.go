package config

import (
	"errors"
	"flag"
	"os"
)

// Geo is the GeoIP part of Config.
type Geo struct {
	// GeoIPDB is the path of a MaxMind-format database (GeoLite2 or GeoIP2
	// Country or City, or a DB-IP database of the same layout) used to
	// locate requests that carry no location of their own; empty for none.
	// The file is reloaded when it changes (--geoip-db, PDP_GEOIP_DB).
	GeoIPDB string
}

// registerGeo adds the GeoIP flags to fs.
func (g *Geo) registerGeo(fs *flag.FlagSet) {
	fs.StringVar(&g.GeoIPDB, "geoip-db", g.GeoIPDB, "MaxMind-format GeoIP database (Country or City) for requests without a location")
}

// checkGeo reports the problems of the GeoIP settings through bad.
func (g Geo) checkGeo(bad func(format string, args ...any)) {
	if g.GeoIPDB == "" {
		return
	}
	st, err := os.Stat(g.GeoIPDB)
	switch {
	case err != nil:
		bad("--geoip-db %s: %v", g.GeoIPDB, err)
	case !st.Mode().IsRegular():
		bad("--geoip-db %s: %v", g.GeoIPDB, errors.New("not a regular file"))
	}
}
