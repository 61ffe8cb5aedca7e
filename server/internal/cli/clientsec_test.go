package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/tlsutil/certtest"
	"github.com/pdp-dev/pdp/server/pdptest"
)

const checkTenant = `
tenant: sec
plan: free
environments:
  development:
    roles:
      member:
        actions: [api.read]
`

func TestCheckWithAPIKeyAndMutualTLS(t *testing.T) {
	t.Parallel()
	pki := pdptest.NewPKI(t)
	client := pki.ClientCA.Issue(t, certtest.Spec{CommonName: "cli", Client: true, URIs: []string{"spiffe://example.org/cli"}})
	pep := pdptest.NewKey(t, "cli", authn.RolePEP)
	s := pdptest.Start(t,
		pdptest.WithAPIKeys(t, pep),
		pdptest.WithMutualTLS(pki, client.TLS),
		pdptest.WithTenant("sec.yaml", checkTenant),
	)
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caFile, pki.CA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := client.WriteFiles(t, dir, "cli")
	keyPath := filepath.Join(dir, "api-key")
	if err := os.WriteFile(keyPath, []byte(pep.Key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"check", "--addr", s.GRPCAddr, "--tenant", "sec", "--environment", "development",
		"--user", "u1", "--roles", "member", "--action", "api.read"}
	tlsArgs := []string{"--tls-ca", caFile, "--tls-cert", certFile, "--tls-key", keyFile, "--tls-server-name", "localhost"}

	r := runPDP(t, map[string]string{APIKeyEnv: pep.Key}, append(args, tlsArgs...)...)
	if r.code != ExitOK {
		t.Fatalf("check with the key from %s: exit %d\n%s%s", APIKeyEnv, r.code, r.stdout, r.stderr)
	}
	if r := runPDP(t, nil, append(append(args, tlsArgs...), "--api-key-file", keyPath)...); r.code != ExitOK {
		t.Fatalf("check with --api-key-file: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runPDP(t, nil, append(args, tlsArgs...)...)
	if r.code != ExitError || !strings.Contains(strings.ToLower(r.stderr), "unauthenticated") {
		t.Fatalf("check without a key: exit %d\n%s", r.code, r.stderr)
	}
	// Without the client certificate the server refuses the connection.
	r = runPDP(t, map[string]string{APIKeyEnv: pep.Key}, append(args, "--tls-ca", caFile, "--tls-server-name", "localhost")...)
	if r.code != ExitError {
		t.Fatalf("check without a client certificate: exit %d\n%s", r.code, r.stderr)
	}
	for _, out := range []string{r.stdout, r.stderr} {
		if strings.Contains(out, pep.Key) {
			t.Fatal("pdp check printed the API key")
		}
	}
}

func TestCheckConnectionFlagErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	base := []string{"check", "--tenant", "x", "--action", "login"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--tls-cert", empty}, "--tls-cert and --tls-key go together"},
		{[]string{"--tls-ca", filepath.Join(dir, "missing.pem")}, "--tls-ca"},
		{[]string{"--tls-ca", empty}, "no PEM certificate"},
		{[]string{"--api-key-file", empty}, "is empty"},
	} {
		r := runPDP(t, nil, append(base, tt.args...)...)
		if r.code != ExitUsage || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tt.args, r.code, r.stderr, tt.want)
		}
	}
}
