package signals

import (
	"context"
	"time"

	"github.com/google/uuid"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// RecorderOptions configure a Recorder.
type RecorderOptions struct {
	// State is the store the events go to; required.
	State EventApplier
	// Geo fills in the location of events that report an IP without one;
	// nil for none.
	Geo Geo
	// Settings returns a tenant environment's settings; DefaultSettings
	// when nil.
	Settings SettingsFunc
	// Now is the clock for events without a time; time.Now when nil.
	Now func() time.Time
	// NewID returns a unique event id; a UUIDv7 when nil.
	NewID func() (string, error)
}

// Recorder applies reported events to the store. It is safe for
// concurrent use.
type Recorder struct {
	state    EventApplier
	geo      Geo
	settings SettingsFunc
	now      func() time.Time
	newID    func() (string, error)
}

// Recorded is what recording one event did.
type Recorded struct {
	// EventID is the event's unique id.
	EventID string
	// Outcome holds the counters after the event, computed at its time,
	// for incident response.
	Outcome store.Outcome
	// Event is the event as applied: its time set, its location filled in
	// from GeoIP.
	Event decision.Event
}

// NewRecorder returns a recorder.
func NewRecorder(o RecorderOptions) *Recorder {
	r := &Recorder{state: o.State, geo: o.Geo, settings: o.Settings, now: o.Now, newID: o.NewID}
	if r.settings == nil {
		r.settings = DefaultSettings
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.newID == nil {
		r.newID = newUUID
	}
	return r
}

// Record applies ev and returns its id. The gRPC and HTTP Report handlers
// call it.
func (r *Recorder) Record(ctx context.Context, ev *decision.Event) (string, error) {
	rec, err := r.Apply(ctx, ev)
	return rec.EventID, err
}

// Apply applies ev to the store and returns its id with the outcome.
// ev itself is not modified: an event without a time gets the recorder's
// clock, and an event with an IP but no country or no coordinates gets
// them from GeoIP, on a copy.
func (r *Recorder) Apply(ctx context.Context, ev *decision.Event) (Recorded, error) {
	if ev == nil {
		return Recorded{}, fault.Invalid(fault.FieldViolation{Field: "event", Description: "required"})
	}
	rec := Recorded{Event: *ev}
	e := &rec.Event
	if e.Time.IsZero() {
		e.Time = r.now()
	}
	if e.Environment == "" {
		e.Environment = decision.DefaultEnvironment
	}
	r.locate(e)
	out, err := r.state.ApplyEvent(ctx, e, r.settings(e.Tenant, e.Environment).Store())
	if err != nil {
		return Recorded{}, err
	}
	id, err := r.newID()
	if err != nil {
		return Recorded{}, fault.Wrap(err, fault.Internal, "cannot make an event id")
	}
	rec.EventID, rec.Outcome = id, out
	return rec, nil
}

// locate fills the event's missing country, city and coordinates from GeoIP.
func (r *Recorder) locate(e *decision.Event) {
	n := &e.Network
	if r.geo == nil || !n.IP.IsValid() || n.HasLocation && n.Country != "" {
		return
	}
	g, ok := r.geo.Lookup(n.IP)
	if !ok {
		return
	}
	if n.Country == "" {
		n.Country = g.Country
		if n.City == "" {
			n.City = g.City
		}
	}
	if !n.HasLocation && g.HasLocation {
		n.HasLocation, n.Latitude, n.Longitude = true, g.Latitude, g.Longitude
	}
}

func newUUID() (string, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return "", err
	}
	return id.String(), nil
}
