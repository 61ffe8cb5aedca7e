package redis

import (
	"context"

	"github.com/redis/rueidis"

	"github.com/pdp-dev/pdp/server/internal/store"
)

// DeleteUser implements store.Store. The user's IP index names every IP
// record that can hold the user's failures; one compare-and-set deletes the
// profile and the index and rewrites (or deletes, when nothing else is
// left) each of those records. The profile's version guards the whole: any
// event of the user changes it, so none slips in between the load and the
// write. Rewritten records keep their TTL: erasure is not a write of the IP.
func (s *Store) DeleteUser(ctx context.Context, tenant, userID string) (bool, error) {
	if err := s.check(ctx); err != nil {
		return false, err
	}
	if err := store.ValidateUser(tenant, userID); err != nil {
		return false, err
	}
	ukey, xkey := s.userKey(tenant, userID), s.indexKey(tenant, userID)
	var found bool
	err := s.retry(ctx, "erase user", func() (bool, error) {
		res := s.client.DoMulti(ctx,
			s.client.B().Hmget().Key(ukey).Field("d", "v").Build(),
			s.client.B().Zrange().Key(xkey).Min("0").Max("-1").Build())
		profile, err := loadRecord(res[0])
		if err != nil {
			return false, s.fail(ctx, err, "erase user")
		}
		t := s.txnOf(ctx)
		profile = t.record(ukey, profile)
		ips, err := res[1].AsStrSlice()
		if err != nil {
			return false, s.fail(ctx, err, "erase user")
		}
		found = profile.exists()
		writes := []write{{key: ukey, expected: profile.version}}
		if len(ips) > 0 {
			cmds := make(rueidis.Commands, 0, len(ips))
			for _, ip := range ips {
				cmds = append(cmds, s.client.B().Hmget().Key(s.ipKey(tenant, ip)).Field("d", "v").Build())
			}
			for i, r := range s.client.DoMulti(ctx, cmds...) {
				old, err := loadRecord(r)
				if err != nil {
					return false, s.fail(ctx, err, "erase user")
				}
				old = t.record(s.ipKey(tenant, ips[i]), old)
				if !old.exists() {
					continue
				}
				var rec store.IPRecord
				if err := loadIPRecord(old.data, &rec); err != nil {
					return false, err
				}
				if !rec.RemoveUser(userID) {
					continue
				}
				found = true
				w := write{key: s.ipKey(tenant, ips[i]), expected: old.version, ttl: -1}
				if !rec.Empty() {
					w.data = encodeIPRecord(&rec)
				}
				writes = append(writes, w)
			}
		}
		ok, err := s.cas(ctx, writes, indexOp{op: "del", key: xkey})
		if err != nil {
			return false, s.fail(ctx, err, "erase user")
		}
		return ok, nil
	})
	if err != nil {
		return false, err
	}
	return found, nil
}
