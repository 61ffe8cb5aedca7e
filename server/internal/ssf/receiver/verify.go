package receiver

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/pdp-dev/pdp/server/internal/ssf"
)

// The error codes of RFC 8935 section 2.4 (the IANA "Security Event Token
// Error Codes" registry).
const (
	ErrInvalidRequest       = "invalid_request"
	ErrInvalidKey           = "invalid_key"
	ErrInvalidIssuer        = "invalid_issuer"
	ErrInvalidAudience      = "invalid_audience"
	ErrAuthenticationFailed = "authentication_failed"
	ErrAccessDenied         = "access_denied"
)

// MaxSETBytes bounds a Security Event Token.
const MaxSETBytes = 64 << 10

// SETError is a refused SET: Code is an RFC 8935 error code, Description
// says why (it names no key and quotes no token).
type SETError struct {
	Code        string
	Description string
	// Replay is true when the SET was applied before (its jti is known):
	// a poll client acknowledges it rather than reporting an error.
	Replay bool
}

func (e *SETError) Error() string { return e.Code + ": " + e.Description }

func refuse(code, format string, args ...any) *SETError {
	return &SETError{Code: code, Description: fmt.Sprintf(format, args...)}
}

// signatureAlgorithms are the JWS algorithms a SET may be signed with:
// asymmetric ones only, since the keys come from the transmitter's public
// key set.
var signatureAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// keyTypeOf is the JWK kty an algorithm needs.
func keyTypeOf(alg string) string {
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return "RSA"
	case strings.HasPrefix(alg, "ES"):
		return "EC"
	}
	return "OKP"
}

// verify checks raw against the stream, as RFC 8417, RFC 8935 and SSF 1.0
// ask, and returns the event's effect (without the fields the receiver
// fills in: tenant, stream, received, until) and the event type's URI.
// The checks, in order, each with its code:
//
//   - a compact JWS of one signature, at most MaxSETBytes (invalid_request);
//   - header typ secevent+jwt (invalid_request), no crit (invalid_request:
//     no extension is understood);
//   - alg: "none" (authentication_failed: an unsigned SET authenticates
//     nobody), HMAC or anything but the asymmetric algorithms
//     (invalid_key);
//   - a key of the stream's set for the kid, of the alg's type
//     (invalid_key);
//   - the signature (authentication_failed);
//   - iss (invalid_issuer) and aud (invalid_audience);
//   - iat present, not after now plus the skew, not before the replay
//     window; jti present; exactly one event, of a type the server knows
//     and the stream accepts, whose claims fit its definition; a sub_id the
//     server can match (invalid_request).
func (r *Receiver) verify(ctx context.Context, st *stream, raw []byte, now time.Time) (ssf.Effect, string, *SETError) {
	var none ssf.Effect
	if len(raw) > MaxSETBytes {
		return none, "", refuse(ErrInvalidRequest, "the SET is larger than %d bytes", MaxSETBytes)
	}
	msg, err := jws.Parse(raw, jws.WithCompact())
	if err != nil {
		return none, "", refuse(ErrInvalidRequest, "the body is not a compact JWS")
	}
	sigs := msg.Signatures()
	if len(sigs) != 1 {
		return none, "", refuse(ErrInvalidRequest, "the SET must carry exactly one signature")
	}
	h := sigs[0].ProtectedHeaders()
	if typ, _ := h.Type(); !strings.EqualFold(typ, "secevent+jwt") && !strings.EqualFold(typ, "application/secevent+jwt") {
		return none, "", refuse(ErrInvalidRequest, "the JOSE header's typ must be secevent+jwt")
	}
	if h.Has(jws.CriticalKey) {
		return none, "", refuse(ErrInvalidRequest, "the JOSE header has crit: no critical extension is understood")
	}
	alg, ok := h.Algorithm()
	switch {
	case !ok:
		return none, "", refuse(ErrInvalidRequest, "the JOSE header has no alg")
	case alg.String() == "none":
		return none, "", refuse(ErrAuthenticationFailed, "unsigned SETs (alg none) are refused")
	case !slices.Contains(signatureAlgorithms, alg.String()):
		return none, "", refuse(ErrInvalidKey, "algorithm %q is not accepted: only asymmetric signatures (RS, PS, ES, EdDSA)", alg.String())
	}
	kid, _ := h.KeyID()
	key, err := st.keys.lookup(ctx, kid)
	if err != nil {
		return none, "", refuse(ErrInvalidKey, "no key of the stream's key set for kid %q", kid)
	}
	if key.KeyType().String() != keyTypeOf(alg.String()) {
		return none, "", refuse(ErrInvalidKey, "algorithm %s does not fit the key's type %s", alg, key.KeyType())
	}
	if ka, ok := key.Algorithm(); ok && ka.String() != "" && ka.String() != alg.String() {
		return none, "", refuse(ErrInvalidKey, "the key is for %s, not %s", ka, alg)
	}
	if _, err := jws.Verify(raw, jws.WithKey(alg, key)); err != nil {
		return none, "", refuse(ErrAuthenticationFailed, "the signature does not verify with the stream's key")
	}
	tok, err := jwt.ParseInsecure(raw) // verified just above
	if err != nil {
		return none, "", refuse(ErrInvalidRequest, "the SET's claims are malformed")
	}
	return r.claims(st, tok, now)
}

