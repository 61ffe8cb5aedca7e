package config_test

import (
	"flag"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/config"
)

func parseGateway(t *testing.T, args []string, env map[string]string) (config.Gateway, error) {
	t.Helper()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, err := config.Parse(args, func(k string) string { return env[k] }, fs)
	return c.Gateway, err
}

func TestGatewayFlagsAndEnvironment(t *testing.T) {
	t.Parallel()
	g, err := parseGateway(t, []string{
		"--trusted-proxies", "10.0.0.0/8", "--trusted-proxies", "fd00::/8,192.0.2.7",
		"--jwt-audience", "a,b", "--jwt-algorithms", "ES256", "--identity-header", "user-id=X-Auth-Request-User",
		"--jwt-claim", "roles=realm_access.roles", "--step-up-acr", "mfa=gold,verify_device=",
		"--identity-headers=false", "--jwt-leeway", "1m",
	}, map[string]string{"PDP_JWKS_URL": "http://127.0.0.1:9000/jwks", "PDP_JWT_ISSUER": "https://idp.example"})
	if err != nil {
		t.Fatal(err)
	}
	want := config.DefaultGateway()
	want.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8"), netip.MustParsePrefix("192.0.2.7/32")}
	want.JWTAudience = []string{"a", "b"}
	want.JWTAlgorithms = []string{"ES256"}
	want.IdentityHeader = map[string]string{"user-id": "X-Auth-Request-User"}
	want.JWTClaim = map[string]string{"roles": "realm_access.roles"}
	want.StepUpACR = map[string]string{"mfa": "gold", "verify_device": ""}
	want.IdentityHeaders = false
	want.JWTLeeway = time.Minute
	want.JWKSURL = "http://127.0.0.1:9000/jwks"
	want.JWTIssuer = "https://idp.example"
	if diff := cmp.Diff(want, g, cmp.Comparer(func(a, b netip.Prefix) bool { return a == b })); diff != "" {
		t.Fatalf("gateway config (-want +got):\n%s", diff)
	}
}

func TestGatewayValidateNamesEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := parseGateway(t, []string{
		"--jwks-file", "/x", "--jwks-url", "http://idp.example/jwks", "--jwt-algorithms", "HS256,none",
		"--jwt-leeway", "1h", "--identity-header", "nobody=X-A", "--jwt-claim", "roles=.x", "--step-up-acr", "mfa=a b",
		"--jwt-payload-metadata-key", "",
	}, nil)
	if err == nil {
		t.Fatal("invalid gateway flags accepted")
	}
	for _, want := range []string{
		"--jwks-file and --jwks-url", "http is accepted on loopback only", `--jwt-algorithms "HS256"`, `--jwt-algorithms "none"`,
		"--jwt-leeway 1h0m0s", "--identity-header nobody: unknown name", `--jwt-claim roles=".x"`, `--step-up-acr mfa="a b"`,
		"--jwt-payload-metadata-key: required",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if _, err := parseGateway(t, []string{"--trusted-proxies", "10.0.0.0/33"}, nil); err == nil {
		t.Error("a malformed CIDR was accepted")
	}
	if _, err := parseGateway(t, []string{"--jwt-issuer", "https://idp.example"}, nil); err == nil || !strings.Contains(err.Error(), "need --jwks-file or --jwks-url") {
		t.Errorf("an issuer without keys: %v", err)
	}
}
