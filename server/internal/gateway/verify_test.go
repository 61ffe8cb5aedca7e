package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/gateway"
)

var t0 = time.Date(2026, 3, 10, 9, 15, 0, 0, time.UTC)

// signer is a test key that signs tokens.
type signer struct {
	kid  string
	alg  jwa.SignatureAlgorithm
	priv jwk.Key
	pub  jwk.Key
}

func newECSigner(t testing.TB, kid string) signer {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newSigner(t, kid, jwa.ES256(), raw)
}

func newSigner(t testing.TB, kid string, alg jwa.SignatureAlgorithm, raw any) signer {
	t.Helper()
	priv, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := priv.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicKeyOf(priv)
	if err != nil {
		t.Fatal(err)
	}
	return signer{kid: kid, alg: alg, priv: priv, pub: pub}
}

// sign signs claims; exp defaults to an hour after t0, and an exp of nil
// leaves it out.
func (s signer) sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	if e, ok := claims["exp"]; !ok {
		claims["exp"] = t0.Add(time.Hour).Unix()
	} else if e == nil {
		delete(claims, "exp") // a token without exp
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.Sign(payload, jws.WithKey(s.alg, s.priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// writeJWKS writes the public keys as a JWKS file, atomically.
func writeJWKS(t testing.TB, path string, keys ...jwk.Key) {
	t.Helper()
	set := jwk.NewSet()
	for _, k := range keys {
		if err := set.AddKey(k); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// clock is a settable test clock.
type clock struct{ now atomic.Pointer[time.Time] }

func newClock(t time.Time) *clock { c := &clock{}; c.set(t); return c }
func (c *clock) set(t time.Time)  { c.now.Store(&t) }
func (c *clock) Now() time.Time   { return *c.now.Load() }

func newVerifier(t testing.TB, opts gateway.VerifierOptions) *gateway.Verifier {
	t.Helper()
	v, err := gateway.NewVerifier(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func b64(v any) string {
	b, _ := json.Marshal(v)
	return base64.RawURLEncoding.EncodeToString(b)
}

func TestVerifyAcceptsAndRefuses(t *testing.T) {
	t.Parallel()
	ec := newECSigner(t, "ec-1")
	rsaRaw, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rs := newSigner(t, "rsa-1", jwa.RS256(), rsaRaw)
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, ec.pub, rs.pub)
	clk := newClock(t0)
	v := newVerifier(t, gateway.VerifierOptions{
		File: path, Issuer: "https://idp.example", Audience: []string{"shop-api", "admin-api"},
		Leeway: 30 * time.Second, MinRefresh: time.Hour, Now: clk.Now,
	})
	good := func() map[string]any {
		return map[string]any{"iss": "https://idp.example", "aud": []string{"other", "shop-api"}, "sub": "u-1"}
	}
	with := func(k string, val any) map[string]any { c := good(); c[k] = val; return c }
	without := func(k string) map[string]any { c := good(); delete(c, k); return c }

	// HS256 signed with the RSA public key as the secret: the classic
	// algorithm-confusion attack.
	pubDER, _ := json.Marshal(rs.pub)
	mac := hmac.New(sha256.New, pubDER)
	hsInput := b64(map[string]any{"alg": "HS256", "kid": "rsa-1"}) + "." + b64(good())
	mac.Write([]byte(hsInput))
	hsToken := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	tests := []struct {
		name, token, reason string
	}{
		{"ES256", ec.sign(t, good()), ""},
		{"RS256", rs.sign(t, good()), ""},
		{"expired beyond leeway", ec.sign(t, with("exp", t0.Add(-time.Minute).Unix())), "token expired"},
		{"expired within leeway", ec.sign(t, with("exp", t0.Add(-10*time.Second).Unix())), ""},
		{"not yet valid", ec.sign(t, with("nbf", t0.Add(5*time.Minute).Unix())), "token not valid yet"},
		{"no exp", ec.sign(t, map[string]any{"iss": "https://idp.example", "aud": "shop-api", "exp": nil}), "token has no exp"},
		{"wrong audience", ec.sign(t, with("aud", "billing")), "wrong audience"},
		{"no audience", ec.sign(t, without("aud")), "wrong audience"},
		{"wrong issuer", ec.sign(t, with("iss", "https://evil.example")), "wrong issuer"},
		{"alg none", b64(map[string]any{"alg": "none"}) + "." + b64(good()) + ".", "algorithm none is not allowed"},
		{"HS256 with the public key", hsToken, "algorithm HS256 is not allowed"},
		{"unknown kid", newECSigner(t, "ec-9").sign(t, good()), "no key for the token's kid"},
		{"kid of another key type", newECSigner(t, "rsa-1").sign(t, good()), "algorithm ES256 does not fit the key type RSA"},
		{"garbage", "not.a.token", "malformed token or bad signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			claims, err := v.Verify(context.Background(), tc.token)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if claims["sub"] != "u-1" {
					t.Fatalf("claims %v", claims)
				}
				return
			}
			var te *gateway.TokenError
			if !errors.As(err, &te) {
				t.Fatalf("error %v, want a TokenError %q", err, tc.reason)
			}
			if te.Reason != tc.reason {
				t.Fatalf("reason %q (%v), want %q", te.Reason, err, tc.reason)
			}
		})
	}
}

// TestUnknownKidReloadsTheFileRateLimited: a token from a rotated key is
// refused until the JWKS file holds the key, and an unknown kid reloads
// the file at most once per MinRefresh.
func TestUnknownKidReloadsTheFileRateLimited(t *testing.T) {
	t.Parallel()
	old, rotated := newECSigner(t, "2026-02"), newECSigner(t, "2026-03")
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, old.pub)
	clk := newClock(t0)
	v := newVerifier(t, gateway.VerifierOptions{File: path, MinRefresh: 10 * time.Second, Refresh: time.Hour, Now: clk.Now})
	ctx := context.Background()
	token := rotated.sign(t, map[string]any{"sub": "u-1"})

	clk.set(t0.Add(11 * time.Second))
	if _, err := v.Verify(ctx, token); err == nil {
		t.Fatal("a token of a key not yet published verified")
	}
	// Rotation: the file now holds both keys, but the last reload (caused
	// by the unknown kid above) was just now, so the next try may not
	// reload yet.
	writeJWKS(t, path, old.pub, rotated.pub)
	clk.set(t0.Add(15 * time.Second))
	if _, err := v.Verify(ctx, token); err == nil {
		t.Fatal("reloaded within MinRefresh")
	}
	clk.set(t0.Add(22 * time.Second))
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("after MinRefresh the rotated key must load: %v", err)
	}
	if _, err := v.Verify(ctx, old.sign(t, map[string]any{"sub": "u-1"})); err != nil {
		t.Fatalf("the old key still verifies: %v", err)
	}
}

func TestJWKSURLIsFetchedAndRefreshed(t *testing.T) {
	t.Parallel()
	a, b := newECSigner(t, "a"), newECSigner(t, "b")
	var serveB atomic.Bool
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		set := jwk.NewSet()
		_ = set.AddKey(a.pub)
		if serveB.Load() {
			_ = set.AddKey(b.pub)
		}
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_ = json.NewEncoder(w).Encode(set)
	}))
	defer srv.Close()
	clk := newClock(t0)
	v := newVerifier(t, gateway.VerifierOptions{URL: srv.URL, MinRefresh: 0, Refresh: time.Hour, Now: clk.Now})
	ctx := context.Background()
	if _, err := v.Verify(ctx, a.sign(t, map[string]any{"sub": "x"})); err != nil {
		t.Fatal(err)
	}
	serveB.Store(true)
	if _, err := v.Verify(ctx, b.sign(t, map[string]any{"sub": "x"})); err != nil {
		t.Fatalf("unknown kid must refetch: %v", err)
	}
	if n := fetches.Load(); n != 2 {
		t.Fatalf("%d fetches, want 2 (start and unknown kid)", n)
	}
}

