package redis

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/redis/rueidis"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/store"
)

// ApplyEvent implements store.Store: one round trip loads the user's
// profile and the IP's record, the rules of package store apply the event,
// and one compare-and-set writes both (retrying from the load when another
// writer got there first).
func (s *Store) ApplyEvent(ctx context.Context, ev *decision.Event, set store.Settings) (store.Outcome, error) {
	if err := s.check(ctx); err != nil {
		return store.Outcome{}, err
	}
	if err := store.ValidateEvent(ev); err != nil {
		return store.Outcome{}, err
	}
	set = set.Normalized()
	user := ev.Subject.ID
	ip := ev.Network.IP.Unmap().WithZone("")
	failure := store.IsFailure(ev.Kind)
	var ukey, ikey, ipText string
	if user != "" {
		ukey = s.userKey(ev.Tenant, user)
	}
	if ip.IsValid() {
		ipText = ip.String()
		ikey = s.ipKey(ev.Tenant, ipText)
	}
	if ukey == "" && ikey == "" {
		return store.Outcome{}, nil
	}

	var out store.Outcome
	err := s.retry(ctx, "apply event", func() (bool, error) {
		cmds := make(rueidis.Commands, 0, 2)
		if ukey != "" {
			cmds = append(cmds, s.client.B().Hmget().Key(ukey).Field("d", "v").Build())
		}
		if ikey != "" {
			cmds = append(cmds, s.client.B().Hmget().Key(ikey).Field("d", "v").Build())
		}
		res := s.client.DoMulti(ctx, cmds...)
		out = store.Outcome{}
		writes := make([]write, 0, 2)
		var idx indexOp

		if ukey != "" {
			old, err := loadRecord(res[0])
			if err != nil {
				return false, s.fail(ctx, err, "load profile")
			}
			p := store.Profile{Tenant: ev.Tenant, UserID: user}
			if err := loadProfile(old.data, &p); err != nil {
				return false, err
			}
			out = p.Apply(ev, set)
			w, err := s.profileWrite(ukey, old.version, &p)
			if err != nil {
				return false, err
			}
			writes = append(writes, w)
			res = res[1:]
		}
		if ikey != "" {
			old, err := loadRecord(res[0])
			if err != nil {
				return false, s.fail(ctx, err, "load IP record")
			}
			var r store.IPRecord
			if err := loadIPRecord(old.data, &r); err != nil {
				return false, err
			}
			if failure {
				out.IPFailedLogins, out.IPFailedUsers = r.Apply(ev.Time, user, set)
				writes = append(writes, write{key: ikey, expected: old.version, data: encodeIPRecord(&r), ttl: s.ipTTL})
				if user != "" {
					idx = indexOp{op: "add", key: s.indexKey(ev.Tenant, user), member: ipText,
						score: s.opts.Now().UnixMilli(), keep: s.indexTTL}
				}
			} else {
				since := ev.Time.Add(-set.FailureWindow)
				out.IPFailedLogins, out.IPFailedUsers = r.FailuresSince(since), r.UsersSince(since)
			}
		}
		if len(writes) == 0 {
			return true, nil
		}
		ok, err := s.cas(ctx, writes, idx)
		if err != nil {
			return false, s.fail(ctx, err, "apply event")
		}
		return ok, nil
	})
	if err != nil {
		return store.Outcome{}, err
	}
	return out, nil
}

// profileWrite is the write of a profile: it expires ProfileRetention after
// this write unless it records a suspension or an MFA reset, which stay
// until an admin changes them, as with the memory backend's sweeper.
func (s *Store) profileWrite(key, version string, p *store.Profile) (write, error) {
	ttl := s.profileTTL
	if p.Suspension.Suspended || !p.MFAResetAt.IsZero() {
		ttl = 0
	}
	return write{key: key, expected: version, data: encodeProfile(p), ttl: ttl}, nil
}

var recordPool = sync.Pool{New: func() any { return new(store.IPRecord) }}

