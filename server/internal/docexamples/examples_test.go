package docexamples_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/docexamples"
	"github.com/pdp-dev/pdp/server/internal/mdfiles"
	"github.com/pdp-dev/pdp/server/pdptest"
)

// The addresses the documents use, those of `make run`.
const (
	docGRPCAddr = "127.0.0.1:9191"
	docHTTPAddr = "127.0.0.1:8181"
)

// pinnedClock is the server's clock while the examples run (a Wednesday,
// within the demo tenants' business hours). An example whose answer
// depends on the time sends one, so that it prints the same on any day.
var pinnedClock = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// TestConsoleExamplesPrintWhatTheDocumentsShow replays every ```console
// block of the repository's Markdown (see docs/development.md, "Examples
// that run"): each document gets a fresh server started like `make run`,
// and its blocks run in order against it, each in one shell.
func TestConsoleExamplesPrintWhatTheDocumentsShow(t *testing.T) {
	root := repoRoot(t)
	docs := consoleDocs(t, root)
	if len(docs) == 0 {
		t.Fatal("no ```console block in the repository's Markdown: the walk is broken")
	}
	args := runTargetArgs(t, root)
	bin, tools := t.TempDir(), t.TempDir()
	goBuild(t, root, filepath.Join(bin, "pdp"), "./server/cmd/pdp")
	goBuild(t, root, filepath.Join(tools, "grpcurl"), "github.com/fullstorydev/grpcurl/cmd/grpcurl")
	// A pdp installed on the developer's PATH may be of another version,
	// and a reader of a fresh clone has none: the documents call ./bin/pdp.
	notOnPath := "#!/bin/sh\necho 'pdp: not on PATH in the docs: call ./bin/pdp' >&2\nexit 127\n"
	if err := os.WriteFile(filepath.Join(tools, "pdp"), []byte(notOnPath), 0o755); err != nil {
		t.Fatal(err)
	}

	for _, d := range docs {
		t.Run(d.path, func(t *testing.T) {
			work := workTree(t, root)
			t.Chdir(work) // the server resolves --tenants and ./data/pdp.db here, as make run does in the clone
			srv := pdptest.StartWithClock(t, pdptest.NewClock(pinnedClock), pdptest.WithConfig(func(c *config.Config) {
				cfg := parseServe(t, args)
				cfg.GRPCAddr, cfg.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0"
				cfg.CheckTimeout = c.CheckTimeout // a loaded CI machine may be slower than production's deadline
				*c = cfg
			}))
			httpAddr := strings.TrimPrefix(srv.HTTPURL, "http://")
			writePDPWrapper(t, filepath.Join(work, "bin", "pdp"), filepath.Join(bin, "pdp"), srv.GRPCAddr)
			toServer := strings.NewReplacer(docGRPCAddr, srv.GRPCAddr, docHTTPAddr, httpAddr)
			toDoc := strings.NewReplacer(srv.GRPCAddr, docGRPCAddr, httpAddr, docHTTPAddr)
			for _, b := range d.blocks {
				outs := runBlock(t, work, tools, b, toServer)
				for i, c := range b.Commands {
					got := outs[i]
					for j := range got {
						got[j] = toDoc.Replace(got[j])
					}
					if !docexamples.Match(c.Want, got) {
						t.Errorf("%s:%d: $ %s\nthe document shows:\n%s\nit prints:\n%s",
							d.path, c.Line, c.Script, indent(c.Want), indent(got))
					}
				}
			}
		})
	}
}

type consoleDoc struct {
	path   string
	blocks []docexamples.Block
}

// consoleDocs parses every Markdown document of the repository and keeps
// those with console blocks.
func consoleDocs(t *testing.T, root string) []consoleDoc {
	t.Helper()
	var docs []consoleDoc
	err := mdfiles.Walk(root, func(path string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		blocks, err := docexamples.Parse(string(b))
		if err != nil {
			return fmt.Errorf("%s: %w", rel, err)
		}
		if len(blocks) > 0 {
			docs = append(docs, consoleDoc{path: filepath.ToSlash(rel), blocks: blocks})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return docs
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "go.mod")); err != nil || !bytes.HasPrefix(b, []byte("module github.com/pdp-dev/pdp\n")) {
		t.Fatalf("%s is not the repository root: %v", root, err)
	}
	return root
}

// runTargetArgs returns the flags the Makefile's run target gives
// `pdp serve`, so that the examples run against what `make run` starts.
func runTargetArgs(t *testing.T, root string) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	// make joins a line ending in a backslash with the next one.
	mk := strings.ReplaceAll(string(b), "\\\n", " ")
	demo := regexp.MustCompile(`(?m)^DEMO_ARGS\s*\?=\s*(.*)$`).FindStringSubmatch(mk)
	recipe := regexp.MustCompile(`(?m)^run:.*\n\t(.*)$`).FindStringSubmatch(mk)
	if demo == nil || recipe == nil {
		t.Fatal("the Makefile has no DEMO_ARGS or no run target")
	}
	line, ok := strings.CutPrefix(recipe[1], "./$(BIN) serve ")
	if !ok {
		t.Fatalf("the run target's recipe %q does not start with ./$(BIN) serve", recipe[1])
	}
	line = strings.ReplaceAll(line, "$(DEMO_ARGS)", demo[1])
	if strings.Contains(line, "$") {
		t.Fatalf("cannot expand the run target's flags %q", line)
	}
	return strings.Fields(line)
}

