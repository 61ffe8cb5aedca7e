// Package settest signs Security Event Tokens for tests, with
// github.com/lestrrat-go/jwx/v3 as a transmitter would: a Transmitter
// holds a key pair and publishes its public half as a JWKS, and Example
// returns the CAEP 1.0 and RISC 1.0 specifications' own example events
// (examples/README.md says what had to change for them to be JSON).
package settest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"embed"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

//go:embed examples/*.json
var examples embed.FS

// Example returns the named example's claims (examples/NAME.json).
func Example(t testing.TB, name string) map[string]any {
	t.Helper()
	data, err := examples.ReadFile("examples/" + name + ".json")
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(data, &claims); err != nil {
		t.Fatalf("example %s: %v", name, err)
	}
	return claims
}

// Transmitter signs SETs with one key.
type Transmitter struct {
	// KID is the key's id, in the JWKS and in every header.
	KID string
	alg jwa.SignatureAlgorithm
	key jwk.Key
	pub jwk.Set
}

// NewTransmitter returns a transmitter with a new key for alg, "ES256" or
// "RS256".
func NewTransmitter(t testing.TB, alg, kid string) *Transmitter {
	t.Helper()
	var raw any
	var err error
	a := jwa.ES256()
	switch alg {
	case "ES256":
		raw, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "RS256":
		a = jwa.RS256()
		raw, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("settest: algorithm %q", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := key.Set(jwk.KeyIDKey, kid); err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.PublicKeyOf(key)
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	if err := set.AddKey(pub); err != nil {
		t.Fatal(err)
	}
	return &Transmitter{KID: kid, alg: a, key: key, pub: set}
}

// JWKS is the public key set's JSON.
func (tr *Transmitter) JWKS(t testing.TB) []byte {
	t.Helper()
	b, err := json.Marshal(tr.pub)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// WriteJWKS writes the public key set to dir/name and returns its path.
func (tr *Transmitter) WriteJWKS(t testing.TB, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, tr.JWKS(t), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// Sign returns claims as a compact SET: typ secevent+jwt and the kid.
func (tr *Transmitter) Sign(t testing.TB, claims map[string]any) string {
	t.Helper()
	return tr.SignWithHeaders(t, claims, map[string]any{"typ": "secevent+jwt", "kid": tr.KID})
}

// SignWithHeaders signs claims with the given protected headers (alg is
// the key's).
func (tr *Transmitter) SignWithHeaders(t testing.TB, claims, headers map[string]any) string {
	t.Helper()
	return sign(t, claims, headers, jws.WithKey(tr.alg, tr.key, jws.WithProtectedHeaders(hdrs(t, headers))))
}

// SignHMAC signs claims with HS256 and secret, as no transmitter should.
func SignHMAC(t testing.TB, claims map[string]any, secret []byte) string {
	t.Helper()
	h := map[string]any{"typ": "secevent+jwt"}
	return sign(t, claims, h, jws.WithKey(jwa.HS256(), secret, jws.WithProtectedHeaders(hdrs(t, h))))
}

// Unsigned returns claims as an alg "none" JWS.
func Unsigned(t testing.TB, claims map[string]any) string {
	t.Helper()
	h := map[string]any{"typ": "secevent+jwt"}
	return sign(t, claims, h, jws.WithInsecureNoSignature(jws.WithProtectedHeaders(hdrs(t, h))))
}

func hdrs(t testing.TB, headers map[string]any) jws.Headers {
	t.Helper()
	h := jws.NewHeaders()
	for k, v := range headers {
		if err := h.Set(k, v); err != nil {
			t.Fatal(err)
		}
	}
	return h
}

func sign(t testing.TB, claims, _ map[string]any, opt jws.SignOption) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.Sign(payload, opt)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
