package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/gateway"
)

// fuzzSigners are fixed keys, so that the tokens of the kept corpus stay
// signed by keys the fuzz verifier knows run after run.
func fuzzSigners(t testing.TB) (ec, ed signer) {
	t.Helper()
	raw, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), []byte("pdp fuzz ES256 key, not a secret"))
	if err != nil {
		t.Fatal(err)
	}
	ec = newSigner(t, "ec-fuzz", jwa.ES256(), raw)
	ed = newSigner(t, "ed-fuzz", jwa.EdDSA(), ed25519.NewKeyFromSeed([]byte("pdp fuzz EdDSA seed, not secret!")))
	return ec, ed
}

// FuzzVerify feeds bearer tokens, seeded with real tokens signed by the
// JOSE library (valid, expired, for another audience, unsigned, HS256
// with a public key, JSON serialised, truncated), to the verifier. It must
// never panic; a refusal is a TokenError with a reason; and an accepted
// token yields exactly the claims that one of the seeds signed: no change
// to a token, and no other way of writing it, may bring claims of its own.
func FuzzVerify(f *testing.F) {
	ec, ed := fuzzSigners(f)
	path := filepath.Join(f.TempDir(), "jwks.json")
	writeJWKS(f, path, ec.pub, ed.pub)
	v := newVerifier(f, gateway.VerifierOptions{
		File: path, Issuer: "https://idp.example", Audience: []string{"shop-api"},
		Leeway: 30 * time.Second, MinRefresh: time.Hour, Now: func() time.Time { return t0 },
	})
	good := func() map[string]any {
		return map[string]any{"iss": "https://idp.example", "aud": "shop-api", "sub": "u-1", "tenant": "shop",
			"roles": []string{"customer"}, "amr": []string{"pwd", "otp"}, "auth_time": t0.Add(-time.Minute).Unix()}
	}
	var signed []map[string]any // the claims of every token a fuzz input may legitimately carry
	add := func(s signer, claims map[string]any) string {
		tok := s.sign(f, claims)
		var c map[string]any
		if err := json.Unmarshal(mustPayload(f, tok), &c); err != nil {
			f.Fatal(err)
		}
		signed = append(signed, c)
		f.Add(tok)
		return tok
	}
	valid := add(ec, good())
	add(ed, good())
	nested := good()
	nested["realm"] = map[string]any{"roles": []string{"admin"}, "x.y": "dotted"}
	add(ec, nested)
	expired := good()
	expired["exp"] = t0.Add(-time.Hour).Unix()
	add(ed, expired)
	other := good()
	other["aud"] = []string{"billing", "other"}
	add(ec, other)
	noExp := good()
	noExp["exp"] = nil
	add(ec, noExp)

	parts := strings.Split(valid, ".")
	f.Add(parts[0] + "." + parts[1] + ".")
	f.Add(b64(map[string]any{"alg": "none"}) + "." + parts[1] + ".")
	f.Add(b64(map[string]any{"alg": "HS256", "kid": "ec-fuzz"}) + "." + parts[1] + "." + parts[2])
	f.Add(b64(map[string]any{"alg": "ES256"}) + "." + parts[1] + "." + parts[2])
	f.Add(parts[0] + "." + b64(map[string]any{"sub": "admin", "exp": t0.Add(time.Hour).Unix()}) + "." + parts[2])
	f.Add(parts[0] + ".." + parts[2])
	f.Add(strings.TrimRight(valid, "A") + "==")
	f.Add(`{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`)
	f.Add(`{"payload":"` + parts[1] + `","protected":"` + parts[0] + `","signature":"` + parts[2] + `","x":".` + b64(map[string]any{"sub": "admin"}) + `."}`)
	if js, err := jws.Sign(mustPayload(f, valid), jws.WithJSON(), jws.WithKey(jwa.ES256(), ec.priv)); err == nil {
		f.Add(string(js))
	}
	f.Add("")
	f.Add("..")
	f.Add("not.a.token")

	if _, err := v.Verify(context.Background(), valid); err != nil {
		f.Fatalf("the valid seed does not verify: %v", err)
	}
	f.Fuzz(func(t *testing.T, token string) {
		claims, err := v.Verify(context.Background(), token)
		if err != nil {
			var te *gateway.TokenError
			if !errors.As(err, &te) || te.Reason == "" {
				t.Fatalf("Verify(%q) = %v, want a TokenError with a reason", token, err)
			}
			return
		}
		for _, c := range signed {
			if reflect.DeepEqual(c, claims) {
				return
			}
		}
		t.Fatalf("Verify(%q) accepted claims no seed signed: %v", token, claims)
	})
}

