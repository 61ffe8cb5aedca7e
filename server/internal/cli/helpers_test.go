package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// result is what one in-process run of the pdp command printed.
type result struct {
	code           int
	stdout, stderr string
}

// runPDP runs `pdp args...` in-process with the given environment
// variables (nil for none).
func runPDP(t *testing.T, vars map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := Main(context.Background(), args, Env{
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string { return vars[k] },
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// writeFiles creates files (relative path to content) under a new
// temporary directory and returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
