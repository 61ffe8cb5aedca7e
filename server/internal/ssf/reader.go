package ssf

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// Reader puts the effects matching a request into its signals. It reads
// the store only for tenants that have a stream (Tenants), so that tenants
// without one pay nothing. It is safe for concurrent use.
type Reader struct {
	store   Store
	tenants func(tenant string) bool
	bufs    sync.Pool
}

// NewReader returns a reader of st; tenants reports whether a tenant has
// a stream (nil: none has).
func NewReader(st Store, tenants func(tenant string) bool) *Reader {
	r := &Reader{store: st, tenants: tenants}
	r.bufs.New = func() any { return new([]Effect) }
	return r
}

// Read replaces dst with the effects that match req at time at: for a
// state (a device's compliance, an account's status, a risk level) only
// the newest matching effect counts, and only while it acts (not-compliant,
// disabled or purged, any risk level); every other event counts as it is.
// Events are ordered by time, then jti.
func (r *Reader) Read(ctx context.Context, req *decision.Request, at time.Time, dst *decision.SSFSignals) error {
	dst.Events = dst.Events[:0]
	if r == nil || r.tenants == nil || !r.tenants(req.Tenant) {
		return nil
	}
	m := Request{Email: strings.ToLower(req.Subject.Email), User: req.Subject.ID, Session: req.Session.ID, Device: req.Device.ID}
	bp := r.bufs.Get().(*[]Effect)
	defer r.bufs.Put(bp)
	list, err := r.store.Read(ctx, req.Tenant, Keys(m), at, (*bp)[:0])
	defer func() { *bp = list[:0] }()
	if err != nil {
		return err
	}
	// Matching effects are few; the newest of a state is found by a scan.
	matched := list[:0]
	for _, e := range list {
		if !e.Subject.Matches(m) {
			continue
		}
		if k := stateKind(e.Event); k != "" {
			i := slices.IndexFunc(matched, func(x Effect) bool { return stateKind(x.Event) == k })
			if i >= 0 {
				if !matched[i].At.After(e.At) {
					matched[i] = e
				}
				continue
			}
		}
		matched = append(matched, e)
	}
	slices.SortFunc(matched, func(a, b Effect) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return strings.Compare(a.JTI, b.JTI)
	})
	for _, e := range matched {
		if !e.Active() {
			continue
		}
		dst.Events = append(dst.Events, decision.SSFEvent{
			Event: e.Event, Stream: e.Stream, JTI: e.JTI,
			At: e.At, Level: e.Level, Status: e.Status, Reason: e.Reason,
		})
	}
	return nil
}