// mustPayload decodes the payload of a compact JWS.
func mustPayload(t testing.TB, token string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(strings.Split(token, ".")[1])
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzClaimsMapping feeds JSON objects as verified claims through the
// gateway's mapping and the DecisionService's validation. It must never
// fail the call: the answer is a 200, or a 400 whose every violation
// names a field, a source and a description; and the mapped identity is
// the claims' own. The same claims as a Struct (ClaimsPayload, as Envoy's
// jwt_authn filter passes them) map exactly as the Struct's AsMap does.
func FuzzClaimsMapping(f *testing.F) {
	for _, s := range []string{
		`{"sub":"u-1","email":"ana@shop.example","tenant":"shop","idp":"oidc:corp","roles":["customer"],"amr":["pwd","otp"],"auth_time":1773133800}`,
		`{"sub":"u-7","roles":"admin, auditor","mfa_enrolled":true,"acr":"urn:pdp:acr:mfa","auth_time":1773133800.25}`,
		`{"sub":7,"roles":[1,"x"],"amr":"hwk","auth_time":"yesterday","mfa_enrolled":"yes"}`,
		`{"sub":null,"email":"","roles":[],"auth_time":-1}`,
		`{"sub":"u\u0000x","roles":["\u0085"],"auth_time":1e300}`,
		`{"realm":{"roles":["admin"]},"sub":"u-9","auth_time":253402300799}`,
		`{}`,
	} {
		f.Add([]byte(s))
	}
	rec := &recorder{}
	g := newGateway(f, func(c *config.Gateway) { c.JWTClaim = map[string]string{"roles": "realm.roles"} })
	plain := newGateway(f, nil)
	f.Fuzz(func(t *testing.T, raw []byte) {
		var claims map[string]any
		if json.Unmarshal(raw, &claims) != nil || claims == nil {
			return
		}
		for _, gw := range []*gateway.Gateway{plain, g} {
			rec.got = nil
			a, err := gw.Decide(context.Background(), rec, gateway.Input{
				Method: "GET", MethodSource: "method", URI: "/items/1", URISource: "uri",
				Header: headers("x-pdp-tenant", "shop", "x-pdp-environment", "production"),
				Claims: claims, ClaimsSource: "jwt",
			})
			if err != nil {
				t.Fatalf("Decide(%s) failed: %v", raw, err)
			}
			switch a.Status {
			case 200:
				if sub, ok := claims["sub"].(string); ok && gw == plain && rec.got.Subject.ID != sub {
					t.Fatalf("subject.id %q from sub %q", rec.got.Subject.ID, sub)
				}
				checkMFA(t, raw, claims, rec.got)
			case 400:
				checkViolations(t, raw, a.Body)
			default:
				t.Fatalf("status %d for claims %s", a.Status, raw)
			}
		}
		st, err := structpb.NewStruct(claims)
		if err != nil {
			return
		}
		for _, gw := range []*gateway.Gateway{plain, g} {
			in := gateway.Input{
				Method: "GET", MethodSource: "method", URI: "/items/1", URISource: "uri",
				Header: headers("x-pdp-tenant", "shop", "x-pdp-environment", "production"), ClaimsSource: "jwt",
			}
			asMap, asPayload := in, in
			asMap.Claims, asPayload.ClaimsPayload = st.AsMap(), st
			var got [2]*decision.Request
			var answers [2]gateway.Answer
			for i, in := range []gateway.Input{asMap, asPayload} {
				rec.got = nil
				if answers[i], err = gw.Decide(context.Background(), rec, in); err != nil {
					t.Fatalf("Decide(%s) failed: %v", raw, err)
				}
				got[i] = rec.got
			}
			if !reflect.DeepEqual(answers[0], answers[1]) || !reflect.DeepEqual(got[0], got[1]) {
				t.Fatalf("claims %s: as a map %+v %+v, as a Struct %+v %+v", raw, answers[0], got[0], answers[1], got[1])
			}
		}
	})
}

// checkMFA: a second factor in amr marks the subject enrolled.
func checkMFA(t *testing.T, raw []byte, claims map[string]any, got *decision.Request) {
	t.Helper()
	amr, ok := claims["amr"].([]any)
	if !ok {
		return
	}
	for _, m := range amr {
		if s, isString := m.(string); isString && strings.EqualFold(s, "otp") && !got.Subject.MFAEnrolled {
			t.Fatalf("amr otp did not mark the subject enrolled: %s", raw)
		}
	}
}

// checkViolations: a 400 body is JSON whose violations are complete.
func checkViolations(t *testing.T, raw, body []byte) {
	t.Helper()
	var b struct {
		FieldViolations []struct{ Field, Source, Description string } `json:"field_violations"`
	}
	if err := json.Unmarshal(body, &b); err != nil || len(b.FieldViolations) == 0 {
		t.Fatalf("400 body %q for %s: %v", body, raw, err)
	}
	for _, v := range b.FieldViolations {
		if v.Field == "" || v.Source == "" || v.Description == "" {
			t.Fatalf("incomplete violation %+v for %s", v, raw)
		}
	}
}
