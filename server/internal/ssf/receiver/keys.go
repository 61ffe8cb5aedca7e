package receiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// The refresh times of a jwks_uri key set.
const (
	// KeyRefresh is the age after which a fetched key set is fetched
	// again when a SET arrives.
	KeyRefresh = time.Hour
	// MinKeyRefresh is the shortest time between two fetches caused by a
	// SET whose kid is not in the set (a key rotation).
	MinKeyRefresh = 10 * time.Second
)

// keySource is a stream's transmitter keys: a jwks_file read once, or a
// jwks_uri fetched when first needed, again when older than KeyRefresh,
// and again on an unknown kid at most once per MinKeyRefresh. A failed
// fetch keeps the previous set.
type keySource struct {
	file, uri string
	client    *http.Client
	now       func() time.Time

	mu      sync.Mutex
	set     jwk.Set
	fetched time.Time // last successful load
	tried   time.Time // last attempt
}

func newKeySource(s *Stream, client *http.Client, now func() time.Time) (*keySource, error) {
	k := &keySource{file: s.JWKSFile, uri: s.JWKSURI, client: client, now: now}
	if k.file != "" {
		if err := k.load(context.Background()); err != nil {
			return nil, fmt.Errorf("stream %q: jwks_file: %w", s.Name, err)
		}
	}
	return k, nil
}

// load reads the key set; k.mu is held or k is not shared yet.
func (k *keySource) load(ctx context.Context) error {
	k.tried = k.now()
	var set jwk.Set
	var err error
	if k.file != "" {
		set, err = jwk.ReadFile(k.file)
	} else {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		set, err = jwk.Fetch(ctx, k.uri, jwk.WithHTTPClient(k.client))
	}
	if err != nil {
		return err
	}
	if set.Len() == 0 {
		return errors.New("the key set has no keys")
	}
	k.set, k.fetched = set, k.now()
	return nil
}

// errNoKey is a kid the key set does not hold, even after a fetch.
var errNoKey = errors.New("no key of the stream's key set has the SET's kid")

// lookup returns the public key of kid (a SET without kid: the set's only
// key).
func (k *keySource) lookup(ctx context.Context, kid string) (jwk.Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.uri != "" && (k.set == nil || k.now().Sub(k.fetched) >= KeyRefresh) && k.now().Sub(k.tried) >= MinKeyRefresh {
		_ = k.load(ctx) // a failure keeps the previous set
	}
	key, ok := k.find(kid)
	if !ok && k.uri != "" && k.now().Sub(k.tried) >= MinKeyRefresh && k.load(ctx) == nil {
		key, ok = k.find(kid)
	}
	if !ok {
		return nil, errNoKey
	}
	return jwk.PublicKeyOf(key)
}

func (k *keySource) find(kid string) (jwk.Key, bool) {
	if k.set == nil {
		return nil, false
	}
	if kid != "" {
		return k.set.LookupKeyID(kid)
	}
	if k.set.Len() != 1 {
		return nil, false
	}
	return k.set.Key(0)
}