// parseServe parses args as `pdp serve` does, without reading PDP_*
// variables: the examples must not depend on the environment they run in.
func parseServe(t *testing.T, args []string) config.Config {
	t.Helper()
	fs := flag.NewFlagSet("pdp serve", flag.ContinueOnError)
	fs.SetOutput(new(bytes.Buffer))
	cfg, err := config.Parse(args, func(string) string { return "" }, fs)
	if err != nil {
		t.Fatalf("the run target's flags %q: %v", args, err)
	}
	return cfg
}

func goBuild(t *testing.T, root, out, pkg string) {
	t.Helper()
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// workTree makes a directory that looks like the clone after `make build`:
// the repository's entries (linked) with its own bin/ and no data/. The
// examples run in it.
func workTree(t *testing.T, root string) string {
	t.Helper()
	work := t.TempDir()
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		switch e.Name() {
		case "bin", "data", ".git":
			continue
		}
		if err := os.Symlink(filepath.Join(root, e.Name()), filepath.Join(work, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(work, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	return work
}

// writePDPWrapper makes ./bin/pdp: the built binary, with `pdp check` and
// `pdp report` sent to the test server's port instead of 9191.
func writePDPWrapper(t *testing.T, path, real, grpcAddr string) {
	t.Helper()
	script := fmt.Sprintf(`#!/bin/sh
case "$1" in
check|report) c=$1; shift; exec %q "$c" --addr %q "$@" ;;
esac
exec %q "$@"
`, real, grpcAddr, real)
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
}

// runBlock runs the commands of b in one bash, in dir with tools first on
// PATH, and returns what each printed (standard output and error
// together), line by line.
func runBlock(t *testing.T, dir, tools string, b docexamples.Block, toServer *strings.Replacer) [][]string {
	t.Helper()
	var rb [8]byte
	_, _ = rand.Read(rb[:])
	marker := "docexamples-end-of-command-" + hex.EncodeToString(rb[:])
	var script strings.Builder
	for _, c := range b.Commands {
		script.WriteString(toServer.Replace(c.Script))
		// Keep the command's exit code for a following `echo $?`.
		fmt.Fprintf(&script, "\n__rc=$?; printf '\\n%s\\n'; (exit $__rc)\n", marker)
	}
	file := filepath.Join(t.TempDir(), "block.sh")
	if err := os.WriteFile(file, []byte(script.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "--noprofile", "--norc", file)
	cmd.Dir = dir
	cmd.Env = shellEnv(tools)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 5 * time.Second
	// The shell exits with the last command's code, which the transcript
	// may expect to fail; only a shell that could not run is an error.
	if err := cmd.Run(); err != nil && !errors.As(err, new(*exec.ExitError)) || ctx.Err() != nil {
		t.Fatalf("block at line %d: %v\n%s", b.Line, err, out.String())
	}
	segs := strings.Split(out.String(), "\n"+marker+"\n")
	if len(segs) != len(b.Commands)+1 {
		t.Fatalf("block at line %d: %d of %d commands finished:\n%s", b.Line, len(segs)-1, len(b.Commands), out.String())
	}
	outs := make([][]string, len(b.Commands))
	for i := range b.Commands {
		lines := strings.Split(segs[i], "\n")
		for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
			lines = lines[:len(lines)-1]
		}
		outs[i] = lines
	}
	return outs
}

// shellEnv is the test's environment without PDP_* variables (a key of
// the developer's own would change the answers), with tools (grpcurl as
// pinned in go.mod) first on PATH.
func shellEnv(tools string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PDP_") || strings.HasPrefix(kv, "PATH=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH="+tools+string(os.PathListSeparator)+os.Getenv("PATH"))
}

func indent(lines []string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString("    " + l + "\n")
	}
	return b.String()
}
