package config

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Defaults of the security settings.
const (
	// DefaultDecisionLogMode drops lines rather than slowing decisions.
	DefaultDecisionLogMode = "drop"
	// DefaultDecisionLogBuffer is the decision log's queue length.
	DefaultDecisionLogBuffer = 4096
	// DefaultDecisionLogMaxSizeMB rotates a decision log file at 100 MB.
	DefaultDecisionLogMaxSizeMB = 100
	// DefaultDecisionLogMaxBackups keeps ten rotated files.
	DefaultDecisionLogMaxBackups = 10
)

// Security is the authentication, TLS and decision-log part of Config.
type Security struct {
	// APIKeysFile is a YAML list of {name, key_sha256, role, tenants}
	// (pdp keygen prints entries); with it every call but health needs a
	// key. Reloaded when it changes; a bad file keeps the previous keys
	// (--api-keys, PDP_API_KEYS).
	APIKeysFile string
	// InsecureNoAuth lets a server without API keys listen beyond
	// loopback, where anyone who reaches a port may call everything
	// (--insecure-no-auth, PDP_INSECURE_NO_AUTH).
	InsecureNoAuth bool
	// MetricsPublic serves /metrics without a key when API keys are on;
	// false asks for any valid key (--metrics-public, PDP_METRICS_PUBLIC;
	// default true, since the metrics carry no tenant or user data and
	// scrapers rarely hold keys).
	MetricsPublic bool
	// Console serves the security-policy console at /console/ on the HTTP
	// port; its calls need the keys the admin API needs (--console,
	// PDP_CONSOLE; default true).
	Console bool
	// TLSCert is the PEM certificate chain both ports serve; reloaded when
	// it changes (--tls-cert, PDP_TLS_CERT).
	TLSCert string
	// TLSKey is the PEM private key of TLSCert (--tls-key, PDP_TLS_KEY).
	TLSKey string
	// ClientCA is a PEM bundle of the CAs that sign client certificates;
	// with it every client must present one (mutual TLS) on both ports,
	// and its identity reaches policy as input.caller (--client-ca,
	// PDP_CLIENT_CA).
	ClientCA string
	// DecisionLog is where one JSON line per decision goes: "stdout", a
	// file path (rotated), or empty for no decision log (--decision-log,
	// PDP_DECISION_LOG).
	DecisionLog string
	// DecisionLogMask lists fields to mask, "PATH[=MODE]" with MODE hash
	// (default), redact or truncate, comma-separated or repeated
	// (--decision-log-mask, PDP_DECISION_LOG_MASK), such as
	// "subject.email,network.ip=truncate".
	DecisionLogMask []string
	// DecisionLogInputs records in each line the input document the
	// policy evaluated (the request after signal enrichment), masked like
	// the line, so that pdp replay and pdp explain can decide it again
	// (--decision-log-inputs, PDP_DECISION_LOG_INPUTS).
	DecisionLogInputs bool
	// DecisionLogMode is "drop" (a line that finds the queue full or
	// whose write fails is lost and counted in
	// pdp_decision_log_dropped_total) or "block" (a decision waits for its
	// line to be written; when it cannot be, the call fails with
	// UNAVAILABLE) (--decision-log-mode, PDP_DECISION_LOG_MODE).
	DecisionLogMode string
	// DecisionLogBuffer is the queue length between decisions and the
	// writer (--decision-log-buffer, PDP_DECISION_LOG_BUFFER).
	DecisionLogBuffer int
	// DecisionLogMaxSizeMB rotates a decision log file when it reaches
	// this size (--decision-log-max-size-mb, PDP_DECISION_LOG_MAX_SIZE_MB).
	DecisionLogMaxSizeMB int
	// DecisionLogMaxBackups is how many rotated files are kept; 0 keeps
	// all (--decision-log-max-backups, PDP_DECISION_LOG_MAX_BACKUPS).
	DecisionLogMaxBackups int
	// DecisionLogMaxAgeDays removes rotated files older than this many
	// days; 0 keeps them (--decision-log-max-age-days,
	// PDP_DECISION_LOG_MAX_AGE_DAYS).
	DecisionLogMaxAgeDays int
}

