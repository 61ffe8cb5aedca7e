// Package geo resolves client addresses to a location from a MaxMind-format
// database (`--geoip-db PATH`): GeoLite2 or GeoIP2 Country and City, and
// the DB-IP databases that follow the same layout. It implements
// signals.Geo: the ISO 3166-1 alpha-2 country, the English city name and
// the coordinates when the database has them.
//
// The database is memory-mapped (github.com/oschwald/maxminddb-golang/v2)
// and checked in full (Reader.Verify) before it is used. A DB watches its
// file and reloads it when it changes: the new database is opened and
// verified aside and swapped in with one atomic store, so lookups never
// lock and never see half a database. A new file that cannot be opened or
// fails verification is logged and the previous database stays in use.
//
// Replace the file by renaming a complete new one over it, as geoipupdate
// does; rewriting a memory-mapped file in place can crash any program
// reading it. A replaced database is unmapped by the garbage collector
// once no lookup uses it any more.
//
// The location a request carries wins over GeoIP: the signals enricher
// and recorder only use a lookup for what the request leaves out, and Rego
// prefers input.network.country to input.signals.geo.country.
package geo

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oschwald/maxminddb-golang/v2"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// DefaultInterval is how often a DB checks whether its file changed.
const DefaultInterval = 5 * time.Second

// Options configure Open.
type Options struct {
	// Logger receives reloads and rejected files; nil discards.
	Logger *slog.Logger
	// Interval is how often the file is checked for changes; DefaultInterval
	// when zero, never when negative. A change is loaded once the file has
	// stayed the same for one interval, so that a file still being copied
	// is not picked up half written.
	Interval time.Duration
}

// DB is an open GeoIP database. It is safe for concurrent use.
type DB struct {
	path   string
	logger *slog.Logger
	cur    atomic.Pointer[database]

	mu      sync.Mutex // serialises Reload
	stop    chan struct{}
	stopped chan struct{}
	once    sync.Once
}

// database is one opened file.
type database struct {
	reader *maxminddb.Reader
	stat   fileStat
}

// fileStat identifies a version of the file.
type fileStat struct {
	info os.FileInfo
}

func (s fileStat) same(o fileStat) bool {
	if s.info == nil || o.info == nil {
		return s.info == o.info
	}
	return os.SameFile(s.info, o.info) && s.info.Size() == o.info.Size() && s.info.ModTime().Equal(o.info.ModTime())
}

