// Package tlsutil serves TLS from certificate files that may change while
// the server runs. A Reloader holds the current key pair and client CA pool
// and hands every new connection a configuration built from them, so that
// rotating the files on disk takes effect for the next handshake without a
// restart; established connections keep the certificate they negotiated.
// A file set that fails to load is logged and the previous one stays.
package tlsutil

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pdp-dev/pdp/server/internal/filewatch"
)

// MinVersion is the oldest TLS version the server accepts.
const MinVersion = tls.VersionTLS12

// Files names the PEM files the server's TLS is built from.
type Files struct {
	// Cert is the server certificate chain, leaf first; required.
	Cert string
	// Key is the private key of the leaf certificate; required.
	Key string
	// ClientCA, when set, holds the CA certificates that sign client
	// certificates; every client must then present a certificate they
	// verify (mutual TLS).
	ClientCA string
}

// material is one consistent load of Files.
type material struct {
	cert      *tls.Certificate
	clientCAs *x509.CertPool
}

// Reloader keeps the TLS material of Files current. Its methods are safe
// for concurrent use.
type Reloader struct {
	files  Files
	logger *slog.Logger
	cur    atomic.Pointer[material]
	mu     sync.Mutex // serialises reloads
}

// NewReloader loads files once and returns a Reloader serving them, or the
// error that made the first load fail. logger (nil: discard) hears about
// later reloads.
func NewReloader(files Files, logger *slog.Logger) (*Reloader, error) {
	if files.Cert == "" || files.Key == "" {
		return nil, errors.New("tlsutil: a certificate and a key file are required")
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{files: files, logger: logger}
	m, err := load(files)
	if err != nil {
		return nil, err
	}
	r.cur.Store(m)
	return r, nil
}

// load reads and checks every file of f.
func load(f Files) (*material, error) {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return nil, fmt.Errorf("tlsutil: loading %s and %s: %w", f.Cert, f.Key, err)
	}
	m := &material{cert: &pair}
	if f.ClientCA != "" {
		pem, err := os.ReadFile(f.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tlsutil: reading client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tlsutil: %s holds no PEM certificate", f.ClientCA)
		}
		m.clientCAs = pool
	}
	return m, nil
}

// Reload reads the files again. On success the next handshake uses them;
// on failure the previous material stays and the error is returned.
func (r *Reloader) Reload() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	m, err := load(r.files)
	if err != nil {
		return err
	}
	r.cur.Store(m)
	return nil
}

// Watch reloads the files whenever they change on disk, until ctx ends.
// Each outcome is logged; a failed reload keeps the previous material.
func (r *Reloader) Watch(ctx context.Context, debounce time.Duration) error {
	paths := []string{r.files.Cert, r.files.Key}
	if r.files.ClientCA != "" {
		paths = append(paths, r.files.ClientCA)
	}
	return filewatch.Watch(ctx, paths, debounce, r.logger, func() {
		if err := r.Reload(); err != nil {
			r.logger.Error("TLS files rejected; the previous certificate keeps serving", "error", err.Error())
			return
		}
		r.logger.Info("TLS certificate reloaded", "cert", r.files.Cert, "expires", r.Leaf().NotAfter.UTC().Format(time.RFC3339))
	})
}

// Leaf is the current server certificate.
func (r *Reloader) Leaf() *x509.Certificate {
	c := r.cur.Load().cert
	if c.Leaf != nil {
		return c.Leaf
	}
	leaf, err := x509.ParseCertificate(c.Certificate[0])
	if err != nil {
		return &x509.Certificate{}
	}
	return leaf
}

// MutualTLS reports whether clients must present a certificate.
func (r *Reloader) MutualTLS() bool { return r.files.ClientCA != "" }

// ServerConfig returns a server configuration that hands every new
// connection the current certificate and, with a client CA, requires and
// verifies a client certificate. nextProtos are the ALPN protocols to
// offer: "h2" for gRPC, "h2" and "http/1.1" for HTTP.
func (r *Reloader) ServerConfig(nextProtos ...string) *tls.Config {
	protos := append([]string(nil), nextProtos...)
	forClient := func(*tls.ClientHelloInfo) (*tls.Config, error) {
		m := r.cur.Load()
		c := &tls.Config{
			MinVersion:   MinVersion,
			Certificates: []tls.Certificate{*m.cert},
			NextProtos:   protos,
		}
		if m.clientCAs != nil {
			c.ClientAuth = tls.RequireAndVerifyClientCert
			c.ClientCAs = m.clientCAs
		}
		return c, nil
	}
	return &tls.Config{
		MinVersion: MinVersion,
		NextProtos: protos,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return r.cur.Load().cert, nil
		},
		GetConfigForClient: forClient,
	}
}
