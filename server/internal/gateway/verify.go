package gateway

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// MaxTokenBytes bounds a bearer token; longer ones are refused unparsed.
const MaxTokenBytes = 16 << 10

// VerifierOptions configures a Verifier.
type VerifierOptions struct {
	// File is a JWKS file; exactly one of File and URL is required.
	File string
	// URL is a JWKS URL.
	URL string
	// HTTPClient fetches URL; nil means a client with a 10s timeout.
	HTTPClient *http.Client
	// Issuer, when set, must equal iss.
	Issuer string
	// Audience, when set, must share a value with aud.
	Audience []string
	// Algorithms is the allow-list (a subset of config.SignatureAlgorithms);
	// empty means all of them.
	Algorithms []string
	// Leeway is the clock skew accepted on exp, nbf and iat.
	Leeway time.Duration
	// Refresh is how often the set is reloaded in the background;
	// 0 means config.DefaultJWKSRefresh.
	Refresh time.Duration
	// MinRefresh is the shortest time between two reloads caused by an
	// unknown kid.
	MinRefresh time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives load failures and skipped keys; nil discards.
	Logger *slog.Logger
}

// Verifier checks bearer JWTs against a JWKS with
// github.com/lestrrat-go/jwx/v3. That library was chosen over go-jose
// because it is already in the module graph (OPA uses it), it is actively
// maintained, and it lets the verifier supply keys per token through a
// jws.KeyProvider, which is where the rules below are enforced:
//
//   - a header with crit is refused (no extension is understood);
//   - the header's alg must be on the allow-list, which holds asymmetric
//     algorithms only ("none" and HS* can never verify);
//   - the key is chosen by kid (a token without kid only when the set has
//     a single key), must be of the alg's key type, and its own alg, when
//     it declares one, must equal the header's;
//   - exp is required; exp, nbf and iat are checked with the leeway; iss
//     and aud when configured;
//   - a token arriving when the set is older than Refresh starts a
//     background reload (the token uses the current set); and at once on
//     an unknown kid, at most once per MinRefresh.
type Verifier struct {
	opts        VerifierOptions
	allowed     []string
	client      *http.Client
	logger      *slog.Logger
	now         func() time.Time
	keys        atomic.Pointer[keySet]
	mu          sync.Mutex
	refreshing  atomic.Bool
	lastAttempt time.Time // guarded by mu
}

// TokenError is a bearer token that failed verification; Reason is safe to
// show to the client.
type TokenError struct {
	// Reason says what is wrong, such as "token expired".
	Reason string
	// Err is the library's error; logged, never sent.
	Err error
}

// Error returns the reason and the cause.
func (e *TokenError) Error() string {
	if e.Err == nil {
		return "invalid bearer token: " + e.Reason
	}
	return "invalid bearer token: " + e.Reason + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *TokenError) Unwrap() error { return e.Err }

// NewVerifier loads the key set once. A file that cannot be loaded is an
// error; a URL that cannot be fetched is logged, and Verify retries it at
// most once per MinRefresh, failing with UNAVAILABLE meanwhile.
func NewVerifier(ctx context.Context, opts VerifierOptions) (*Verifier, error) {
	if (opts.File == "") == (opts.URL == "") {
		return nil, errors.New("gateway: exactly one of VerifierOptions.File and URL is required")
	}
	v := &Verifier{opts: opts, allowed: opts.Algorithms, client: opts.HTTPClient, logger: opts.Logger, now: opts.Now}
	if len(v.allowed) == 0 {
		v.allowed = config.SignatureAlgorithms
	}
	for _, a := range v.allowed {
		if !slices.Contains(config.SignatureAlgorithms, a) {
			return nil, fmt.Errorf("gateway: algorithm %q is not allowed", a)
		}
	}
	if v.client == nil {
		v.client = &http.Client{Timeout: 10 * time.Second}
	}
	if v.logger == nil {
		v.logger = slog.New(slog.DiscardHandler)
	}
	if v.now == nil {
		v.now = time.Now
	}
	if v.opts.Refresh <= 0 {
		v.opts.Refresh = config.DefaultJWKSRefresh
	}
	if err := v.load(ctx); err != nil && opts.File != "" {
		return nil, fmt.Errorf("--jwks-file %s: %w", opts.File, err)
	}
	return v, nil
}