// Read implements store.Store: the profile, the IP record and the SSO
// status in one round trip.
func (s *Store) Read(ctx context.Context, q store.Query, dst *store.View) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := store.ValidateQuery(&q); err != nil {
		return err
	}
	dst.Reset()
	ip := q.IP.Unmap().WithZone("")
	cmds := make(rueidis.Commands, 0, 3)
	cmds = append(cmds, s.client.B().Get().Key(s.ssoKey(q.Tenant)).Build())
	if q.UserID != "" {
		cmds = append(cmds, s.client.B().Hget().Key(s.userKey(q.Tenant, q.UserID)).Field("d").Build())
	}
	if ip.IsValid() {
		cmds = append(cmds, s.client.B().Hget().Key(s.ipKey(q.Tenant, ip.String())).Field("d").Build())
	}
	res := s.client.DoMulti(ctx, cmds...)
	since := q.At.Add(-store.Settings{FailureWindow: q.FailureWindow}.Normalized().FailureWindow)

	data, err := optional(res[0])
	if err != nil {
		return s.fail(ctx, err, "read SSO status")
	}
	if data != nil {
		if err := decode(data, &dst.SSO); err != nil {
			return err
		}
		dst.HasSSO = true
	}
	res = res[1:]
	if q.UserID != "" {
		data, err := optional(res[0])
		if err != nil {
			return s.fail(ctx, err, "read profile")
		}
		if data != nil {
			if err := loadProfile(data, &dst.Profile); err != nil {
				return err
			}
			dst.HasProfile = true
			dst.UserFailedLogins = dst.Profile.FailedLoginsSince(since)
		}
		res = res[1:]
	}
	if ip.IsValid() {
		data, err := optional(res[0])
		if err != nil {
			return s.fail(ctx, err, "read IP record")
		}
		if data != nil {
			r := recordPool.Get().(*store.IPRecord)
			err := loadIPRecord(data, r)
			if err == nil {
				dst.IPFailedLogins, dst.IPFailedUsers = r.FailuresSince(since), r.UsersSince(since)
			}
			recordPool.Put(r)
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// GetProfile implements store.Store.
func (s *Store) GetProfile(ctx context.Context, tenant, userID string, dst *store.Profile) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if err := store.ValidateUser(tenant, userID); err != nil {
		return false, err
	}
	data, err := optional(s.client.Do(ctx, s.client.B().Hget().Key(s.userKey(tenant, userID)).Field("d").Build()))
	if err != nil {
		return false, s.fail(ctx, err, "read profile")
	}
	dst.Reset()
	if data == nil {
		return false, nil
	}
	if err := loadProfile(data, dst); err != nil {
		return false, err
	}
	return true, nil
}

// SetSuspension implements store.Store.
func (s *Store) SetSuspension(ctx context.Context, tenant, userID string, sus store.Suspension) error {
	sus.At = sus.At.UTC()
	return s.updateUser(ctx, tenant, userID, "set suspension", func(p *store.Profile) { p.Suspension = sus })
}

// ResetMFA implements store.Store.
func (s *Store) ResetMFA(ctx context.Context, tenant, userID string, at time.Time) error {
	at = at.UTC()
	return s.updateUser(ctx, tenant, userID, "reset MFA", func(p *store.Profile) { p.MFAResetAt = at })
}

func (s *Store) updateUser(ctx context.Context, tenant, userID, op string, fn func(*store.Profile)) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := store.ValidateUser(tenant, userID); err != nil {
		return err
	}
	key := s.userKey(tenant, userID)
	return s.retry(ctx, op, func() (bool, error) {
		old, err := loadRecord(s.client.Do(ctx, s.client.B().Hmget().Key(key).Field("d", "v").Build()))
		if err != nil {
			return false, s.fail(ctx, err, op)
		}
		old = s.txnOf(ctx).record(key, old)
		p := store.Profile{Tenant: tenant, UserID: userID}
		if err := loadProfile(old.data, &p); err != nil {
			return false, err
		}
		fn(&p)
		w, err := s.profileWrite(key, old.version, &p)
		if err != nil {
			return false, err
		}
		ok, err := s.cas(ctx, []write{w}, indexOp{})
		if err != nil {
			return false, s.fail(ctx, err, op)
		}
		return ok, nil
	})
}

// SetSSOStatus implements store.Store.
func (s *Store) SetSSOStatus(ctx context.Context, tenant string, st store.SSOStatus) error {
	if err := s.check(ctx); err != nil {
		return err
	}
	if err := store.ValidateTenant(tenant); err != nil {
		return err
	}
	st.UpdatedAt = st.UpdatedAt.UTC()
	data, err := encode(&st)
	if err != nil {
		return err
	}
	if t := s.txnOf(ctx); t != nil {
		t.do("SET", s.ssoKey(tenant), string(data))
		return nil
	}
	if err := s.client.Do(ctx, s.client.B().Set().Key(s.ssoKey(tenant)).Value(rueidis.BinaryString(data)).Build()).Error(); err != nil {
		return s.fail(ctx, err, "set SSO status")
	}
	return nil
}

// optional reads a bulk string reply that may be nil.
func optional(res rueidis.RedisResult) ([]byte, error) {
	b, err := res.AsBytes()
	if rueidis.IsRedisNil(err) {
		return nil, nil
	}
	return b, err
}

func encode(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fault.Wrap(err, fault.Internal, "encode record")
	}
	return b, nil
}

// decode fills v from JSON data.
func decode(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return fault.Wrap(err, fault.Internal, "damaged record in the store")
	}
	return nil
}

// loadProfile fills p from stored data; empty data leaves p as it is.
func loadProfile(data []byte, p *store.Profile) error {
	if len(data) == 0 {
		return nil
	}
	if err := decodeProfile(data, p); err != nil {
		return fault.Wrap(err, fault.Internal, "damaged profile in the store")
	}
	return nil
}

// loadIPRecord fills r from stored data; empty data leaves r as it is.
func loadIPRecord(data []byte, r *store.IPRecord) error {
	if len(data) == 0 {
		return nil
	}
	if err := decodeIPRecord(data, r); err != nil {
		return fault.Wrap(err, fault.Internal, "damaged IP record in the store")
	}
	return nil
}

// Users implements store.Store: a SCAN of every node for the tenant's
// profile keys (they share the tenant's hash tag, so one node holds them
// all).
func (s *Store) Users(ctx context.Context, tenant string, limit int) ([]string, bool, error) {
	if err := s.check(ctx); err != nil {
		return nil, false, err
	}
	if err := store.ValidateTenant(tenant); err != nil {
		return nil, false, err
	}
	prefix := s.userKey(tenant, "")
	pattern := globEscape(prefix) + "*"
	seen := map[string]struct{}{}
	for _, node := range s.client.Nodes() {
		var cursor uint64
		for {
			e, err := node.Do(ctx, node.B().Scan().Cursor(cursor).Match(pattern).Count(1000).Build()).AsScanEntry()
			if err != nil {
				return nil, false, s.fail(ctx, err, "list users")
			}
			for _, k := range e.Elements {
				if id, ok := strings.CutPrefix(k, prefix); ok && id != "" {
					seen[id] = struct{}{}
				}
			}
			if cursor = e.Cursor; cursor == 0 {
				break
			}
		}
	}
	ids := make([]string, 0, len(seen))
	for id := range seen {
		ids = append(ids, id)
	}
	ids, more := store.FirstUsers(ids, max(limit, 1))
	return ids, more, nil
}

// globEscape quotes the characters a SCAN MATCH pattern gives meaning.
func globEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
