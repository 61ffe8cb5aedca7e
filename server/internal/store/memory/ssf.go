package memory

import (
	"context"
	"sync"
	"time"

	"github.com/pdp-dev/pdp/server/internal/ssf"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// SSF is the in-memory ssf.Store: buckets and applied jtis in maps behind
// one mutex, lost on exit. Expired jtis are swept when the map has doubled
// since the last sweep. Its zero value is not usable; call NewSSF.
type SSF struct {
	mu      sync.Mutex
	buckets map[ssfKey][]ssf.Effect
	jtis    map[ssfJTI]time.Time // → kept until
	swept   int                  // len(jtis) after the last sweep
}

type ssfKey struct{ tenant, bucket string }

type ssfJTI struct{ tenant, stream, jti string }

var _ ssf.Store = (*SSF)(nil)

// NewSSF returns an empty store.
func NewSSF() *SSF {
	return &SSF{buckets: map[ssfKey][]ssf.Effect{}, jtis: map[ssfJTI]time.Time{}}
}

// Apply implements ssf.Store.
func (m *SSF) Apply(ctx context.Context, e ssf.Effect, replayUntil time.Time) error {
	if err := ssf.Check(e); err != nil {
		return err
	}
	if err := store.ContextError(ctx); err != nil {
		return err
	}
	now := e.Received
	m.mu.Lock()
	defer m.mu.Unlock()
	jk := ssfJTI{e.Tenant, e.Stream, e.JTI}
	if until, ok := m.jtis[jk]; ok && until.After(now) {
		return ssf.ErrReplay
	}
	if len(m.jtis) >= 2*max(m.swept, 512) {
		for k, until := range m.jtis {
			if !until.After(now) {
				delete(m.jtis, k)
			}
		}
		m.swept = len(m.jtis)
	}
	m.jtis[jk] = replayUntil
	bk := ssfKey{e.Tenant, e.Subject.Bucket()}
	m.buckets[bk] = ssf.Merge(m.buckets[bk], e, now)
	return nil
}

// Read implements ssf.Store.
func (m *SSF) Read(ctx context.Context, tenant string, keys []string, now time.Time, dst []ssf.Effect) ([]ssf.Effect, error) {
	if err := store.ContextError(ctx); err != nil {
		return dst, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		dst = ssf.Live(dst, m.buckets[ssfKey{tenant, k}], now)
	}
	return dst, nil
}

// DeleteUser implements ssf.Store.
func (m *SSF) DeleteUser(ctx context.Context, tenant, userID string) (int, error) {
	if err := store.ContextError(ctx); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k, list := range m.buckets {
		if k.tenant != tenant {
			continue
		}
		rest, dropped := ssf.WithoutUser(list, userID)
		switch {
		case dropped == 0:
		case len(rest) == 0:
			delete(m.buckets, k)
		default:
			m.buckets[k] = rest
		}
		n += dropped
	}
	return n, nil
}
