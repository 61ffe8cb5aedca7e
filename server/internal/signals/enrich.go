package signals

import (
	"context"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// Options configure an Enricher.
type Options struct {
	// State is the store; nil computes no profile, counter or SSO signals.
	State StateReader
	// IPs are the IP lists; nil leaves signals.ip out, so that Rego falls
	// back to matching the policy's CIDRs itself.
	IPs IPLists
	// Geo resolves addresses; nil for none.
	Geo Geo
	// SSF reads the effects of Shared Signals events; nil reads none.
	SSF SSFReader
	// Settings returns a tenant environment's settings; DefaultSettings
	// when nil.
	Settings SettingsFunc
	// Now is the wall clock for IP-list expiry and for requests without a
	// time; time.Now when nil.
	Now func() time.Time
}

// Enricher fills a request's signals. It is safe for concurrent use.
type Enricher struct {
	state    StateReader
	ips      IPLists
	geo      Geo
	ssf      SSFReader
	settings SettingsFunc
	now      func() time.Time
	views    sync.Pool
}

// NewEnricher returns an enricher.
func NewEnricher(o Options) *Enricher {
	e := &Enricher{state: o.State, ips: o.IPs, geo: o.Geo, ssf: o.SSF, settings: o.Settings, now: o.Now}
	if e.settings == nil {
		e.settings = DefaultSettings
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.views.New = func() any { return new(store.View) }
	return e
}

// Enrich replaces req.Signals with what the server knows, reusing the
// capacity of req.Signals.Profile.Countries:
//
//   - ip, when the request has an IP and IP lists are configured: deny,
//     allow and suspicious membership with the matching entry; an IP from
//     which SuspiciousIPUsers distinct users failed to log in within the
//     window is suspicious too;
//   - geo, when the request has an IP that GeoIP knows;
//   - profile, whenever a store is configured (a user without history gets
//     zero counts and nothing known): see ProfileSignals for each field,
//     with "within the lookback" meaning at or after the request time
//     minus the lookback (login_count counts whole UTC days), hour_usual
//     meaning a login in the request's UTC hour of day or the hour before
//     or after it, and travel measured from the last successful login to
//     the request's coordinates, else GeoIP's;
//   - sso_available, when an admin set the tenant's SSO status, and
//     sso_down_since while it is down: when it was last marked down;
//   - ssf, the Shared Signals events that act on the request's user,
//     session or device; a device a transmitter reported not compliant is
//     marked non-compliant (req.Device.Compliant false), unless the tenant
//     keeps it (Settings.DeviceComplianceKept).
//
// A store failure is returned as the store's fault and leaves the signals
// computed so far.
func (e *Enricher) Enrich(ctx context.Context, req *decision.Request) error {
	return e.EnrichWith(ctx, req, e.settings(req.Tenant, req.Environment))
}

// Settings are the normalized settings Enrich applies to a tenant
// environment.
func (e *Enricher) Settings(tenant, env string) Settings {
	return e.settings(tenant, env).Normalized()
}

// EnrichWith is Enrich with set instead of the tenant environment's
// settings: shadow evaluation enriches a live request again with a
// candidate's. An enriched request may be enriched again: a device Enrich
// marked non-compliant gets its reported compliance back first.
func (e *Enricher) EnrichWith(ctx context.Context, req *decision.Request, set Settings) error {
	set = set.Normalized()
	sig := &req.Signals
	if sig.SSF.DeviceMarked {
		req.Device.Compliant = true
	}
	countries := sig.Profile.Countries[:0]
	*sig = decision.Signals{}
	sig.Profile.Countries = countries
	at := req.Time
	if at.IsZero() {
		at = e.now()
	}

	ip := req.Network.IP
	if ip.IsValid() {
		if e.ips != nil {
			e.ipSignals(req, ip, sig)
		}
		if e.geo != nil {
			if g, ok := e.geo.Lookup(ip); ok {
				g.Found = true
				sig.Geo = g
			}
		}
	}
	if e.ssf != nil {
		if err := e.ssf.Read(ctx, req, at, &sig.SSF); err != nil {
			return err
		}
		if !set.DeviceComplianceKept && deviceReportedNotCompliant(&sig.SSF) {
			sig.SSF.DeviceMarked = req.Device.Compliant
			req.Device.Compliant = false
		}
	}
	if e.state == nil {
		return nil
	}

	v := e.views.Get().(*store.View)
	defer e.views.Put(v)
	q := store.Query{Tenant: req.Tenant, UserID: req.Subject.ID, IP: ip, At: at, FailureWindow: set.FailureWindow}
	if err := e.state.Read(ctx, q, v); err != nil {
		return err
	}
	sig.SSOKnown, sig.SSOAvailable = v.HasSSO, v.SSO.Available
	if v.HasSSO && !v.SSO.Available {
		sig.SSODownSince = v.SSO.UpdatedAt
	}
	if sig.IP.Checked && !sig.IP.Suspicious && v.IPFailedUsers >= set.SuspiciousIPUsers {
		sig.IP.Suspicious = true
		sig.IP.SuspiciousBy = "failed logins of " + strconv.Itoa(v.IPFailedUsers) +
			" distinct users within " + set.FailureWindow.String()
	}
	// A user the store has never seen gets the profile group too, with
	// nothing known: a device, country or action without history is
	// unknown, and the IP's failure counters still count.
	profileSignals(req, at, set, v, sig, countries)
	return nil
}

func (e *Enricher) ipSignals(req *decision.Request, ip netip.Addr, sig *decision.Signals) {
	r := e.ips.Lookup(req.Tenant, req.Environment, ip, e.now())
	sig.IP = decision.IPSignals{
		Checked:    true,
		Denied:     r.Deny.Found(),
		Allowed:    r.Allow.Found(),
		Suspicious: r.Suspicious.Found(),
	}
	if sig.IP.Denied {
		sig.IP.DeniedBy = r.Deny.Description()
	}
	if sig.IP.Suspicious {
		sig.IP.SuspiciousBy = r.Suspicious.Description()
	}
}

// profileSignals computes the profile group from the store's view.
func profileSignals(req *decision.Request, at time.Time, set Settings, v *store.View, sig *decision.Signals, countries []string) {
	p := &v.Profile
	since := at.Add(-set.Lookback)
	h := at.UTC().Hour()
	ps := &sig.Profile
	ps.Known = true
	ps.Suspended = p.Suspension.Suspended
	if ps.Suspended {
		ps.SuspendedReason = p.Suspension.Reason
	}
	ps.MFAResetAt = p.MFAResetAt
	ps.DeviceKnown = p.DeviceSeen(req.Device.ID, since)
	ps.LoginCount = p.LoginsSince(since)
	ps.Countries = p.AppendCountries(countries, since)
	ps.HourUsual = p.HourSeen(h-1, since) || p.HourSeen(h, since) || p.HourSeen(h+1, since)
	ps.ActionSeen = p.ActionSeen(req.Action.Name, since)
	ps.FailedLogins = v.UserFailedLogins
	ps.IPFailedUsers = v.IPFailedUsers
	ps.IPFailedLogins = v.IPFailedLogins

	lat, lon, ok := req.Network.Latitude, req.Network.Longitude, req.Network.HasLocation
	if !ok && sig.Geo.HasLocation {
		lat, lon, ok = sig.Geo.Latitude, sig.Geo.Longitude, true
	}
	if ok {
		ps.Travel = Travel(p.LastLogin, lat, lon, at)
	}
}

// deviceReportedNotCompliant reports whether a Shared Signals event put
// the request's device out of compliance (the reader keeps only the newest
// compliance state, and only while it is not-compliant).
func deviceReportedNotCompliant(s *decision.SSFSignals) bool {
	for i := range s.Events {
		if s.Events[i].Event == "device-compliance-change" && s.Events[i].Status == "not-compliant" {
			return true
		}
	}
	return false
}
