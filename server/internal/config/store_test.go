package config

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStore(t *testing.T) {
	t.Parallel()
	tests := map[string]StoreSpec{
		DefaultStore:                 {Kind: StoreBolt, Path: "./data/pdp.db"},
		"bolt:/var/lib/pdp/state.db": {Kind: StoreBolt, Path: "/var/lib/pdp/state.db"},
		"memory:":                    {Kind: StoreMemory},
		"redis://127.0.0.1:6379/0":   {Kind: StoreRedis, URL: "redis://127.0.0.1:6379/0"},
		"rediss://:pw@cache:6380/2":  {Kind: StoreRedis, URL: "rediss://:pw@cache:6380/2"},
	}
	for v, want := range tests {
		got, err := ParseStore(v)
		if err != nil {
			t.Errorf("ParseStore(%q): %v", v, err)
			continue
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("ParseStore(%q) (-want +got):\n%s", v, d)
		}
	}
}

func TestValidateNamesTheStoreProblem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := map[string]string{
		"bogus:":                          "unknown store",
		"memory":                          "want",
		"memory:x":                        "nothing after",
		"bolt:":                           "needs a file path",
		"bolt:" + dir:                     "is a directory",
		"redis://h:6379/x":                "database number",
		"redis://h:6379/-2":               "database number",
		"redis://h:notaport/0":            "bad URL",
		"rediss://:hunter2@h:6379/0/1":    "path",
		"redis://h:6379/0?prefix={x}":     "prefix",
		"redis://user:hunter2@h:6379/0?x": "unknown parameter",
		"redis://hunter2@h:6379/x":        "database number",
	}
	for v, want := range tests {
		c := Default()
		c.Store = v
		err := c.Validate()
		if err == nil {
			t.Errorf("Validate accepted --store %q", v)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, "--store") || !strings.Contains(msg, want) {
			t.Errorf("--store %q: %v; want an error naming --store and %q", v, err, want)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("--store %q: the error repeats the password: %v", v, err)
		}
	}
	// A bolt file need not exist yet: its directory is created on open.
	c := Default()
	c.Store = "bolt:" + filepath.Join(dir, "new", "pdp.db")
	if err := c.Validate(); err != nil {
		t.Errorf("Validate of a new bolt file: %v", err)
	}
}

func TestParseStoreFromEnvironment(t *testing.T) {
	t.Parallel()
	c, err := parse(t, nil, map[string]string{"PDP_STORE": "memory:"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Store != "memory:" {
		t.Errorf("store %q, want memory: from PDP_STORE", c.Store)
	}
}
