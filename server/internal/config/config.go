// Package config is the typed configuration of `pdp serve`: named defaults,
// flags with PDP_* environment fallbacks, and one Validate that reports
// every problem at once. There are no globals: the value is passed down.
package config

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"
)

// Defaults of the serve command.
const (
	DefaultGRPCAddr        = "127.0.0.1:9191"
	DefaultHTTPAddr        = "127.0.0.1:8181"
	DefaultStore           = "bolt:./data/pdp.db"
	DefaultMaxRequestBytes = 4 << 20
	DefaultCheckTimeout    = 2 * time.Second
	DefaultShutdownTimeout = 15 * time.Second
	DefaultReloadDebounce  = 250 * time.Millisecond
	DefaultLogLevel        = "info"
	DefaultLogFormat       = "json"
)

// Config is the configuration of `pdp serve`.
type Config struct {
	// GRPCAddr is the gRPC listen address (flag --grpc-addr, PDP_GRPC_ADDR).
	GRPCAddr string
	// HTTPAddr is the HTTP listen address (--http-addr, PDP_HTTP_ADDR).
	HTTPAddr string
	// PolicyDirs are directories of authors' Rego modules, loaded on top of
	// the built-in library and watched for changes (--policy-dir, repeatable;
	// PDP_POLICY_DIR, comma-separated).
	PolicyDirs []string
	// TenantsDir is a directory of tenant policy files, one YAML or JSON file
	// per tenant, watched for changes (--tenants, PDP_TENANTS).
	TenantsDir string
	// SSFConfig is a YAML file of OpenID Shared Signals streams (CAEP,
	// RISC) whose events change decisions, watched for changes
	// (--ssf-config, PDP_SSF_CONFIG; docs/continuous-evaluation.md).
	SSFConfig string
	// Store selects where state lives (--store, PDP_STORE): "bolt:PATH"
	// (the default, one embedded file whose directory is created),
	// "memory:", or "redis://HOST:PORT/DB" / "rediss://..."; see ParseStore.
	Store string
	// MaxRequestBytes caps the size of one gRPC message or HTTP body
	// (--max-request-bytes, PDP_MAX_REQUEST_BYTES).
	MaxRequestBytes int
	// CheckTimeout bounds one decision when the caller sets no earlier
	// deadline (--check-timeout, PDP_CHECK_TIMEOUT).
	CheckTimeout time.Duration
	// ShutdownTimeout bounds the graceful drain of in-flight calls on
	// SIGINT/SIGTERM (--shutdown-timeout, PDP_SHUTDOWN_TIMEOUT).
	ShutdownTimeout time.Duration
	// ReloadDebounce is how long file changes must settle before a reload
	// (--reload-debounce, PDP_RELOAD_DEBOUNCE).
	ReloadDebounce time.Duration
	// LogLevel is debug, info, warn or error (--log-level, PDP_LOG_LEVEL).
	LogLevel string
	// LogFormat is json or text (--log-format, PDP_LOG_FORMAT).
	LogFormat string
	// OTLPEndpoint is the host:port of an OTLP/gRPC trace collector; empty
	// exports no spans (--otlp-endpoint, PDP_OTLP_ENDPOINT).
	OTLPEndpoint string
	// OTLPInsecure sends spans to OTLPEndpoint without TLS
	// (--otlp-insecure, PDP_OTLP_INSECURE).
	OTLPInsecure bool
	// TraceSampleRatio is the fraction of requests without a sampled caller
	// that are traced, 0..1 (--trace-sample-ratio, PDP_TRACE_SAMPLE_RATIO).
	TraceSampleRatio float64
	// Geo holds the GeoIP settings (geo.go).
	Geo
	// Incident holds the incident-response settings (incident.go).
	Incident
	// Gateway configures Envoy ext_authz and /v1/forward-auth (gateway.go).
	Gateway Gateway
	// Security holds the API key, TLS and decision log settings
	// (security.go).
	Security
	// Debug holds diagnostics that are off by default (debug.go).
	Debug
	// Runtime holds garbage collection and evaluation concurrency
	// (runtime.go).
	Runtime
	// HTTPTimeouts bound slow HTTP clients (http.go).
	HTTPTimeouts
	// Audit holds the audit checkpoint settings (audit.go).
	Audit
	// AuthZEN configures the AuthZEN API (authzen.go).
	AuthZEN
	// Shadow configures shadow evaluation (shadow.go).
	Shadow
}