func TestJWKSRefusesSymmetricKeysAndUnreachableURLIsUnavailable(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, []byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := gateway.NewVerifier(context.Background(), gateway.VerifierOptions{File: path}); err == nil {
		t.Fatal("a JWKS of symmetric keys loaded")
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	defer srv.Close()
	v := newVerifier(t, gateway.VerifierOptions{URL: srv.URL, MinRefresh: time.Hour})
	_, err := v.Verify(context.Background(), newECSigner(t, "x").sign(t, map[string]any{}))
	if !errors.Is(err, fault.ErrUnavailable) {
		t.Fatalf("error %v, want Unavailable", err)
	}
}

func TestVerifyRefusesATokenWithCriticalExtensions(t *testing.T) {
	t.Parallel()
	ec := newECSigner(t, "ec-1")
	path := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, path, ec.pub)
	v := newVerifier(t, gateway.VerifierOptions{File: path, MinRefresh: time.Hour, Now: newClock(t0).Now})
	payload, err := json.Marshal(map[string]any{"sub": "u-1", "exp": t0.Add(time.Hour).Unix()})
	if err != nil {
		t.Fatal(err)
	}
	for name, crit := range map[string]map[string]any{
		"an unknown extension":       {"crit": []string{"x-bind"}, "x-bind": "tenant-a"},
		"an extension not in header": {"crit": []string{"x-bind"}},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			h := jws.NewHeaders()
			for k, val := range crit {
				if err := h.Set(k, val); err != nil {
					t.Fatal(err)
				}
			}
			token, err := jws.Sign(payload, jws.WithKey(ec.alg, ec.priv, jws.WithProtectedHeaders(h)))
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), string(token))
			var te *gateway.TokenError
			if !errors.As(err, &te) || !strings.Contains(te.Reason, "crit") {
				t.Fatalf("Verify of a token with crit: %v, want a TokenError about crit", err)
			}
		})
	}
}
