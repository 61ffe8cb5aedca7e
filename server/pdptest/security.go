package pdptest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	yaml "go.yaml.in/yaml/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/tlsutil/certtest"
)

// Key is an API key a test server accepts.
type Key struct {
	// Name names the key in logs and to policy (input.caller.name).
	Name string
	// Key is the secret the client sends.
	Key string
	// Role is admin, tenant-admin, pep or transmitter.
	Role authn.Role
	// Tenants are a tenant-admin's tenants.
	Tenants []string
	// Streams are a transmitter's Shared Signals streams.
	Streams []string
}

// NewKey makes a fresh key.
func NewKey(t testing.TB, name string, role authn.Role, tenants ...string) Key {
	t.Helper()
	k, err := authn.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	return Key{Name: name, Key: k, Role: role, Tenants: tenants}
}

// NewTransmitterKey makes a fresh transmitter key for streams.
func NewTransmitterKey(t testing.TB, name string, streams ...string) Key {
	t.Helper()
	k := NewKey(t, name, authn.RoleTransmitter)
	k.Streams = streams
	return k
}

// keyFile is the YAML of the --api-keys file holding keys.
func keyFile(t testing.TB, keys []Key) []byte {
	t.Helper()
	entries := make([]authn.Entry, 0, len(keys))
	for _, k := range keys {
		entries = append(entries, authn.Entry{Name: k.Name, KeySHA256: authn.HashKey(k.Key), Role: k.Role, Tenants: k.Tenants, Streams: k.Streams})
	}
	out, err := yaml.Marshal(entries)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// WithAPIKeys serves with an --api-keys file (in a temporary directory of
// t) holding keys. The harness clients (Conn, Decisions, Health, HTTP)
// send the first key; WithClientKey chooses another.
func WithAPIKeys(t testing.TB, keys ...Key) Option {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.yaml")
	certtest.WriteFile(t, path, keyFile(t, keys))
	return func(s *settings) {
		s.mutate = append(s.mutate, func(c *config.Config) { c.APIKeysFile = path })
		if len(keys) > 0 && !s.client.keySet {
			s.client.key = keys[0].Key
		}
	}
}

// WithClientKey makes the harness clients send key; "" sends none.
func WithClientKey(key string) Option {
	return func(s *settings) { s.client.key = key; s.client.keySet = true }
}

// WriteAPIKeys replaces the server's --api-keys file with keys; the
// server reloads it.
func (s *Server) WriteAPIKeys(t testing.TB, keys ...Key) {
	t.Helper()
	if s.Config.APIKeysFile == "" {
		t.Fatal("pdptest: the server runs without --api-keys")
	}
	certtest.WriteFile(t, s.Config.APIKeysFile, keyFile(t, keys))
}

// PKI is a throwaway public key infrastructure for a test server: a CA
// that signs the server's certificate for localhost, and a client CA for
// mutual TLS, with their files in Dir.
type PKI struct {
	// Dir holds the files.
	Dir string
	// CA signs the server certificate; clients trust it.
	CA *certtest.CA
	// ClientCA signs client certificates.
	ClientCA *certtest.CA
	// CertFile and KeyFile are the server's pair (--tls-cert, --tls-key).
	CertFile, KeyFile string
	// ClientCAFile is ClientCA in PEM (--client-ca).
	ClientCAFile string
	// ServerCert is the server certificate in the files.
	ServerCert *x509.Certificate
}

// NewPKI makes a PKI in a temporary directory of t.
func NewPKI(t testing.TB) *PKI {
	t.Helper()
	p := &PKI{Dir: t.TempDir(), CA: certtest.NewCA(t, "pdptest server CA"), ClientCA: certtest.NewCA(t, "pdptest client CA")}
	p.RotateServer(t)
	p.ClientCAFile = filepath.Join(p.Dir, "client-ca.pem")
	if err := os.WriteFile(p.ClientCAFile, p.ClientCA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// RotateServer issues a new server certificate and replaces the files
// atomically; a running server picks it up for new connections.
func (p *PKI) RotateServer(t testing.TB) *x509.Certificate {
	t.Helper()
	is := p.CA.Server(t)
	// The key first: the pair is consistent again once the certificate
	// lands, and the server keeps the old pair in between.
	certFile, keyFile := filepath.Join(p.Dir, "server.crt"), filepath.Join(p.Dir, "server.key")
	certtest.WriteFile(t, keyFile, is.KeyPEM)
	certtest.WriteFile(t, certFile, is.CertPEM)
	p.CertFile, p.KeyFile, p.ServerCert = certFile, keyFile, is.Cert
	return is.Cert
}

// Client issues a client certificate signed by ClientCA; spiffeID, when
// set, is its URI SAN.
func (p *PKI) Client(t testing.TB, commonName, spiffeID string) tls.Certificate {
	t.Helper()
	spec := certtest.Spec{CommonName: commonName, Client: true}
	if spiffeID != "" {
		spec.URIs = []string{spiffeID}
	}
	return p.ClientCA.Issue(t, spec).TLS
}

// WithTLS serves both ports over TLS with p's server certificate; the
// harness clients trust p.CA.
func WithTLS(p *PKI) Option {
	return func(s *settings) {
		s.mutate = append(s.mutate, func(c *config.Config) { c.TLSCert, c.TLSKey = p.CertFile, p.KeyFile })
		s.client.tls = &tls.Config{RootCAs: p.CA.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}
	}
}

// WithMutualTLS is WithTLS requiring client certificates signed by
// p.ClientCA; the harness clients present client.
func WithMutualTLS(p *PKI, client tls.Certificate) Option {
	return func(s *settings) {
		WithTLS(p)(s)
		s.mutate = append(s.mutate, func(c *config.Config) { c.ClientCA = p.ClientCAFile })
		s.client.tls.Certificates = []tls.Certificate{client}
	}
}

// ClientTLS is a copy of the harness clients' TLS configuration, nil when
// the server serves plaintext.
func (s *Server) ClientTLS() *tls.Config {
	if s.client.tls == nil {
		return nil
	}
	return s.client.tls.Clone()
}

// DialAs connects to the gRPC port like Conn does, sending key instead
// ("" sends none). The connection closes when the test ends.
func (s *Server) DialAs(t testing.TB, key string) *grpc.ClientConn {
	t.Helper()
	c := s.client
	c.key = key
	conn, err := grpc.NewClient(s.GRPCAddr, c.dialOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// HTTPAs is an HTTP client like HTTP, sending key instead ("" sends none).
func (s *Server) HTTPAs(key string) *http.Client {
	c := s.client
	c.key = key
	return c.httpClient()
}

// clientSecurity is what the harness clients send: an API key and TLS.
type clientSecurity struct {
	key    string
	keySet bool        // WithClientKey chose the key
	tls    *tls.Config // nil: plaintext
}

func (c clientSecurity) scheme() string {
	if c.tls != nil {
		return "https"
	}
	return "http"
}

func (c clientSecurity) dialOptions() []grpc.DialOption {
	creds := insecure.NewCredentials()
	if c.tls != nil {
		creds = credentials.NewTLS(c.tls.Clone())
	}
	opts := []grpc.DialOption{grpc.WithTransportCredentials(creds)}
	if c.key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearer(c.key)))
	}
	return opts
}

func (c clientSecurity) httpClient() *http.Client {
	base := http.DefaultTransport.(*http.Transport).Clone()
	if c.tls != nil {
		base.TLSClientConfig = c.tls.Clone()
	}
	var rt http.RoundTripper = base
	if c.key != "" {
		rt = keyTransport{key: c.key, next: base}
	}
	return &http.Client{Timeout: 10 * time.Second, Transport: rt}
}

// bearer sends a key as "authorization: Bearer <key>" on every call, over
// plaintext loopback too.
type bearer string

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

func (bearer) RequireTransportSecurity() bool { return false }

// keyTransport adds the key to every HTTP request that has no
// Authorization header of its own.
type keyTransport struct {
	key  string
	next http.RoundTripper
}

func (k keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+k.key)
	}
	return k.next.RoundTrip(r)
}