// Default returns the configuration `pdp serve` starts from.
func Default() Config {
	return Config{
		GRPCAddr:        DefaultGRPCAddr,
		HTTPAddr:        DefaultHTTPAddr,
		Store:           DefaultStore,
		MaxRequestBytes: DefaultMaxRequestBytes,
		CheckTimeout:    DefaultCheckTimeout,
		ShutdownTimeout: DefaultShutdownTimeout,
		ReloadDebounce:  DefaultReloadDebounce,
		LogLevel:        DefaultLogLevel,
		LogFormat:       DefaultLogFormat,
		Gateway:         DefaultGateway(),
		Security:        DefaultSecurity(),
		Runtime: Runtime{GCHeadroomMB: DefaultGCHeadroomMB,
			Specialise: true, SpecialiseAtLoad: DefaultSpecialiseAtLoad, SpecialiseBudget: DefaultSpecialiseBudget, SpecialisedLimit: DefaultSpecialisedLimit,
			PolicyHistory: DefaultPolicyHistory},
		Shadow:       Shadow{ShadowSample: DefaultShadowSample},
		HTTPTimeouts: DefaultHTTPTimeouts(),
		Audit:        Audit{AuditCheckpointInterval: DefaultAuditCheckpointInterval},
	}
}

// Parse reads flags from args, falling back to PDP_* variables looked up
// through getenv for flags not given, then validates the result. The flag
// set's usage goes to usage (nil: standard error).
func Parse(args []string, getenv func(string) string, fs *flag.FlagSet) (Config, error) {
	c := Default()
	var policyDirs stringList
	for _, a := range c.flagAreas(&policyDirs) {
		a.register(fs)
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var envErrs []error
	fs.VisitAll(func(f *flag.Flag) {
		if set[f.Name] || getenv == nil {
			return
		}
		name := EnvName(f.Name)
		v := getenv(name)
		if v == "" {
			return
		}
		if f.Name == "policy-dir" {
			for _, d := range strings.Split(v, ",") {
				if d = strings.TrimSpace(d); d != "" {
					policyDirs = append(policyDirs, d)
				}
			}
			return
		}
		if err := f.Value.Set(v); err != nil {
			envErrs = append(envErrs, fmt.Errorf("%s: %w", name, err))
		}
	})
	c.PolicyDirs = policyDirs
	if err := errors.Join(envErrs...); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// flagArea is one area of the serve flags: the flags one file of this
// package registers, documented together (flagdoc.go).
type flagArea struct {
	name     string
	register func(*flag.FlagSet)
}

// flagAreas lists the serve flags by area, in the order Parse registers
// them, so that the flag tables in docs/ are generated from the same list.
func (c *Config) flagAreas(policyDirs *stringList) []flagArea {
	return []flagArea{
		{"core", func(fs *flag.FlagSet) { c.registerCore(fs, policyDirs) }},
		{"geo", c.registerGeo},
		{"incident", c.registerIncident},
		{"gateway", c.Gateway.RegisterFlags},
		{"security", c.registerSecurity},
		{"debug", c.registerDebug},
		{"runtime", c.registerRuntime},
		{"http", c.registerHTTP},
		{"audit", c.registerAudit},
		{"authzen", c.registerAuthZEN},
		{"shadow", c.registerShadow},
	}
}

// registerCore registers the listeners, sources, store, deadlines, logs and
// traces.
func (c *Config) registerCore(fs *flag.FlagSet, policyDirs *stringList) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", c.GRPCAddr, "gRPC listen address")
	fs.StringVar(&c.HTTPAddr, "http-addr", c.HTTPAddr, "HTTP listen address")
	fs.Var(policyDirs, "policy-dir", "directory of Rego modules added to the built-in library, watched (repeatable; PDP_POLICY_DIR is comma-separated)")
	fs.StringVar(&c.TenantsDir, "tenants", c.TenantsDir, "directory of tenant policy files, one YAML or JSON file per tenant, watched")
	fs.StringVar(&c.SSFConfig, "ssf-config", c.SSFConfig, "YAML file of Shared Signals (CAEP/RISC) streams whose events change decisions, watched")
	fs.StringVar(&c.Store, "store", c.Store, storeHelp)
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", c.MaxRequestBytes, "largest gRPC message or HTTP body in bytes")
	fs.DurationVar(&c.CheckTimeout, "check-timeout", c.CheckTimeout, "deadline of one decision when the caller sets no earlier one")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long SIGINT/SIGTERM waits for in-flight calls")
	fs.DurationVar(&c.ReloadDebounce, "reload-debounce", c.ReloadDebounce, "how long file changes settle before a reload")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "json or text")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", c.OTLPEndpoint, "host:port of an OTLP/gRPC trace collector (empty: no export)")
	fs.BoolVar(&c.OTLPInsecure, "otlp-insecure", c.OTLPInsecure, "send traces to the collector without TLS")
	fs.Float64Var(&c.TraceSampleRatio, "trace-sample-ratio", c.TraceSampleRatio, "fraction of requests traced when the caller did not sample, 0..1")
}

