package tlsutil_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/tlsutil"
	"github.com/pdp-dev/pdp/server/internal/tlsutil/certtest"
)

func TestIdentity(t *testing.T) {
	t.Parallel()
	ca := certtest.NewCA(t, "test CA")
	tests := []struct {
		name             string
		spec             certtest.Spec
		wantName, wantID string
	}{
		{"spiffe wins", certtest.Spec{CommonName: "cn", DNSNames: []string{"gw.example"},
			URIs: []string{"https://example.org/x", "spiffe://example.org/ns/edge/sa/gateway"}},
			"spiffe://example.org/ns/edge/sa/gateway", "spiffe://example.org/ns/edge/sa/gateway"},
		{"dns SAN", certtest.Spec{CommonName: "cn", DNSNames: []string{"gw.example", "other"}}, "gw.example", ""},
		{"common name", certtest.Spec{CommonName: "gateway-1"}, "gateway-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.spec.Client = true
			name, id := tlsutil.Identity(ca.Issue(t, tt.spec).Cert)
			if name != tt.wantName || id != tt.wantID {
				t.Fatalf("Identity = %q, %q; want %q, %q", name, id, tt.wantName, tt.wantID)
			}
		})
	}
	if name, id := tlsutil.Identity(nil); name != "" || id != "" {
		t.Fatalf("Identity(nil) = %q, %q", name, id)
	}
}

// serve accepts TLS connections with cfg and completes their handshakes
// until the test ends.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	lis, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lis.Close() })
	go func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_ = c.(*tls.Conn).Handshake()
				_, _ = c.Read(make([]byte, 1))
			}()
		}
	}()
	return lis.Addr().String()
}

// handshake connects to addr and returns the server's leaf certificate.
func handshake(addr string, cfg *tls.Config) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	// Under TLS 1.3 a refused client certificate shows on the first read.
	_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if _, err := c.Read(make([]byte, 1)); err != nil {
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			return nil, err
		}
	}
	return c.ConnectionState().PeerCertificates[0], nil
}

func TestReloaderServesRotatedCertificate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := certtest.NewCA(t, "test CA")
	first := ca.Server(t)
	certFile, keyFile := first.WriteFiles(t, dir, "server")
	r, err := tlsutil.NewReloader(tlsutil.Files{Cert: certFile, Key: keyFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := r.ServerConfig("http/1.1")
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Fatalf("MinVersion = %x", cfg.MinVersion)
	}
	addr := serve(t, cfg)
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}

	got, err := handshake(addr, client)
	if err != nil || got.SerialNumber.Cmp(first.Cert.SerialNumber) != 0 {
		t.Fatalf("first handshake: %v, serial %v", err, got)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = r.Watch(ctx, 20*time.Millisecond) }()
	time.Sleep(100 * time.Millisecond) // let the watcher start

	second := ca.Server(t)
	second.WriteFiles(t, dir, "server")
	waitSerial(t, addr, client, second.Cert)

	// A broken pair keeps the second certificate in service.
	certtest.WriteFile(t, keyFile, []byte("not a key"))
	if err := r.Reload(); err == nil {
		t.Fatal("Reload accepted a broken key")
	}
	if got, err := handshake(addr, client); err != nil || got.SerialNumber.Cmp(second.Cert.SerialNumber) != 0 {
		t.Fatalf("after a bad reload: %v; want the second certificate", err)
	}
}

func waitSerial(t *testing.T, addr string, client *tls.Config, want *x509.Certificate) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if got, err := handshake(addr, client); err == nil && got.SerialNumber.Cmp(want.SerialNumber) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("new connections still see the old certificate after 10s")
}

func TestReloaderRequiresClientCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := certtest.NewCA(t, "test CA")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	caFile := filepath.Join(dir, "clients.pem")
	clientCA := certtest.NewCA(t, "client CA")
	if err := os.WriteFile(caFile, clientCA.PEM, 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := tlsutil.NewReloader(tlsutil.Files{Cert: certFile, Key: keyFile, ClientCA: caFile}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !r.MutualTLS() {
		t.Fatal("MutualTLS() = false")
	}
	addr := serve(t, r.ServerConfig())
	base := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}

	if _, err := handshake(addr, base); err == nil {
		t.Fatal("handshake without a client certificate succeeded")
	}
	stranger := base.Clone()
	stranger.Certificates = []tls.Certificate{ca.Issue(t, certtest.Spec{CommonName: "x", Client: true}).TLS}
	if _, err := handshake(addr, stranger); err == nil {
		t.Fatal("handshake with a certificate of another CA succeeded")
	}
	good := base.Clone()
	good.Certificates = []tls.Certificate{clientCA.Issue(t, certtest.Spec{CommonName: "gw", Client: true}).TLS}
	if _, err := handshake(addr, good); err != nil {
		t.Fatalf("handshake with a good client certificate: %v", err)
	}
}

func TestNewReloaderErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ca := certtest.NewCA(t, "test CA")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	empty := filepath.Join(dir, "empty.pem")
	if err := os.WriteFile(empty, []byte("nothing here"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]tlsutil.Files{
		"no files":     {},
		"missing cert": {Cert: filepath.Join(dir, "nope.crt"), Key: keyFile},
		"key mismatch": {Cert: certFile, Key: certFile},
		"empty CA":     {Cert: certFile, Key: keyFile, ClientCA: empty},
	} {
		if _, err := tlsutil.NewReloader(f, nil); err == nil {
			t.Errorf("%s: NewReloader accepted it", name)
		}
	}
}
