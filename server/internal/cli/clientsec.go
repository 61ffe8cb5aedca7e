package cli

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// APIKeyEnv is the environment variable the client commands read the API
// key from; a key is never a flag value, which would show in process
// listings and shell history.
const APIKeyEnv = "PDP_API_KEY"

// clientSecurity is how a client command connects: TLS, a client
// certificate for mutual TLS, and an API key.
type clientSecurity struct {
	tls               bool
	caFile            string
	certFile, keyFile string
	serverName        string
	apiKeyFile        string
	getenv            func(string) string // looks up APIKeyEnv
}

// register adds the connection flags to fs.
func (c *clientSecurity) register(fs *flag.FlagSet) {
	fs.BoolVar(&c.tls, "tls", false, "connect over TLS, verifying the server with the system roots (implied by --tls-ca and --tls-cert)")
	fs.StringVar(&c.caFile, "tls-ca", "", "PEM CA bundle that verifies the server certificate")
	fs.StringVar(&c.certFile, "tls-cert", "", "PEM client certificate, for a server with --client-ca")
	fs.StringVar(&c.keyFile, "tls-key", "", "PEM key of --tls-cert")
	fs.StringVar(&c.serverName, "tls-server-name", "", "name to verify the server certificate against (default: the host of --addr)")
	fs.StringVar(&c.apiKeyFile, "api-key-file", "", "file holding the API key (default: the "+APIKeyEnv+" environment variable)")
}

// dialOptions are the gRPC options for the flags, or why they do not work.
func (c *clientSecurity) dialOptions() ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	creds, err := c.transport()
	if err != nil {
		return nil, err
	}
	opts = append(opts, grpc.WithTransportCredentials(creds))
	key, err := c.apiKey()
	if err != nil {
		return nil, err
	}
	if key != "" {
		opts = append(opts, grpc.WithPerRPCCredentials(bearerKey(key)))
	}
	return opts, nil
}

func (c *clientSecurity) transport() (credentials.TransportCredentials, error) {
	if !c.tls && c.caFile == "" && c.certFile == "" && c.keyFile == "" {
		return insecure.NewCredentials(), nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: c.serverName}
	if c.caFile != "" {
		pem, err := os.ReadFile(c.caFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-ca %s: no PEM certificate in it", c.caFile)
		}
	}
	switch {
	case (c.certFile == "") != (c.keyFile == ""):
		return nil, errors.New("--tls-cert and --tls-key go together")
	case c.certFile != "":
		pair, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
		if err != nil {
			return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return credentials.NewTLS(cfg), nil
}

// apiKey reads the key from --api-key-file, else from APIKeyEnv.
func (c *clientSecurity) apiKey() (string, error) {
	if c.apiKeyFile != "" {
		b, err := os.ReadFile(c.apiKeyFile)
		if err != nil {
			return "", fmt.Errorf("--api-key-file: %w", err)
		}
		key := strings.TrimSpace(string(b))
		if key == "" {
			return "", fmt.Errorf("--api-key-file %s is empty", c.apiKeyFile)
		}
		return key, nil
	}
	if c.getenv == nil {
		return "", nil
	}
	return strings.TrimSpace(c.getenv(APIKeyEnv)), nil
}

// bearerKey sends the API key as "authorization: Bearer <key>". It does
// not insist on TLS: a server on loopback is reached in plaintext.
type bearerKey string

func (k bearerKey) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(k)}, nil
}

func (bearerKey) RequireTransportSecurity() bool { return false }

// connect makes the client connection to addr. On failure it also returns
// the exit code: a flag that does not work is a usage error.
func (c *clientSecurity) connect(addr string) (*grpc.ClientConn, int, error) {
	dial, err := c.dialOptions()
	if err != nil {
		return nil, ExitUsage, err
	}
	conn, err := grpc.NewClient(addr, dial...)
	if err != nil {
		return nil, ExitError, err
	}
	return conn, ExitOK, nil
}
