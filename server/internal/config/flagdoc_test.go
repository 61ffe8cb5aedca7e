package config

import (
	"flag"
	"io"
	"strings"
	"testing"
)

func TestTheFlagTablesListEveryFlagParseRegisters(t *testing.T) {
	table, err := FlagTable(FlagAreas()...)
	if err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("pdp serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	_, _ = Parse([]string{"-h"}, nil, fs)
	n := 0
	fs.VisitAll(func(f *flag.Flag) {
		n++
		if !strings.Contains(table, "| `--"+f.Name+"` | `"+EnvName(f.Name)+"` |") {
			t.Errorf("--%s is missing from the flag tables", f.Name)
		}
	})
	if rows := strings.Count(table, "\n| `--"); rows != n {
		t.Errorf("the tables have %d rows, Parse registers %d flags", rows, n)
	}
}

func TestAFlagTableShowsDefaultsAsTheyAreTyped(t *testing.T) {
	table, err := FlagTable("http", "gateway")
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range []string{
		"| `--http-idle-timeout` | `PDP_HTTP_IDLE_TIMEOUT` | `2m` |",
		"| `--jwks-refresh` | `PDP_JWKS_REFRESH` | `15m` |",
		"| `--jwks-file` | `PDP_JWKS_FILE` | none |",
	} {
		if !strings.Contains(table, row) {
			t.Errorf("no row starting %s in\n%s", row, table)
		}
	}
}

func TestAnUnknownFlagAreaIsAnError(t *testing.T) {
	if _, err := FlagTable("core", "tls"); err == nil || !strings.Contains(err.Error(), `"tls"`) {
		t.Fatalf("err = %v, want one naming the area", err)
	}
}
