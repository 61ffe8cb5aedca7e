package config

import (
	"errors"
	"flag"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// Defaults of the gateway doors (Envoy ext_authz and /v1/forward-auth).
const (
	// DefaultIdentityHeaderPrefix prefixes the identity header names of
	// docs/api.md, section Identity from a gateway: "x-pdp-" + "user-id" is "x-pdp-user-id".
	DefaultIdentityHeaderPrefix = "x-pdp-"
	// DefaultJWTPayloadMetadataKey is the `payload_in_metadata` name of
	// Envoy's jwt_authn filter that ext_authz reads the claims from.
	DefaultJWTPayloadMetadataKey = "jwt_payload"
	// DefaultJWTLeeway is the clock skew accepted on exp, nbf and iat.
	DefaultJWTLeeway = 30 * time.Second
	// DefaultJWKSRefresh is how often the JWKS is reloaded.
	DefaultJWKSRefresh = 15 * time.Minute
	// DefaultJWKSMinRefresh is the shortest time between two reloads caused
	// by a token whose kid is not in the key set (a key rotation).
	DefaultJWKSMinRefresh = 10 * time.Second
)

// IdentityHeaderNames are the names of the identity headers of docs/api.md
// (section Identity from a gateway), without the prefix. --identity-header takes them as NAME.
var IdentityHeaderNames = []string{
	"tenant", "environment", "action", "resource-type", "resource-id",
	"user-id", "user-email", "roles", "auth-provider",
	"mfa-enrolled", "mfa-verified-at", "authenticated-at",
	"device-id", "session-id", "session-last-activity",
}

// JWTClaimNames are the claims read from a verified JWT or from the
// jwt_authn payload. --jwt-claim renames them (NAME=CLAIM, where CLAIM may
// be a dotted path into nested objects such as realm_access.roles).
var JWTClaimNames = []string{"sub", "email", "roles", "amr", "auth_time", "idp", "tenant", "acr", "mfa_enrolled"}

// SignatureAlgorithms are the JWS algorithms --jwt-algorithms may allow:
// asymmetric ones only, since the keys come from a public JWKS. "none" and
// the HMAC algorithms are never accepted.
var SignatureAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// StepUpKinds are the step-up kinds --step-up-acr takes, by the lowercase
// word of their StepUpKind ("mfa" is STEP_UP_MFA); package gateway checks
// that they are the proto's.
var StepUpKinds = []string{"enroll_mfa", "mfa", "reauthenticate", "use_provider", "verify_device"}

// Gateway configures the doors gateways use: Envoy ext_authz on the gRPC
// port and /v1/forward-auth on the HTTP port (nginx auth_request, Traefik
// ForwardAuth, Caddy forward_auth).
type Gateway struct {
	// TrustedProxies are the CIDRs of the proxies whose X-Forwarded-For and
	// X-Real-IP forward-auth believes; a single address means /32 or /128
	// (--trusted-proxies, repeatable or comma-separated; PDP_TRUSTED_PROXIES).
	// Empty: the client IP is the peer address of the forward-auth call.
	TrustedProxies []netip.Prefix
	// IdentityHeaders makes the identity headers (user, roles, provider,
	// MFA, device, session) a source of identity. Turn it off when clients
	// can reach the gateway with headers of their own that it does not
	// overwrite (--identity-headers, PDP_IDENTITY_HEADERS). Tenant,
	// environment and action headers are read either way.
	IdentityHeaders bool
	// IdentityHeaderPrefix prefixes every identity header name
	// (--identity-header-prefix, PDP_IDENTITY_HEADER_PREFIX).
	IdentityHeaderPrefix string
	// IdentityHeader renames single headers: NAME (one of
	// IdentityHeaderNames) to a full header name, overriding the prefix
	// (--identity-header NAME=HEADER, repeatable or comma-separated).
	IdentityHeader map[string]string
	// JWKSFile is a JSON Web Key Set file verifying bearer JWTs; re-read
	// once older than JWKSRefresh and on an unknown kid (--jwks-file,
	// PDP_JWKS_FILE).
	JWKSFile string
	// JWKSURL is a JWKS URL verifying bearer JWTs: https, or http on a
	// loopback address (--jwks-url, PDP_JWKS_URL).
	JWKSURL string
	// JWTIssuer, when set, must equal the token's iss (--jwt-issuer).
	JWTIssuer string
	// JWTAudience, when set, must include one value of the token's aud
	// (--jwt-audience, repeatable or comma-separated).
	JWTAudience []string
	// JWTAlgorithms is the allow-list of signature algorithms, a subset of
	// SignatureAlgorithms; empty means all of them (--jwt-algorithms).
	JWTAlgorithms []string
	// JWTLeeway is the clock skew accepted on exp, nbf and iat, at most 5m
	// (--jwt-leeway).
	JWTLeeway time.Duration
	// JWKSRefresh is the age after which the key set is reloaded in the
	// background, as tokens arrive, 1m..24h (--jwks-refresh).
	JWKSRefresh time.Duration
	// JWKSMinRefresh is the shortest time between two reloads caused by an
	// unknown kid, 0..JWKSRefresh (--jwks-min-refresh).
	JWKSMinRefresh time.Duration
	// JWTClaim renames claims: NAME (one of JWTClaimNames) to a claim name
	// or dotted path (--jwt-claim NAME=CLAIM, repeatable).
	JWTClaim map[string]string
	// JWTPayloadMetadataKey is the `payload_in_metadata` of Envoy's
	// jwt_authn filter, under which ext_authz finds the verified claims
	// (--jwt-payload-metadata-key).
	JWTPayloadMetadataKey string
	// StepUpACR overrides pdpclient.DefaultACRValues per step-up kind
	// (--step-up-acr KIND=ACR, repeatable; an empty ACR drops the kind's
	// acr value).
	StepUpACR map[string]string
}

// DefaultGateway returns the gateway configuration `pdp serve` starts from.
func DefaultGateway() Gateway {
	return Gateway{
		IdentityHeaders:       true,
		IdentityHeaderPrefix:  DefaultIdentityHeaderPrefix,
		JWTLeeway:             DefaultJWTLeeway,
		JWKSRefresh:           DefaultJWKSRefresh,
		JWKSMinRefresh:        DefaultJWKSMinRefresh,
		JWTPayloadMetadataKey: DefaultJWTPayloadMetadataKey,
	}
}

// RegisterFlags adds the gateway flags to fs, writing into g.
func (g *Gateway) RegisterFlags(fs *flag.FlagSet) {
	fs.Var((*prefixList)(&g.TrustedProxies), "trusted-proxies", "CIDR or address of a proxy whose X-Forwarded-For and X-Real-IP forward-auth believes (repeatable or comma-separated)")
	fs.BoolVar(&g.IdentityHeaders, "identity-headers", g.IdentityHeaders, "read user, roles, provider, MFA, device and session from the identity headers")
	fs.StringVar(&g.IdentityHeaderPrefix, "identity-header-prefix", g.IdentityHeaderPrefix, "prefix of the identity header names")
	fs.Var(newPairs(&g.IdentityHeader), "identity-header", "rename one identity header, NAME=HEADER such as user-id=X-Auth-Request-User (repeatable)")
	fs.StringVar(&g.JWKSFile, "jwks-file", g.JWKSFile, "JWKS file verifying bearer JWTs")
	fs.StringVar(&g.JWKSURL, "jwks-url", g.JWKSURL, "JWKS URL verifying bearer JWTs (https, or http on loopback)")
	fs.StringVar(&g.JWTIssuer, "jwt-issuer", g.JWTIssuer, "required iss of bearer JWTs")
	fs.Var((*csvList)(&g.JWTAudience), "jwt-audience", "accepted aud of bearer JWTs (repeatable)")
	fs.Var((*csvList)(&g.JWTAlgorithms), "jwt-algorithms", "allowed JWS algorithms, comma-separated such as RS256,ES256 (default: every asymmetric one)")
	fs.DurationVar(&g.JWTLeeway, "jwt-leeway", g.JWTLeeway, "clock skew accepted on exp, nbf and iat (at most 5m)")
	fs.DurationVar(&g.JWKSRefresh, "jwks-refresh", g.JWKSRefresh, "how often the JWKS is reloaded")
	fs.DurationVar(&g.JWKSMinRefresh, "jwks-min-refresh", g.JWKSMinRefresh, "shortest time between reloads caused by an unknown kid")
	fs.Var(newPairs(&g.JWTClaim), "jwt-claim", "rename one claim, NAME=CLAIM; dotted paths allowed (repeatable)")
	fs.StringVar(&g.JWTPayloadMetadataKey, "jwt-payload-metadata-key", g.JWTPayloadMetadataKey, "payload_in_metadata of Envoy's jwt_authn filter")
	fs.Var(newPairs(&g.StepUpACR), "step-up-acr", "acr value asked for a step-up kind, KIND=ACR, over the built-in ones (repeatable)")
}

// Validate reports every problem of g at once, naming the flag.
func (g Gateway) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if g.JWKSFile != "" && g.JWKSURL != "" {
		bad("--jwks-file and --jwks-url: set at most one")
	}
	if g.JWKSURL != "" {
		if err := checkJWKSURL(g.JWKSURL); err != nil {
			bad("--jwks-url %q: %v", g.JWKSURL, err)
		}
	}
	if g.JWKSFile == "" && g.JWKSURL == "" && (g.JWTIssuer != "" || len(g.JWTAudience) > 0) {
		bad("--jwt-issuer and --jwt-audience need --jwks-file or --jwks-url")
	}
	for _, a := range g.JWTAlgorithms {
		if !slices.Contains(SignatureAlgorithms, a) {
			bad("--jwt-algorithms %q: allowed are %s", a, strings.Join(SignatureAlgorithms, ", "))
		}
	}
	if g.JWTLeeway < 0 || g.JWTLeeway > 5*time.Minute {
		bad("--jwt-leeway %s: must be between 0 and 5m", g.JWTLeeway)
	}
	if g.JWKSRefresh < time.Minute || g.JWKSRefresh > 24*time.Hour {
		bad("--jwks-refresh %s: must be between 1m and 24h", g.JWKSRefresh)
	}
	if g.JWKSMinRefresh < 0 || g.JWKSMinRefresh > g.JWKSRefresh {
		bad("--jwks-min-refresh %s: must be between 0 and --jwks-refresh", g.JWKSMinRefresh)
	}
	if !isHeaderName(strings.TrimSuffix(g.IdentityHeaderPrefix, "-")) && g.IdentityHeaderPrefix != "" {
		bad("--identity-header-prefix %q: not a header name prefix", g.IdentityHeaderPrefix)
	}
	for _, name := range sortedKeys(g.IdentityHeader) {
		if !slices.Contains(IdentityHeaderNames, name) {
			bad("--identity-header %s: unknown name; known are %s", name, strings.Join(IdentityHeaderNames, ", "))
		} else if !isHeaderName(g.IdentityHeader[name]) {
			bad("--identity-header %s=%q: not a header name", name, g.IdentityHeader[name])
		}
	}
	for _, name := range sortedKeys(g.JWTClaim) {
		if !slices.Contains(JWTClaimNames, name) {
			bad("--jwt-claim %s: unknown claim; known are %s", name, strings.Join(JWTClaimNames, ", "))
		} else if c := g.JWTClaim[name]; c == "" || strings.HasPrefix(c, ".") || strings.HasSuffix(c, ".") || strings.Contains(c, "..") {
			bad("--jwt-claim %s=%q: must be a claim name or a dotted path", name, c)
		}
	}
	for _, kind := range sortedKeys(g.StepUpACR) {
		if !slices.Contains(StepUpKinds, kind) {
			bad("--step-up-acr %s: unknown step-up kind; known are %s", kind, strings.Join(StepUpKinds, ", "))
		} else if acr := g.StepUpACR[kind]; strings.ContainsAny(acr, "\" \\") || strings.IndexFunc(acr, func(r rune) bool { return r < 0x21 || r > 0x7e }) >= 0 {
			bad("--step-up-acr %s=%q: must be printable ASCII without spaces, quotes or backslashes", kind, acr)
		}
	}
	if g.JWTPayloadMetadataKey == "" {
		bad("--jwt-payload-metadata-key: required")
	}
	return errors.Join(errs...)
}

