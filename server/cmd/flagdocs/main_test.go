package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/config"
)

func TestTheDocsFlagTablesMatchTheServeFlags(t *testing.T) {
	stale, err := run(filepath.Join("..", "..", ".."), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(stale) > 0 {
		t.Fatalf("the flag tables in %s differ from the flags server/internal/config registers: run `make docs` (go run ./server/cmd/flagdocs -w .) and commit the result", strings.Join(stale, ", "))
	}
}

// allAreas is a document whose one table lists every area.
func allAreas(body string) string {
	return "# Flags\n\nprose before\n\n<!-- flags:" + strings.Join(config.FlagAreas(), ",") + ":begin -->\n" +
		body + "<!-- flags:end -->\n\nprose after\n"
}

func TestAStaleTableIsReportedThenRewrittenKeepingTheProse(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flags.md")
	if err := os.WriteFile(path, []byte(allAreas("| flag | default |\n|---|---|\n| `--grpc-addr` | `:9191` |\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	stale, err := run(dir, false)
	if err != nil || len(stale) != 1 {
		t.Fatalf("check: stale %v, err %v; want flags.md stale", stale, err)
	}
	if _, err := run(dir, true); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(path)
	table, _ := config.FlagTable(config.FlagAreas()...)
	if want := allAreas("\n" + table + "\n"); string(got) != want {
		t.Fatalf("rewritten:\n%s\nwant:\n%s", got, want)
	}
	if stale, err := run(dir, false); err != nil || len(stale) != 0 {
		t.Fatalf("after rewriting: stale %v, err %v", stale, err)
	}
}

func TestMarkersThatCannotBeFilledAreErrors(t *testing.T) {
	for name, doc := range map[string]string{
		"an area no table lists":   "<!-- flags:core:begin -->\n<!-- flags:end -->\n",
		"a table without its end":  "<!-- flags:" + strings.Join(config.FlagAreas(), ",") + ":begin -->\n",
		"an end without a begin":   "<!-- flags:end -->\n" + allAreas(""),
		"an area twice in a table": allAreas("") + "<!-- flags:core,core:begin -->\n<!-- flags:end -->\n",
		"an unknown area":          allAreas("") + "<!-- flags:tls:begin -->\n<!-- flags:end -->\n",
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "flags.md"), []byte(doc), 0o644); err != nil {
				t.Fatal(err)
			}
			if _, err := run(dir, true); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestAnAreaMayBeListedAgainOnAnotherPage(t *testing.T) {
	dir := t.TempDir()
	for name, doc := range map[string]string{"a.md": allAreas(""), "b.md": "<!-- flags:http:begin -->\n<!-- flags:end -->\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(doc), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := run(dir, true); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "b.md"))
	if !strings.Contains(string(got), "| `--http-idle-timeout` |") {
		t.Fatalf("b.md:\n%s", got)
	}
}