// Verify checks token and returns its claims as JSON values (string,
// float64, bool, []any, map[string]any). A token that fails is a
// *TokenError; keys that never loaded are a fault.Unavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (map[string]any, error) {
	if len(token) > MaxTokenBytes {
		return nil, &TokenError{Reason: "token too long"}
	}
	if v.current() == nil && !v.reloadSoon(ctx) {
		return nil, fault.New(fault.Unavailable, "token signing keys are not loaded")
	}
	opts := []jwt.ParseOption{
		jwt.WithKeyProvider(&keyProvider{v: v, ctx: ctx}),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(v.opts.Leeway),
		jwt.WithClock(jwt.ClockFunc(v.now)),
		jwt.WithRequiredClaim(jwt.ExpirationKey),
	}
	if v.opts.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(v.opts.Issuer))
	}
	if len(v.opts.Audience) > 0 {
		opts = append(opts, jwt.WithValidator(jwt.ValidatorFunc(v.checkAudience)))
	}
	if _, err := jwt.Parse([]byte(token), opts...); err != nil {
		return nil, &TokenError{Reason: tokenReason(err), Err: err}
	}
	return payloadClaims(token)
}

// errAudience is the audience validator's failure.
var errAudience = errors.New("aud does not include an accepted audience")

func (v *Verifier) checkAudience(_ context.Context, t jwt.Token) error {
	aud, _ := t.Audience()
	for _, a := range aud {
		if slices.Contains(v.opts.Audience, a) {
			return nil
		}
	}
	return errAudience
}

// tokenReason names a verification failure for the client.
func tokenReason(err error) string {
	var ke *keyError
	switch {
	case errors.As(err, &ke):
		return ke.reason
	case errors.Is(err, jwt.TokenExpiredError()):
		return "token expired"
	case errors.Is(err, jwt.TokenNotYetValidError()):
		return "token not valid yet"
	case errors.Is(err, jwt.InvalidIssuedAtError()):
		return "token issued in the future"
	case errors.Is(err, jwt.InvalidIssuerError()):
		return "wrong issuer"
	case errors.Is(err, errAudience), errors.Is(err, jwt.InvalidAudienceError()):
		return "wrong audience"
	case errors.Is(err, jwt.MissingRequiredClaimError()):
		return "token has no exp"
	case errors.Is(err, jwt.ValidateError()):
		return "token claims are not valid"
	}
	return "malformed token or bad signature"
}

// payloadClaims decodes the (verified) payload of a compact JWS.
func payloadClaims(token string) (map[string]any, error) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return nil, &TokenError{Reason: "token is not a compact JWS"}
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return nil, &TokenError{Reason: "malformed token payload", Err: err}
	}
	var claims map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&claims); err != nil || claims == nil {
		return nil, &TokenError{Reason: "token payload is not a JSON object", Err: err}
	}
	return claims, nil
}

// keyError is a key selection failure with a client-safe reason.
type keyError struct{ reason string }

func (e *keyError) Error() string { return e.reason }

// keyProvider hands jwx the one key a token may be verified with.
type keyProvider struct {
	v   *Verifier
	ctx context.Context
}

// FetchKeys implements jws.KeyProvider.
func (p *keyProvider) FetchKeys(_ context.Context, sink jws.KeySink, sig *jws.Signature, _ *jws.Message) error {
	h := sig.ProtectedHeaders()
	// RFC 7515 4.1.11: a recipient must refuse a token whose crit lists an
	// extension it does not understand, and this verifier understands
	// none. (jwx checks crit only in jws.Verify with WithCritValidation,
	// which jwt.Parse does not pass to a key provider's verification.)
	if h.Has(jws.CriticalKey) {
		return &keyError{"token header has crit: no critical extension is understood"}
	}
	alg, ok := h.Algorithm()
	if !ok {
		return &keyError{"token header has no alg"}
	}
	if !slices.Contains(p.v.allowed, alg.String()) {
		return &keyError{fmt.Sprintf("algorithm %s is not allowed", quoteSafe(alg.String()))}
	}
	kid, _ := h.KeyID()
	ks := p.v.current()
	key, found := ks.lookup(kid)
	if !found && p.v.reloadSoon(p.ctx) {
		key, found = p.v.keys.Load().lookup(kid)
	}
	if !found {
		return &keyError{"no key for the token's kid"}
	}
	if want := keyTypeOf(alg.String()); key.KeyType().String() != want {
		return &keyError{fmt.Sprintf("algorithm %s does not fit the key type %s", alg, key.KeyType())}
	}
	if ka, ok := key.Algorithm(); ok && ka.String() != "" && ka.String() != alg.String() {
		return &keyError{fmt.Sprintf("the key is for %s, not %s", ka, alg)}
	}
	sink.Key(alg, key)
	return nil
}

// keyTypeOf is the JWK kty an allowed algorithm needs.
func keyTypeOf(alg string) string {
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return "RSA"
	case strings.HasPrefix(alg, "ES"):
		return "EC"
	case alg == "EdDSA":
		return "OKP"
	}
	return ""
}
