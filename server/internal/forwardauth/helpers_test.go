package forwardauth_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
)

// shopTenant: admins need MFA within the hour, customers may read, one
// IPv4 and one IPv6 network are denied.
const shopTenant = `
tenant: shop
plan: enterprise
environments:
  production:
    mfa:
      mode: privileged
      privileged_roles: [admin]
      max_age: 1h
    ip_denylist: ["2001:db8:bad::/48", "203.0.113.66/32"]
    roles:
      admin:
        actions: ["*"]
      customer:
        actions: [http.get, http.head]
`

// issuer signs test tokens with an ES256 key and publishes it as a JWKS.
type issuer struct {
	priv jwk.Key
	pub  jwk.Key
}

func newIssuer(t testing.TB, kid string) issuer {
	t.Helper()
	raw, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
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
	return issuer{priv: priv, pub: pub}
}

// token signs claims on top of valid defaults for the shop API.
func (i issuer) token(t testing.TB, claims map[string]any) string {
	t.Helper()
	now := time.Now()
	all := map[string]any{
		"iss": "https://idp.example.com", "aud": "shop-api", "exp": now.Add(time.Hour).Unix(),
		"iat": now.Unix(), "tenant": "shop", "idp": "oidc:corp",
	}
	for k, v := range claims {
		all[k] = v
	}
	payload, err := json.Marshal(all)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.Sign(payload, jws.WithKey(jwa.ES256(), i.priv))
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

// writeJWKS writes the issuers' public keys to dir/jwks.json.
func writeJWKS(t testing.TB, dir string, issuers ...issuer) string {
	t.Helper()
	set := jwk.NewSet()
	for _, i := range issuers {
		if err := set.AddKey(i.pub); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "jwks.json")
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
	return path
}

// customer and admin are the claims of the two kinds of users.
func customer() map[string]any {
	return map[string]any{"sub": "u-1001", "email": "ana@shop.example", "roles": []string{"customer"},
		"amr": []string{"pwd", "otp"}, "auth_time": time.Now().Add(-5 * time.Minute).Unix()}
}

func admin() map[string]any {
	return map[string]any{"sub": "u-7", "email": "olga@shop.example", "roles": []string{"admin"},
		"amr": []string{"pwd"}, "auth_time": time.Now().Add(-5 * time.Minute).Unix(), "mfa_enrolled": true}
}

// wantChallenge is the RFC 9470 header of admin() on shopTenant.
const wantChallenge = `Bearer error="insufficient_user_authentication", error_description="multi-factor authentication required", acr_values="urn:pdp:acr:mfa", max_age=3600`