// checkJWKSURL accepts https, and http to a loopback host.
func checkJWKSURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	switch {
	case u.Host == "":
		return errors.New("missing host")
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http":
		if h := u.Hostname(); h == "localhost" {
			return nil
		} else if a, err := netip.ParseAddr(h); err == nil && a.IsLoopback() {
			return nil
		}
		return errors.New("http is accepted on loopback only; use https")
	}
	return errors.New("scheme must be https")
}

// isHeaderName accepts an HTTP field name (RFC 9110 token).
func isHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// prefixList is a repeatable CIDR flag that also takes comma-separated
// values (as PDP_* variables carry them); a bare address is a host prefix.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	out := make([]string, len(*p))
	for i, x := range *p {
		out[i] = x.String()
	}
	return strings.Join(out, ",")
}

func (p *prefixList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s)
			if aerr != nil || a.Zone() != "" {
				return fmt.Errorf("%q is not a CIDR or an IP address", s)
			}
			pfx = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(0, pfx.Bits()-96))
		}
		*p = append(*p, pfx.Masked())
	}
	return nil
}

// csvList is a repeatable string flag that also takes comma-separated
// values.
type csvList []string

func (c *csvList) String() string { return strings.Join(*c, ",") }

func (c *csvList) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*c = append(*c, s)
		}
	}
	return nil
}

// pairs is a repeatable NAME=VALUE flag that also takes comma-separated
// pairs; later pairs win.
type pairs struct{ m *map[string]string }

func newPairs(m *map[string]string) *pairs { return &pairs{m: m} }

func (p *pairs) String() string {
	if p == nil || p.m == nil {
		return ""
	}
	var out []string
	for _, k := range sortedKeys(*p.m) {
		out = append(out, k+"="+(*p.m)[k])
	}
	return strings.Join(out, ",")
}

func (p *pairs) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		name, value, ok := strings.Cut(s, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("%q is not NAME=VALUE", s)
		}
		if *p.m == nil {
			*p.m = map[string]string{}
		}
		(*p.m)[strings.TrimSpace(name)] = strings.TrimSpace(value)
	}
	return nil
}
