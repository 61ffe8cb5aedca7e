package config

import (
	"flag"
	"net/url"
	"os"
	"time"
)

// DefaultNotifyTimeout bounds one attempt to deliver an incident
// notification when --notify-timeout is not given.
const DefaultNotifyTimeout = 5 * time.Second

// Incident is the incident-response part of Config.
type Incident struct {
	// NotifyURL is the http or https URL incident notifications are POSTed
	// to as JSON; empty sends none, leaving the structured log line
	// "incident" as the record (--notify-url, PDP_NOTIFY_URL).
	NotifyURL string
	// NotifySecretFile is a file holding the secret that signs each
	// notification with HMAC-SHA256 in the X-PDP-Signature header; empty
	// signs nothing (--notify-secret-file, PDP_NOTIFY_SECRET_FILE).
	NotifySecretFile string
	// NotifyTimeout bounds one delivery attempt; DefaultNotifyTimeout when
	// zero (--notify-timeout, PDP_NOTIFY_TIMEOUT).
	NotifyTimeout time.Duration
}

// registerIncident adds the incident-response flags to fs.
func (in *Incident) registerIncident(fs *flag.FlagSet) {
	fs.StringVar(&in.NotifyURL, "notify-url", in.NotifyURL, "webhook receiving each incident as a JSON POST (http or https)")
	fs.StringVar(&in.NotifySecretFile, "notify-secret-file", in.NotifySecretFile, "file with the secret signing notifications (X-PDP-Signature: sha256=HMAC)")
	fs.DurationVar(&in.NotifyTimeout, "notify-timeout", in.NotifyTimeout, "deadline of one notification attempt (0: 5s)")
}

// EffectiveNotifyTimeout is NotifyTimeout, or DefaultNotifyTimeout when zero.
func (in Incident) EffectiveNotifyTimeout() time.Duration {
	if in.NotifyTimeout == 0 {
		return DefaultNotifyTimeout
	}
	return in.NotifyTimeout
}

// checkIncident reports the problems of the incident settings through bad.
// The secret is never read here, let alone printed.
func (in Incident) checkIncident(bad func(format string, args ...any)) {
	if in.NotifyURL != "" {
		u, err := url.Parse(in.NotifyURL)
		switch {
		case err != nil:
			bad("--notify-url: %v", err)
		case u.Scheme != "http" && u.Scheme != "https":
			bad("--notify-url %q: must be an http or https URL", u.Redacted())
		case u.Host == "":
			bad("--notify-url %q: has no host", u.Redacted())
		case u.User != nil:
			bad("--notify-url %q: credentials in the URL are refused; sign with --notify-secret-file", u.Redacted())
		}
	}
	if in.NotifySecretFile != "" {
		if in.NotifyURL == "" {
			bad("--notify-secret-file needs --notify-url")
		}
		st, err := os.Stat(in.NotifySecretFile)
		switch {
		case err != nil:
			bad("--notify-secret-file: %v", err)
		case !st.Mode().IsRegular():
			bad("--notify-secret-file %s: not a regular file", in.NotifySecretFile)
		case st.Size() == 0:
			bad("--notify-secret-file %s: empty", in.NotifySecretFile)
		}
	}
	if in.NotifyTimeout < 0 || in.NotifyTimeout > time.Minute {
		bad("--notify-timeout %s: must be between 0 and 1m", in.NotifyTimeout)
	}
}