// DefaultSecurity is the security part of Default.
func DefaultSecurity() Security {
	return Security{
		MetricsPublic:         true,
		Console:               true,
		DecisionLogMode:       DefaultDecisionLogMode,
		DecisionLogBuffer:     DefaultDecisionLogBuffer,
		DecisionLogMaxSizeMB:  DefaultDecisionLogMaxSizeMB,
		DecisionLogMaxBackups: DefaultDecisionLogMaxBackups,
	}
}

// TLSEnabled reports whether the ports serve TLS.
func (s Security) TLSEnabled() bool { return s.TLSCert != "" }

// registerSecurity adds the security flags to fs.
func (s *Security) registerSecurity(fs *flag.FlagSet) {
	fs.StringVar(&s.APIKeysFile, "api-keys", s.APIKeysFile, "YAML file of API keys {name, key_sha256, role, tenants}, watched; every call but health then needs one")
	fs.BoolVar(&s.InsecureNoAuth, "insecure-no-auth", s.InsecureNoAuth, "allow listening beyond loopback without API keys (anyone reaching a port may call everything)")
	fs.BoolVar(&s.MetricsPublic, "metrics-public", s.MetricsPublic, "serve /metrics without an API key when keys are on")
	fs.BoolVar(&s.Console, "console", s.Console, "serve the security-policy console at /console/ on the HTTP port (docs/console.md)")
	fs.StringVar(&s.TLSCert, "tls-cert", s.TLSCert, "PEM certificate chain served on both ports (reloaded when it changes)")
	fs.StringVar(&s.TLSKey, "tls-key", s.TLSKey, "PEM private key of --tls-cert")
	fs.StringVar(&s.ClientCA, "client-ca", s.ClientCA, "PEM CA bundle; clients must present a certificate it signs (mutual TLS; reloaded when it changes)")
	fs.StringVar(&s.DecisionLog, "decision-log", s.DecisionLog, `one JSON line per decision to "stdout" or a file path (rotated)`)
	fs.Var((*listFlag)(&s.DecisionLogMask), "decision-log-mask", "fields to mask in the decision log, PATH[=hash|redact|truncate], comma-separated or repeated")
	fs.BoolVar(&s.DecisionLogInputs, "decision-log-inputs", s.DecisionLogInputs, "record in each decision log line the input the policy evaluated, masked like the line, for pdp replay and pdp explain")
	fs.StringVar(&s.DecisionLogMode, "decision-log-mode", s.DecisionLogMode, `"drop" (lines that cannot be queued or written are dropped and counted) or "block" (a decision waits for its line to be written, and fails with UNAVAILABLE when it cannot be)`)
	fs.IntVar(&s.DecisionLogBuffer, "decision-log-buffer", s.DecisionLogBuffer, "decision log queue length")
	fs.IntVar(&s.DecisionLogMaxSizeMB, "decision-log-max-size-mb", s.DecisionLogMaxSizeMB, "rotate the decision log file at this size in MB")
	fs.IntVar(&s.DecisionLogMaxBackups, "decision-log-max-backups", s.DecisionLogMaxBackups, "rotated decision log files kept (0: all)")
	fs.IntVar(&s.DecisionLogMaxAgeDays, "decision-log-max-age-days", s.DecisionLogMaxAgeDays, "remove rotated decision log files older than this (0: never)")
}