// claims checks the verified token's claims.
func (r *Receiver) claims(st *stream, tok jwt.Token, now time.Time) (ssf.Effect, string, *SETError) {
	var none ssf.Effect
	cfg := &st.cfg
	if iss, _ := tok.Issuer(); iss != cfg.Issuer {
		return none, "", refuse(ErrInvalidIssuer, "iss %q is not the stream's issuer", iss)
	}
	if aud, _ := tok.Audience(); !slices.Contains(aud, cfg.Audience) {
		return none, "", refuse(ErrInvalidAudience, "aud does not name the stream's audience")
	}
	iat, ok := tok.IssuedAt()
	switch {
	case !ok:
		return none, "", refuse(ErrInvalidRequest, "iat is required")
	case iat.After(now.Add(cfg.ClockSkew)):
		return none, "", refuse(ErrInvalidRequest, "iat is in the future")
	case iat.Before(now.Add(-cfg.ReplayWindow)):
		return none, "", refuse(ErrInvalidRequest, "iat is older than the stream's replay window of %s", cfg.ReplayWindow)
	}
	jti, _ := tok.JwtID()
	if jti == "" {
		return none, "", refuse(ErrInvalidRequest, "jti is required")
	}
	var events map[string]any
	if err := tok.Get("events", &events); err != nil || len(events) != 1 {
		return none, "", refuse(ErrInvalidRequest, "events must hold exactly one event")
	}
	var uri string
	var payload map[string]any
	for k, v := range events {
		uri = k
		payload, ok = v.(map[string]any)
	}
	if !ok {
		return none, "", refuse(ErrInvalidRequest, "the event's payload must be an object")
	}
	if _, known := eventTypes[uri]; !known {
		return none, "", refuse(ErrInvalidRequest, "event type %q is not one the server knows", uri)
	}
	if !cfg.accepts(uri) {
		return none, "", refuse(ErrInvalidRequest, "event type %q is not one the stream accepts", uri)
	}
	var subID map[string]any
	if tok.Has("sub_id") {
		if err := tok.Get("sub_id", &subID); err != nil {
			return none, "", refuse(ErrInvalidRequest, "sub_id must be an object")
		}
	}
	e, err := effectOf(uri, payload, subID, iat.UTC())
	if err != nil {
		return none, "", refuse(ErrInvalidRequest, "%s", err.Error())
	}
	e.JTI = jti
	return e, uri, nil
}

// errUnknownStream is a stream name the config does not hold.
var errUnknownStream = errors.New("unknown stream")