// EnvName is the environment variable of a flag: PDP_ and the flag name in
// capitals with '-' as '_'.
func EnvName(flagName string) string {
	return "PDP_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// Validate reports every problem of c at once.
func (c Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := checkAddr(c.GRPCAddr); err != nil {
		bad("--grpc-addr: %v", err)
	}
	if err := checkAddr(c.HTTPAddr); err != nil {
		bad("--http-addr: %v", err)
	}
	if c.GRPCAddr != "" && c.GRPCAddr == c.HTTPAddr && !strings.HasSuffix(c.GRPCAddr, ":0") {
		bad("--grpc-addr and --http-addr must differ (both %s)", c.GRPCAddr)
	}
	for _, d := range c.PolicyDirs {
		if err := checkDir(d); err != nil {
			bad("--policy-dir %s: %v", d, err)
		}
	}
	if c.TenantsDir != "" {
		if err := checkDir(c.TenantsDir); err != nil {
			bad("--tenants %s: %v", c.TenantsDir, err)
		}
	}
	if c.SSFConfig != "" {
		if st, err := os.Stat(c.SSFConfig); err != nil {
			bad("--ssf-config %s: %v", c.SSFConfig, err)
		} else if !st.Mode().IsRegular() {
			bad("--ssf-config %s: not a regular file", c.SSFConfig)
		}
	}
	if _, err := ParseStore(c.Store); err != nil {
		bad("--store %q: %v", storeForErrors(c.Store), err)
	}
	if c.MaxRequestBytes < 1024 || c.MaxRequestBytes > 64<<20 {
		bad("--max-request-bytes %d: must be between 1024 and 67108864", c.MaxRequestBytes)
	}
	if c.CheckTimeout <= 0 || c.CheckTimeout > time.Minute {
		bad("--check-timeout %s: must be above 0 and at most 1m", c.CheckTimeout)
	}
	if c.ShutdownTimeout <= 0 {
		bad("--shutdown-timeout %s: must be above 0", c.ShutdownTimeout)
	}
	if c.ReloadDebounce < 0 || c.ReloadDebounce > 10*time.Second {
		bad("--reload-debounce %s: must be between 0 and 10s", c.ReloadDebounce)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("--log-level %q: must be debug, info, warn or error", c.LogLevel)
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		bad("--log-format %q: must be json or text", c.LogFormat)
	}
	if c.TraceSampleRatio < 0 || c.TraceSampleRatio > 1 {
		bad("--trace-sample-ratio %g: must be between 0 and 1", c.TraceSampleRatio)
	}
	if c.OTLPEndpoint != "" {
		if _, _, err := net.SplitHostPort(c.OTLPEndpoint); err != nil {
			bad("--otlp-endpoint %q: %v", c.OTLPEndpoint, err)
		}
	}
	c.checkGeo(bad)
	c.checkIncident(bad)
	if err := c.Gateway.Validate(); err != nil {
		errs = append(errs, err)
	}
	c.checkSecurity(c.GRPCAddr, c.HTTPAddr, bad)
	c.checkDebug(bad)
	c.checkRuntime(bad)
	c.checkHTTP(bad)
	c.checkAuthZEN(bad)
	c.checkAudit(bad)
	c.checkShadow(bad)
	return errors.Join(errs...)
}

func checkAddr(addr string) error {
	if addr == "" {
		return errors.New("required")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if port == "" {
		return errors.New("missing port")
	}
	if host != "" && host != "localhost" {
		if _, err := netip.ParseAddr(host); err != nil {
			return fmt.Errorf("host %q is not an IP address or localhost", host)
		}
	}
	return nil
}

func checkDir(d string) error {
	st, err := os.Stat(d)
	if err != nil {
		return err
	}
	if !st.IsDir() {
		return errors.New("not a directory")
	}
	return nil
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*s = append(*s, v)
	return nil
}