// checkSecurity reports the problems of the security settings through
// bad, given the listen addresses.
func (s Security) checkSecurity(grpcAddr, httpAddr string, bad func(format string, args ...any)) {
	checkFile := func(flagName, path string) {
		if st, err := os.Stat(path); err != nil {
			bad("--%s %s: %v", flagName, path, err)
		} else if !st.Mode().IsRegular() {
			bad("--%s %s: not a regular file", flagName, path)
		}
	}
	if s.APIKeysFile != "" {
		checkFile("api-keys", s.APIKeysFile)
		if s.InsecureNoAuth {
			bad("--insecure-no-auth and --api-keys exclude each other: with keys, every call is authenticated")
		}
	}
	if s.APIKeysFile == "" && !s.InsecureNoAuth {
		for _, a := range []struct{ flag, addr string }{{"grpc-addr", grpcAddr}, {"http-addr", httpAddr}} {
			if a.addr != "" && !isLoopback(a.addr) {
				bad("--%s %s: without --api-keys the server listens on loopback only (127.0.0.0/8, ::1, localhost), "+
					"since anyone reaching the port could ask for decisions and change policy; "+
					"give --api-keys FILE (create keys with pdp keygen), or start with --insecure-no-auth to accept that risk", a.flag, a.addr)
			}
		}
	}
	switch {
	case s.TLSCert != "" && s.TLSKey == "":
		bad("--tls-cert needs --tls-key")
	case s.TLSKey != "" && s.TLSCert == "":
		bad("--tls-key needs --tls-cert")
	}
	if s.TLSCert != "" {
		checkFile("tls-cert", s.TLSCert)
	}
	if s.TLSKey != "" {
		checkFile("tls-key", s.TLSKey)
	}
	if s.ClientCA != "" {
		checkFile("client-ca", s.ClientCA)
		if s.TLSCert == "" {
			bad("--client-ca needs --tls-cert and --tls-key: mutual TLS is TLS")
		}
	}
	s.checkDecisionLog(bad)
}

// checkDecisionLog reports the problems of the decision log settings.
func (s Security) checkDecisionLog(bad func(format string, args ...any)) {
	if s.DecisionLog != "" && s.DecisionLog != DecisionLogStdout {
		if st, err := os.Stat(s.DecisionLog); err == nil && st.IsDir() {
			bad("--decision-log %s: is a directory; give a file path", s.DecisionLog)
		}
		if st, err := os.Stat(filepath.Dir(s.DecisionLog)); err != nil || !st.IsDir() {
			bad("--decision-log %s: directory %s does not exist", s.DecisionLog, filepath.Dir(s.DecisionLog))
		}
	}
	if _, err := ParseDecisionLogMasks(s.DecisionLogMask); err != nil {
		bad("--decision-log-mask: %v", err)
	}
	switch s.DecisionLogMode {
	case DecisionLogDrop, DecisionLogBlock:
	default:
		bad("--decision-log-mode %q: must be drop or block", s.DecisionLogMode)
	}
	if s.DecisionLogBuffer < 1 || s.DecisionLogBuffer > 1<<20 {
		bad("--decision-log-buffer %d: must be between 1 and 1048576", s.DecisionLogBuffer)
	}
	if s.DecisionLogMaxSizeMB < 1 {
		bad("--decision-log-max-size-mb %d: must be at least 1", s.DecisionLogMaxSizeMB)
	}
	if s.DecisionLogMaxBackups < 0 {
		bad("--decision-log-max-backups %d: must not be negative", s.DecisionLogMaxBackups)
	}
	if s.DecisionLogMaxAgeDays < 0 {
		bad("--decision-log-max-age-days %d: must not be negative", s.DecisionLogMaxAgeDays)
	}
}

// ClearTextListeners are the ports ("--grpc-addr ADDR", "--http-addr
// ADDR") that listen beyond loopback without TLS: API keys sent to them
// cross the network in clear text, unless something in front adds TLS.
func (c Config) ClearTextListeners() []string {
	if c.TLSEnabled() {
		return nil
	}
	var out []string
	for _, a := range []struct{ flag, addr string }{{"grpc-addr", c.GRPCAddr}, {"http-addr", c.HTTPAddr}} {
		if a.addr != "" && !isLoopback(a.addr) {
			out = append(out, "--"+a.flag+" "+a.addr)
		}
	}
	return out
}

// isLoopback reports whether addr listens on loopback only: localhost or
// an address in 127.0.0.0/8 or ::1. An empty host listens everywhere.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// listFlag is a repeatable flag of comma-separated values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			*l = append(*l, item)
		}
	}
	if len(*l) == 0 {
		return fmt.Errorf("empty value")
	}
	return nil
}
