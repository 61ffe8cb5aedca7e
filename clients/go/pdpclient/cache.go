package pdpclient

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

// cacheKey identifies a request for the cache and for in-flight sharing.
type cacheKey [sha256.Size]byte

// Fields of CheckRequest left out of the cache key: the time of a request
// changes on every call and explain only adds detail to the answer.
const (
	fieldTime    protoreflect.Name = "time"
	fieldExplain protoreflect.Name = "explain"
)

// requestKey hashes the deterministic encoding of req without its time and
// explain fields. It copies every other field by reflection, so a field
// added to CheckRequest later is part of the key without a change here.
func requestKey(req *pdpv1.CheckRequest) (cacheKey, error) {
	keyed := &pdpv1.CheckRequest{}
	dst := keyed.ProtoReflect()
	req.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Name() != fieldTime && fd.Name() != fieldExplain {
			dst.Set(fd, v)
		}
		return true
	})
	dst.SetUnknown(req.ProtoReflect().GetUnknown())
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(keyed)
	if err != nil {
		return cacheKey{}, err
	}
	return sha256.Sum256(b), nil
}

// cacheTTL is how long resp may be stored: 0 unless the server sent a
// positive cache_ttl and resp is an allow or a deny without obligations.
// Challenges are never stored, nor denies that ask the enforcement point to
// act (suspend a user, block an IP, notify security): each attempt must
// reach the server. maxTTL, when positive, caps the result.
func cacheTTL(resp *pdpv1.CheckResponse, maxTTL time.Duration) time.Duration {
	switch resp.GetDecision() {
	case pdpv1.Decision_DECISION_ALLOW:
	case pdpv1.Decision_DECISION_DENY:
		if len(resp.GetObligations()) > 0 {
			return 0
		}
	default:
		return 0
	}
	if !resp.GetCacheTtl().IsValid() {
		return 0
	}
	ttl := resp.GetCacheTtl().AsDuration()
	if maxTTL > 0 {
		ttl = min(ttl, maxTTL)
	}
	return max(ttl, 0)
}

// decisionCache is a size-bounded LRU of responses, each with its own
// expiry. It is safe for concurrent use.
type decisionCache struct {
	mu    sync.Mutex
	max   int
	order *list.List // front = most recently used; values are *cacheEntry
	items map[cacheKey]*list.Element
}

type cacheEntry struct {
	key     cacheKey
	resp    *pdpv1.CheckResponse
	expires time.Time
}

func newDecisionCache(size int) *decisionCache {
	return &decisionCache{max: size, order: list.New(), items: make(map[cacheKey]*list.Element)}
}

// get returns the response stored under k if it has not expired at now.
// The caller must not modify it.
func (c *decisionCache) get(k cacheKey, now time.Time) (*pdpv1.CheckResponse, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.remove(el)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.resp, true
}

// put stores resp under k until expires, evicting expired entries at the
// back and then the least recently used ones to stay within the bound.
func (c *decisionCache) put(k cacheKey, resp *pdpv1.CheckResponse, now, expires time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		e := el.Value.(*cacheEntry)
		e.resp, e.expires = resp, expires
		c.order.MoveToFront(el)
		return
	}
	c.items[k] = c.order.PushFront(&cacheEntry{key: k, resp: resp, expires: expires})
	for el := c.order.Back(); el != nil && len(c.items) > 1; {
		prev := el.Prev()
		if len(c.items) <= c.max && now.Before(el.Value.(*cacheEntry).expires) {
			break
		}
		c.remove(el)
		el = prev
	}
}

func (c *decisionCache) remove(el *list.Element) {
	c.order.Remove(el)
	delete(c.items, el.Value.(*cacheEntry).key)
}

// purge empties the cache.
func (c *decisionCache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.order.Init()
	clear(c.items)
}

// len is the number of entries, expired ones included until evicted.
func (c *decisionCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.items)
}
