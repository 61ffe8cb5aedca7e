package receiver

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"regexp"
	"slices"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// The defaults and bounds of a stream's settings.
const (
	// DefaultPollInterval is how often a poll stream asks for events.
	DefaultPollInterval = 10 * time.Second
	// MinPollInterval bounds poll_interval from below.
	MinPollInterval = time.Second
	// DefaultRetention is how long an applied event's effect is kept.
	DefaultRetention = 30 * 24 * time.Hour
	// MaxRetention bounds retention.
	MaxRetention = 400 * 24 * time.Hour
	// DefaultReplayWindow is how long an applied jti is remembered; a SET
	// issued longer ago is refused, so no replay can outlive the window.
	DefaultReplayWindow = 7 * 24 * time.Hour
	// DefaultClockSkew is how far in the future a SET's iat may be.
	DefaultClockSkew = time.Minute
	// MaxConfigBytes bounds the stream file.
	MaxConfigBytes = 1 << 20
)

// Stream is one entry of the --ssf-config file: a transmitter, the tenant
// its events apply to, how they arrive and how they are verified.
type Stream struct {
	// Name identifies the stream in paths (/ssf/streams/NAME/events),
	// transmitter keys, metrics and the audit trail.
	Name string `yaml:"name"`
	// Tenant is the PDP tenant the events apply to.
	Tenant string `yaml:"tenant"`
	// Issuer must equal the SETs' iss.
	Issuer string `yaml:"issuer"`
	// Audience must be one of the SETs' aud values.
	Audience string `yaml:"audience"`
	// JWKSURI is the transmitter's key set, fetched and cached, fetched
	// again on an unknown kid (at most once per MinKeyRefresh).
	JWKSURI string `yaml:"jwks_uri,omitempty"`
	// JWKSFile is a key set file, read again when the config is.
	JWKSFile string `yaml:"jwks_file,omitempty"`
	// Delivery is "push" (RFC 8935) or "poll" (RFC 8936).
	Delivery string `yaml:"delivery"`
	// PollURL is the transmitter's poll endpoint.
	PollURL string `yaml:"poll_url,omitempty"`
	// PollInterval is how long a poll stream waits after an empty poll.
	PollInterval time.Duration `yaml:"poll_interval,omitempty"`
	// PollTokenFile holds the bearer token the poll endpoint asks for.
	PollTokenFile string `yaml:"poll_token_file,omitempty"`
	// Events are the event-type URIs accepted; empty accepts every type
	// the server knows.
	Events []string `yaml:"events,omitempty"`
	// Retention is how long an effect is kept after its event.
	Retention time.Duration `yaml:"retention,omitempty"`
	// ReplayWindow is how long a jti is remembered.
	ReplayWindow time.Duration `yaml:"replay_window,omitempty"`
	// ClockSkew is how far in the future iat may be.
	ClockSkew time.Duration `yaml:"clock_skew,omitempty"`
}

var streamName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ParseConfig decodes and checks a stream file, a YAML list of streams,
// filling in defaults. Every problem is reported, naming the stream.
func ParseConfig(data []byte) ([]Stream, error) {
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("stream file is larger than %d bytes", MaxConfigBytes)
	}
	var list []Stream
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&list); err != nil {
			return nil, fmt.Errorf("stream file: %w", err)
		}
	}
	var errs []error
	names := map[string]bool{}
	for i := range list {
		s := &list[i]
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("stream %d (%q): %s", i+1, s.Name, fmt.Sprintf(format, args...)))
		}
		switch {
		case !streamName.MatchString(s.Name):
			bad("name must be 1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit")
		case names[s.Name]:
			bad("name is used by an earlier stream")
		}
		names[s.Name] = true
		if s.Tenant == "" {
			bad("tenant is required")
		}
		if s.Issuer == "" {
			bad("issuer is required")
		}
		if s.Audience == "" {
			bad("audience is required")
		}
		switch {
		case (s.JWKSURI == "") == (s.JWKSFile == ""):
			bad("exactly one of jwks_uri and jwks_file is required")
		case s.JWKSURI != "":
			if u, err := url.Parse(s.JWKSURI); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad("jwks_uri %q is not an http(s) URL", s.JWKSURI)
			}
		}
		switch s.Delivery {
		case "push":
			if s.PollURL != "" || s.PollInterval != 0 || s.PollTokenFile != "" {
				bad("poll_url, poll_interval and poll_token_file apply to delivery: poll only")
			}
		case "poll":
			if u, err := url.Parse(s.PollURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				bad("poll_url %q is not an http(s) URL", s.PollURL)
			}
			if s.PollInterval == 0 {
				s.PollInterval = DefaultPollInterval
			}
			if s.PollInterval < MinPollInterval {
				bad("poll_interval %s is shorter than %s", s.PollInterval, MinPollInterval)
			}
		default:
			bad("delivery %q: must be push or poll", s.Delivery)
		}
		for _, e := range s.Events {
			if _, ok := eventTypes[e]; !ok {
				bad("events: %q is not an event type the server knows", e)
			}
		}
		if s.Retention == 0 {
			s.Retention = DefaultRetention
		}
		if s.Retention < 0 || s.Retention > MaxRetention {
			bad("retention %s is outside 0..%s", s.Retention, MaxRetention)
		}
		if s.ReplayWindow == 0 {
			s.ReplayWindow = DefaultReplayWindow
		}
		if s.ReplayWindow < time.Minute || s.ReplayWindow > MaxRetention {
			bad("replay_window %s is outside 1m..%s", s.ReplayWindow, MaxRetention)
		}
		if s.ClockSkew == 0 {
			s.ClockSkew = DefaultClockSkew
		}
		if s.ClockSkew < 0 || s.ClockSkew > 10*time.Minute {
			bad("clock_skew %s is outside 0..10m", s.ClockSkew)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return list, nil
}

// accepts reports whether the stream takes events of type uri.
func (s *Stream) accepts(uri string) bool {
	return len(s.Events) == 0 || slices.Contains(s.Events, uri)
}

// readConfig reads and parses the stream file at path.
func readConfig(path string) ([]Stream, error) {
	data, err := readLimited(path, MaxConfigBytes)
	if err != nil {
		return nil, err
	}
	list, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return list, nil
}

// readLimited reads a file of at most limit bytes.
func readLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var b bytes.Buffer
	if _, err := b.ReadFrom(io.LimitReader(f, limit+1)); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	if int64(b.Len()) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b.Bytes(), nil
}
