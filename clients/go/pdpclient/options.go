package pdpclient

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/metric"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Defaults of a Client.
const (
	// DefaultTimeout bounds every call, retries included.
	DefaultTimeout = 250 * time.Millisecond
	// DefaultCacheSize is the number of decisions the cache holds.
	DefaultCacheSize = 10000
	// maxRetryAttempts is the most attempts gRPC makes for one call.
	maxRetryAttempts = 5
)

// Option configures a Client.
type Option func(*config)

// RetryPolicy is how Check and BatchCheck are retried when the server
// answers UNAVAILABLE. It becomes the retryPolicy of the gRPC service config.
type RetryPolicy struct {
	// MaxAttempts counts the first attempt; 1 disables retries. At most 5.
	MaxAttempts int
	// InitialBackoff is the upper bound of the first randomised backoff.
	InitialBackoff time.Duration
	// MaxBackoff caps the backoff between attempts.
	MaxBackoff time.Duration
	// BackoffMultiplier grows the backoff after each attempt; at least 1.
	BackoffMultiplier float64
}

// DefaultRetryPolicy is three attempts with a backoff of at most 20ms, then
// at most 100ms, so retries fit within DefaultTimeout.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{
		MaxAttempts:       3,
		InitialBackoff:    20 * time.Millisecond,
		MaxBackoff:        100 * time.Millisecond,
		BackoffMultiplier: 2,
	}
}

type config struct {
	creds       credentials.TransportCredentials
	insecure    bool
	apiKey      string
	hasAPIKey   bool
	timeout     time.Duration
	retry       RetryPolicy
	cacheSize   int
	cacheMaxTTL time.Duration
	failOpen    func(error) bool
	meter       metric.MeterProvider
	dialOptions []grpc.DialOption
	now         func() time.Time
}

func defaultConfig() config {
	return config{
		timeout:   DefaultTimeout,
		retry:     DefaultRetryPolicy(),
		cacheSize: DefaultCacheSize,
		meter:     otel.GetMeterProvider(),
		now:       time.Now,
	}
}

// validate reports every problem of the configuration at once.
func (c *config) validate(target string) error {
	var errs []error
	if strings.TrimSpace(target) == "" {
		errs = append(errs, errors.New("target is empty"))
	}
	if c.insecure && c.creds != nil {
		errs = append(errs, errors.New("WithInsecure and transport credentials are both set"))
	}
	if c.hasAPIKey && (c.apiKey == "" || strings.ContainsAny(c.apiKey, " \t\r\n")) {
		errs = append(errs, errors.New("API key is empty or contains white space"))
	}
	if c.timeout <= 0 {
		errs = append(errs, fmt.Errorf("timeout %v is not positive", c.timeout))
	}
	r := c.retry
	switch {
	case r.MaxAttempts < 1 || r.MaxAttempts > maxRetryAttempts:
		errs = append(errs, fmt.Errorf("retry attempts %d are outside 1..%d", r.MaxAttempts, maxRetryAttempts))
	case r.MaxAttempts > 1:
		if r.InitialBackoff <= 0 || r.MaxBackoff < r.InitialBackoff {
			errs = append(errs, fmt.Errorf("retry backoff %v..%v is not a positive range", r.InitialBackoff, r.MaxBackoff))
		}
		if r.BackoffMultiplier < 1 {
			errs = append(errs, fmt.Errorf("retry backoff multiplier %v is below 1", r.BackoffMultiplier))
		}
	}
	if c.cacheSize < 0 {
		errs = append(errs, fmt.Errorf("cache size %d is negative", c.cacheSize))
	}
	if c.cacheMaxTTL < 0 {
		errs = append(errs, fmt.Errorf("cache max TTL %v is negative", c.cacheMaxTTL))
	}
	if c.meter == nil {
		errs = append(errs, errors.New("meter provider is nil"))
	}
	return errors.Join(errs...)
}

// WithInsecure connects without TLS. Use it for a server on loopback or in
// tests; an API key set with WithAPIKey is then sent in the clear.
func WithInsecure() Option {
	return func(c *config) { c.insecure = true }
}

// WithTLSConfig connects with TLS configured by cfg (server name, roots,
// client certificate for mutual TLS). Without it, or WithInsecure, or
// WithTransportCredentials, the client uses TLS with the system roots.
func WithTLSConfig(cfg *tls.Config) Option {
	return func(c *config) { c.creds = credentials.NewTLS(cfg) }
}

// WithTransportCredentials connects with the given gRPC transport credentials.
func WithTransportCredentials(creds credentials.TransportCredentials) Option {
	return func(c *config) { c.creds = creds }
}

// WithAPIKey sends "authorization: Bearer <key>" as metadata on every call.
// Over TLS only, unless WithInsecure is set.
func WithAPIKey(key string) Option {
	return func(c *config) { c.apiKey, c.hasAPIKey = key, true }
}

// WithTimeout bounds every call, retries included (default DefaultTimeout).
// A context with an earlier deadline shortens it.
func WithTimeout(d time.Duration) Option {
	return func(c *config) { c.timeout = d }
}

// WithRetryPolicy replaces DefaultRetryPolicy. Only UNAVAILABLE is retried.
func WithRetryPolicy(p RetryPolicy) Option {
	return func(c *config) { c.retry = p }
}

// WithoutRetries makes a single attempt per call.
func WithoutRetries() Option {
	return func(c *config) { c.retry = RetryPolicy{MaxAttempts: 1} }
}

// WithCacheSize sets how many decisions the cache holds (default
// DefaultCacheSize); 0 disables the cache and the sharing of identical
// in-flight checks.
func WithCacheSize(n int) Option {
	return func(c *config) { c.cacheSize = n }
}

// WithCacheMaxTTL caps how long a decision is reused, whatever cache_ttl the
// server sent; 0 (the default) means no cap.
func WithCacheMaxTTL(d time.Duration) Option {
	return func(c *config) { c.cacheMaxTTL = d }
}

// WithFailOpen makes Check return a synthetic allow, and a nil error, when
// the server could not decide and shouldFailOpen(err) is true. Each such
// decision is counted. See FailOpenOnUnavailable.
func WithFailOpen(shouldFailOpen func(err error) bool) Option {
	return func(c *config) { c.failOpen = shouldFailOpen }
}

// WithMeterProvider records the client's metrics with mp instead of the
// global OpenTelemetry meter provider.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.meter = mp }
}

// WithDialOptions adds gRPC dial options, for example a stats handler for
// tracing or a custom dialer. They are applied after the client's own.
func WithDialOptions(opts ...grpc.DialOption) Option {
	return func(c *config) { c.dialOptions = append(c.dialOptions, opts...) }
}
