package config

import (
	"flag"
	"time"
)

// Defaults of HTTPTimeouts.
const (
	DefaultHTTPHeaderTimeout = 10 * time.Second
	DefaultHTTPBodyTimeout   = 10 * time.Second
	DefaultHTTPIdleTimeout   = 2 * time.Minute
)

// HTTPTimeouts bound what a slow or silent client may hold on the HTTP
// port (see httpapi.NewServer).
type HTTPTimeouts struct {
	// HTTPHeaderTimeout is how long a client may take to send a request's
	// headers, and its TLS handshake (--http-header-timeout,
	// PDP_HTTP_HEADER_TIMEOUT).
	HTTPHeaderTimeout time.Duration
	// HTTPBodyTimeout is how long a client may take to send a request's
	// body once its headers arrived; a body still incomplete is answered
	// 408 and the connection closed (--http-body-timeout,
	// PDP_HTTP_BODY_TIMEOUT).
	HTTPBodyTimeout time.Duration
	// HTTPIdleTimeout is how long a kept-alive connection may wait for its
	// next request (--http-idle-timeout, PDP_HTTP_IDLE_TIMEOUT).
	HTTPIdleTimeout time.Duration
}

// DefaultHTTPTimeouts returns the defaults.
func DefaultHTTPTimeouts() HTTPTimeouts {
	return HTTPTimeouts{
		HTTPHeaderTimeout: DefaultHTTPHeaderTimeout,
		HTTPBodyTimeout:   DefaultHTTPBodyTimeout,
		HTTPIdleTimeout:   DefaultHTTPIdleTimeout,
	}
}

func (c *Config) registerHTTP(fs *flag.FlagSet) {
	fs.DurationVar(&c.HTTPHeaderTimeout, "http-header-timeout", c.HTTPHeaderTimeout, "how long an HTTP client may take to send a request's headers and its TLS handshake (then the connection is closed)")
	fs.DurationVar(&c.HTTPBodyTimeout, "http-body-timeout", c.HTTPBodyTimeout, "how long an HTTP client may take to send a request's body once its headers arrived (then 408 and the connection is closed)")
	fs.DurationVar(&c.HTTPIdleTimeout, "http-idle-timeout", c.HTTPIdleTimeout, "how long a kept-alive HTTP connection may wait for its next request")
}

func (c Config) checkHTTP(bad func(string, ...any)) {
	for _, t := range []struct {
		flag string
		d    time.Duration
	}{
		{"--http-header-timeout", c.HTTPHeaderTimeout},
		{"--http-body-timeout", c.HTTPBodyTimeout},
		{"--http-idle-timeout", c.HTTPIdleTimeout},
	} {
		if t.d <= 0 || t.d > time.Hour {
			bad("%s %s: must be above 0 and at most 1h", t.flag, t.d)
		}
	}
}
