package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseGeoAndIncidentFlags(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "city.mmdb")
	secret := filepath.Join(dir, "secret")
	for _, f := range []string{db, secret} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c, err := parse(t,
		[]string{"--geoip-db", db, "--notify-url", "https://hooks.test/pdp", "--notify-timeout", "3s"},
		map[string]string{"PDP_NOTIFY_SECRET_FILE": secret, "PDP_NOTIFY_URL": "http://ignored.test"})
	if err != nil {
		t.Fatal(err)
	}
	if c.GeoIPDB != db || c.NotifyURL != "https://hooks.test/pdp" || c.NotifySecretFile != secret || c.NotifyTimeout != 3*time.Second {
		t.Fatalf("got %+v %+v", c.Geo, c.Incident)
	}
	if got := c.EffectiveNotifyTimeout(); got != 3*time.Second {
		t.Errorf("effective timeout %s", got)
	}
	if got := Default().EffectiveNotifyTimeout(); got != DefaultNotifyTimeout {
		t.Errorf("default timeout %s", got)
	}
}

func TestValidateGeoAndIncident(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		set  func(*Config)
		want string
	}{
		{"missing database", func(c *Config) { c.GeoIPDB = filepath.Join(dir, "none.mmdb") }, "--geoip-db"},
		{"database is a directory", func(c *Config) { c.GeoIPDB = dir }, "not a regular file"},
		{"bad scheme", func(c *Config) { c.NotifyURL = "ftp://hooks.test/x" }, "http or https"},
		{"no host", func(c *Config) { c.NotifyURL = "https:///x" }, "no host"},
		{"credentials in the URL", func(c *Config) { c.NotifyURL = "https://u:hunter2@hooks.test/x" }, "credentials"},
		{"secret without URL", func(c *Config) { c.NotifySecretFile = empty }, "needs --notify-url"},
		{"empty secret", func(c *Config) { c.NotifyURL = "https://hooks.test"; c.NotifySecretFile = empty }, "empty"},
		{"missing secret", func(c *Config) { c.NotifyURL = "https://hooks.test"; c.NotifySecretFile = empty + "-x" }, "--notify-secret-file"},
		{"negative timeout", func(c *Config) { c.NotifyTimeout = -time.Second }, "--notify-timeout"},
		{"long timeout", func(c *Config) { c.NotifyTimeout = 2 * time.Minute }, "--notify-timeout"},
	}
	for _, tc := range cases {
		c := Default()
		tc.set(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error mentioning %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
	}
}
