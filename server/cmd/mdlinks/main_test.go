package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckFindsBrokenFilesAndAnchorsOnly(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("docs/guide.md", "# Guide\n\n## Audit log, and checkpoints\n\n## Setup\n\n## Setup\n")
	write("README.md", strings.Join([]string{
		"[ok](docs/guide.md) [ok](docs/guide.md#audit-log-and-checkpoints) [ok](docs/guide.md#setup-1)",
		"[ok](#readme) [ok](https://example.org/x) [ok](docs/)",
		"[missing](docs/nope.md) [bad anchor](docs/guide.md#nope)",
		"`[in code](nope.md)`",
		"```",
		"[in a fence](nope.md)",
		"```",
		"# Readme",
	}, "\n"))
	problems, err := check(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 2 || !strings.Contains(problems[0], "docs/nope.md: no such file") ||
		!strings.Contains(problems[1], "docs/guide.md#nope: no heading") {
		t.Fatalf("problems = %q, want the missing file and the bad anchor", problems)
	}
}

func TestAnchorsKeepTheTextOfInlineCodeAsGitHubDoes(t *testing.T) {
	dir := t.TempDir()
	text := "## Running `pdp serve`\n\n[ok](#running-pdp-serve) [bad](#running-)\n"
	if err := os.WriteFile(filepath.Join(dir, "a.md"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	problems, err := check(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "#running-: no heading") {
		t.Fatalf("problems = %q, want only #running- refused", problems)
	}
}

func TestTheRepositoryLinksResolve(t *testing.T) {
	problems, err := check("../../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(problems) > 0 {
		t.Fatalf("broken links:\n%s", strings.Join(problems, "\n"))
	}
}
