package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"
)

// maxJWKSBytes bounds a JWKS document.
const maxJWKSBytes = 1 << 20

// keySet is one loaded JWKS: public signing keys by kid, and those without
// a kid.
type keySet struct {
	byKid  map[string]jwk.Key
	noKid  []jwk.Key
	loaded time.Time
}

// lookup finds the key for a token's kid. A token without a kid may use
// the only key of a set that has exactly one.
func (ks *keySet) lookup(kid string) (jwk.Key, bool) {
	if ks == nil {
		return nil, false
	}
	if kid != "" {
		k, ok := ks.byKid[kid]
		return k, ok
	}
	if len(ks.byKid)+len(ks.noKid) != 1 {
		return nil, false
	}
	for _, k := range ks.byKid {
		return k, true
	}
	return ks.noKid[0], true
}

// fetch reads the JWKS document from the file or URL.
func (v *Verifier) fetch(ctx context.Context) ([]byte, error) {
	if v.opts.File != "" {
		f, err := os.Open(v.opts.File)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return readLimited(f)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.opts.URL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", v.opts.URL, resp.StatusCode)
	}
	return readLimited(resp.Body)
}

func readLimited(r io.Reader) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxJWKSBytes+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJWKSBytes {
		return nil, fmt.Errorf("JWKS larger than %d bytes", maxJWKSBytes)
	}
	return b, nil
}

// parseKeySet keeps the public signing keys of a JWKS document. Symmetric
// keys are refused (a public JWKS must not hold them, and HMAC would let
// anyone who reads the set sign tokens); private keys are reduced to their
// public half; keys marked for encryption are skipped.
func parseKeySet(doc []byte, now time.Time) (*keySet, []string, error) {
	set, err := jwk.Parse(doc)
	if err != nil {
		return nil, nil, fmt.Errorf("parsing JWKS: %w", err)
	}
	ks := &keySet{byKid: map[string]jwk.Key{}, loaded: now}
	var skipped []string
	for i := range set.Len() {
		k, _ := set.Key(i)
		kid, _ := k.KeyID()
		name := fmt.Sprintf("key %d (kid %q)", i, kid)
		if use, ok := k.KeyUsage(); ok && use != "" && use != jwk.ForSignature.String() {
			skipped = append(skipped, name+": use is not sig")
			continue
		}
		switch k.KeyType().String() {
		case "RSA", "EC", "OKP":
		default:
			skipped = append(skipped, name+": key type "+k.KeyType().String()+" is not an asymmetric signing key")
			continue
		}
		pub, err := jwk.PublicKeyOf(k)
		if err != nil {
			skipped = append(skipped, name+": "+err.Error())
			continue
		}
		if kid == "" {
			ks.noKid = append(ks.noKid, pub)
			continue
		}
		if _, dup := ks.byKid[kid]; dup {
			skipped = append(skipped, name+": duplicate kid")
			continue
		}
		ks.byKid[kid] = pub
	}
	if len(ks.byKid)+len(ks.noKid) == 0 {
		return nil, skipped, errors.New("JWKS has no usable signing key")
	}
	return ks, skipped, nil
}

// load fetches and installs the key set; on failure the previous set
// stays. It is serialised by v.mu.
func (v *Verifier) load(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.loadLocked(ctx)
}

func (v *Verifier) loadLocked(ctx context.Context) error {
	v.lastAttempt = v.now()
	doc, err := v.fetch(ctx)
	if err == nil {
		var ks *keySet
		var skipped []string
		ks, skipped, err = parseKeySet(doc, v.now())
		for _, s := range skipped {
			v.logger.Warn("JWKS key skipped", "source", v.sourceName(), "key", s)
		}
		if err == nil {
			v.keys.Store(ks)
			return nil
		}
	}
	v.logger.Error("JWKS not loaded; keeping the previous keys", "source", v.sourceName(), "error", err.Error())
	return err
}

func (v *Verifier) sourceName() string {
	if v.opts.File != "" {
		return v.opts.File
	}
	return v.opts.URL
}

// current returns the installed key set, starting a background reload
// when it is older than the refresh interval.
func (v *Verifier) current() *keySet {
	ks := v.keys.Load()
	if ks != nil && v.now().Sub(ks.loaded) >= v.opts.Refresh && v.refreshing.CompareAndSwap(false, true) {
		go func() {
			defer v.refreshing.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
			defer cancel()
			_ = v.load(ctx)
		}()
	}
	return ks
}

// reloadSoon reloads now unless a reload started less than MinRefresh ago
// (a token with an unknown kid, or keys never loaded); it reports whether
// it reloaded successfully.
func (v *Verifier) reloadSoon(ctx context.Context) bool {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.lastAttempt.IsZero() && v.now().Sub(v.lastAttempt) < v.opts.MinRefresh {
		return false
	}
	return v.loadLocked(ctx) == nil
}