// record is the part of a Country or City record a lookup reads.
type record struct {
	Country struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"country"`
	RegisteredCountry struct {
		ISOCode string `maxminddb:"iso_code"`
	} `maxminddb:"registered_country"`
	City struct {
		Names struct {
			English string `maxminddb:"en"`
		} `maxminddb:"names"`
	} `maxminddb:"city"`
	Location struct {
		Latitude  *float64 `maxminddb:"latitude"`
		Longitude *float64 `maxminddb:"longitude"`
	} `maxminddb:"location"`
}

// Open opens and verifies the database at path and starts watching it.
// Close stops the watcher.
func Open(path string, o Options) (*DB, error) {
	db := &DB{path: path, logger: o.Logger, stop: make(chan struct{}), stopped: make(chan struct{})}
	if db.logger == nil {
		db.logger = slog.New(slog.DiscardHandler)
	}
	d, err := load(path)
	if err != nil {
		return nil, err
	}
	db.cur.Store(d)
	db.logOpened("GeoIP database loaded", d)
	interval := o.Interval
	if interval == 0 {
		interval = DefaultInterval
	}
	if interval > 0 {
		go db.watch(interval)
	} else {
		close(db.stopped)
	}
	return db, nil
}

// load opens and verifies one version of the file.
func load(path string) (*database, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("GeoIP database: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("GeoIP database %s: not a regular file", path)
	}
	r, err := maxminddb.Open(path)
	if err != nil {
		return nil, fmt.Errorf("GeoIP database %s: %w", path, err)
	}
	if err := r.Verify(); err != nil {
		_ = r.Close()
		return nil, fmt.Errorf("GeoIP database %s is damaged: %w", path, err)
	}
	return &database{reader: r, stat: fileStat{info: info}}, nil
}

func (db *DB) logOpened(msg string, d *database) {
	m := d.reader.Metadata
	db.logger.Info(msg, "path", db.path, "type", m.DatabaseType,
		"built", m.BuildTime().UTC().Format(time.RFC3339), "ip_version", m.IPVersion)
	if t := strings.ToLower(m.DatabaseType); !strings.Contains(t, "country") && !strings.Contains(t, "city") {
		db.logger.Warn("GeoIP database type is neither Country nor City; lookups find only records with country or location fields",
			"path", db.path, "type", m.DatabaseType)
	}
}

// Lookup returns the location of addr: found is false when the database
// has no country, city or coordinates for it (private and reserved
// addresses, an IPv6 address in an IPv4 database, a closed DB).
func (db *DB) Lookup(addr netip.Addr) (decision.GeoSignals, bool) {
	d := db.cur.Load()
	if d == nil || !addr.IsValid() {
		return decision.GeoSignals{}, false
	}
	addr = addr.Unmap().WithZone("")
	res := d.reader.Lookup(addr)
	if res.Err() != nil || !res.Found() {
		return decision.GeoSignals{}, false
	}
	var rec record
	if err := res.Decode(&rec); err != nil {
		return decision.GeoSignals{}, false
	}
	g := decision.GeoSignals{Country: strings.ToUpper(rec.Country.ISOCode), City: rec.City.Names.English}
	if g.Country == "" {
		g.Country = strings.ToUpper(rec.RegisteredCountry.ISOCode)
	}
	if lat, lon := rec.Location.Latitude, rec.Location.Longitude; lat != nil && lon != nil {
		g.HasLocation, g.Latitude, g.Longitude = true, *lat, *lon
	}
	if g.Country == "" && g.City == "" && !g.HasLocation {
		return decision.GeoSignals{}, false
	}
	g.Found = true
	return g, true
}

// Metadata returns the metadata of the database in use.
func (db *DB) Metadata() maxminddb.Metadata {
	if d := db.cur.Load(); d != nil {
		return d.reader.Metadata
	}
	return maxminddb.Metadata{}
}

// ErrUnchanged is returned by Reload when the file is the one in use.
var ErrUnchanged = errors.New("GeoIP database unchanged")

// Reload opens the file again when it changed since it was loaded and
// swaps it in. It returns ErrUnchanged when the file did not change, and
// the open or verification error when the new file is unusable, in which
// case the database in use stays.
func (db *DB) Reload() error {
	db.mu.Lock()
	defer db.mu.Unlock()
	old := db.cur.Load()
	if old == nil {
		return errors.New("GeoIP database closed")
	}
	info, err := os.Stat(db.path)
	if err == nil && old.stat.same(fileStat{info: info}) {
		return ErrUnchanged
	}
	d, err := load(db.path)
	if err != nil {
		return err
	}
	if !db.cur.CompareAndSwap(old, d) {
		return errors.New("GeoIP database closed")
	}
	db.logOpened("GeoIP database reloaded", d)
	return nil
}

// watch checks the file every interval and reloads it once a change has
// settled for one interval. A rejected version is not tried again until
// the file changes once more.
func (db *DB) watch(interval time.Duration) {
	defer close(db.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	var pending, rejected fileStat
	for {
		select {
		case <-db.stop:
			return
		case <-t.C:
		}
		info, err := os.Stat(db.path)
		if err != nil {
			continue // being replaced, or gone: keep what is loaded
		}
		st := fileStat{info: info}
		cur := db.cur.Load()
		if cur == nil {
			return
		}
		if st.same(cur.stat) || st.same(rejected) {
			pending = fileStat{}
			continue
		}
		if !st.same(pending) {
			pending = st // changed since the last tick: let it settle
			continue
		}
		pending = fileStat{}
		if err := db.Reload(); err != nil && !errors.Is(err, ErrUnchanged) {
			rejected = st
			db.logger.Error("GeoIP database not reloaded; the previous one stays in use", "path", db.path, "error", err.Error())
		}
	}
}

// Close stops watching the file and drops the database; later lookups
// find nothing. The memory map is released by the garbage collector once
// no lookup in flight uses it, so Close is safe while lookups run.
func (db *DB) Close() error {
	db.once.Do(func() {
		close(db.stop)
		<-db.stopped
		db.mu.Lock()
		db.cur.Store(nil)
		db.mu.Unlock()
	})
	return nil
}
