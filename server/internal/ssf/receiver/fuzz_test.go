package receiver_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/ssf/receiver"
	"github.com/pdp-dev/pdp/server/internal/ssf/receiver/settest"
)

// FuzzReceive feeds Security Event Tokens, seeded with the CAEP and RISC
// specifications' examples signed by the stream's key and with refused
// variants, to a receiver. Every answer is either success or a *SETError
// with an RFC 8935 code, and a SET is applied only when it is a seed that
// was signed for the stream (any other bytes fail the signature).
func FuzzReceive(f *testing.F) {
	now := time.Unix(1615305159, 0).UTC().Add(10 * time.Second)
	claims := settest.Example(f, "caep-session-revoked-complex")
	g := newRig(f, claims["iss"].(string), claims["aud"].(string), now, "")
	var valid []string
	for _, ex := range []string{"caep-session-revoked-simple", "caep-session-revoked-complex", "caep-credential-change",
		"caep-device-compliance-change", "caep-risk-level-change", "caep-token-claims-change-jwt-id"} {
		c := settest.Example(f, ex)
		c["iss"], c["aud"] = claims["iss"], claims["aud"]
		c["jti"] = ex
		set := g.tr.Sign(f, c)
		valid = append(valid, set)
		f.Add(set)
	}
	f.Add(settest.Unsigned(f, claims))
	f.Add(settest.SignHMAC(f, claims, []byte("a shared secret of 32 bytes!!!!")))
	f.Add(g.tr.SignWithHeaders(f, claims, map[string]any{"typ": "secevent+jwt", "kid": "k1", "crit": []string{"b64"}, "b64": true}))
	f.Add("eyJhbGciOiJFUzI1NiJ9.e30.")
	f.Add("")
	codes := []string{receiver.ErrInvalidRequest, receiver.ErrInvalidKey, receiver.ErrInvalidIssuer, receiver.ErrInvalidAudience,
		receiver.ErrAuthenticationFailed, receiver.ErrAccessDenied}
	f.Fuzz(func(t *testing.T, set string) {
		err := g.r.Receive(context.Background(), "idp", []byte(set))
		var se *receiver.SETError
		switch {
		case err == nil:
			if !slices.Contains(valid, set) {
				t.Fatalf("applied a SET that is not one the stream's key signed: %q", set)
			}
		case errors.As(err, &se):
			if !slices.Contains(codes, se.Code) || se.Description == "" {
				t.Fatalf("refusal %q: %q", se.Code, se.Description)
			}
		default:
			t.Fatalf("Receive: %v, want nil or a *SETError", err)
		}
	})
}
