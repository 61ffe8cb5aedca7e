package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync/atomic"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/ssf"
)

// Buckets of the shared-signals store, created on first write.
var (
	bucketSSFEffects = []byte("ssf_effects")
	bucketSSFJTIs    = []byte("ssf_jtis")
)

// ssfSweepEvery is how many applications pass between two sweeps of the
// expired jtis.
const ssfSweepEvery = 1024

// SSF is the bbolt ssf.Store, kept in the store's file: a bucket's effects
// under TENANT \x00 BUCKET (ssf.Encode), and each applied jti under
// TENANT \x00 STREAM \x00 JTI with the time it is kept until. An
// application is one write transaction (the audited change's, when there
// is one), so the replay check and the write cannot be split by another
// replica's; every ssfSweepEvery applications one of them also drops the
// expired jtis.
type SSF struct {
	p       *Policies // the view and update helpers shared with the policy store
	applies atomic.Uint64
}

var _ ssf.Store = (*SSF)(nil)

// SSF returns the shared-signals store kept in s's file.
func (s *Store) SSF() *SSF { return &SSF{p: &Policies{s: s}} }

func ssfKeyOf(parts ...string) []byte {
	var b bytes.Buffer
	for i, p := range parts {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(p)
	}
	return b.Bytes()
}

// Apply implements ssf.Store.
func (x *SSF) Apply(ctx context.Context, e ssf.Effect, replayUntil time.Time) error {
	if err := ssf.Check(e); err != nil {
		return err
	}
	now := e.Received
	sweep := x.applies.Add(1)%ssfSweepEvery == 0
	return x.p.update(ctx, "apply shared-signals event", bucketSSFJTIs, func(jb *bbolt.Bucket) error {
		jk := ssfKeyOf(e.Tenant, e.Stream, e.JTI)
		if v := jb.Get(jk); len(v) == 8 && time.Unix(0, int64(binary.BigEndian.Uint64(v))).After(now) {
			return ssf.ErrReplay
		}
		if sweep {
			if err := sweepJTIs(jb, now); err != nil {
				return err
			}
		}
		var until [8]byte
		binary.BigEndian.PutUint64(until[:], uint64(replayUntil.UnixNano()))
		if err := jb.Put(jk, until[:]); err != nil {
			return err
		}
		eb, err := jb.Tx().CreateBucketIfNotExists(bucketSSFEffects)
		if err != nil {
			return err
		}
		ek := ssfKeyOf(e.Tenant, e.Subject.Bucket())
		list, err := ssf.Decode(eb.Get(ek))
		if err != nil {
			return err
		}
		data, err := ssf.Encode(ssf.Merge(list, e, now))
		if err != nil {
			return err
		}
		return eb.Put(ek, data)
	})
}

// sweepJTIs deletes the jtis kept until now or earlier.
func sweepJTIs(b *bbolt.Bucket, now time.Time) error {
	var expired [][]byte
	err := b.ForEach(func(k, v []byte) error {
		if len(v) != 8 || !time.Unix(0, int64(binary.BigEndian.Uint64(v))).After(now) {
			expired = append(expired, bytes.Clone(k))
		}
		return nil
	})
	for _, k := range expired {
		if err == nil {
			err = b.Delete(k)
		}
	}
	return err
}

// Read implements ssf.Store.
func (x *SSF) Read(ctx context.Context, tenant string, keys []string, now time.Time, dst []ssf.Effect) ([]ssf.Effect, error) {
	err := x.p.view(ctx, bucketSSFEffects, func(b *bbolt.Bucket) error {
		if b == nil {
			return nil
		}
		for _, k := range keys {
			list, err := ssf.Decode(b.Get(ssfKeyOf(tenant, k)))
			if err != nil {
				return err
			}
			dst = ssf.Live(dst, list, now)
		}
		return nil
	})
	return dst, err
}

// DeleteUser implements ssf.Store: the tenant's buckets are one key
// range, rewritten in one write transaction (the audited change's, when
// there is one).
func (x *SSF) DeleteUser(ctx context.Context, tenant, userID string) (int, error) {
	n := 0
	err := x.p.update(ctx, "erase a user's shared-signals effects", bucketSSFEffects, func(b *bbolt.Bucket) error {
		n = 0
		prefix := ssfKeyOf(tenant, "")
		type rewrite struct{ key, data []byte }
		var writes []rewrite
		c := b.Cursor()
		for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
			rest, dropped, err := ssf.EraseUser(v, userID)
			if err != nil {
				return err
			}
			if dropped == 0 {
				continue
			}
			n += dropped
			writes = append(writes, rewrite{key: bytes.Clone(k), data: rest})
		}
		for _, w := range writes {
			var err error
			if w.data == nil {
				err = b.Delete(w.key)
			} else {
				err = b.Put(w.key, w.data)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	return n, err
}
