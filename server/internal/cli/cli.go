// Package cli implements the pdp subcommands. main owns the process (signals
// and exit code); everything here takes its streams and environment as
// values so tests run the real commands in-process.
package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/pdp-dev/pdp/server/internal/version"
)

// Exit codes shared by every subcommand. `pdp check` adds its decision codes.
const (
	ExitOK    = 0
	ExitError = 1
	ExitUsage = 64
)

// Env is what a subcommand may touch of the process.
type Env struct {
	// Stdout receives results.
	Stdout io.Writer
	// Stderr receives diagnostics and logs.
	Stderr io.Writer
	// Getenv looks up environment variables (PDP_* fallbacks).
	Getenv func(string) string
}

type command struct {
	name, summary string
	run           func(ctx context.Context, args []string, env Env) int
}

func commands() []command {
	return []command{
		{"serve", "run the policy decision point", runServe},
		{"check", "ask a running server for one decision", runCheck},
		{"report", "tell a running server about a login, MFA or activity event", runReport},
		{"test", "run Rego unit tests of policy modules (as opa test)", runTest},
		{"compliance", "report a tenant's compliance findings", runCompliance},
		{"explain", "explain a logged decision by its id, evaluated again by a running server", runExplain},
		{"replay", "decide logged decisions again with a candidate policy set and report what changes", runReplay},
		{"keygen", "create an API key and its --api-keys entry", runKeygen},
		{"audit", "verify the audit log's hash chain and checkpoints (audit verify, audit keygen)", runAudit},
		{"version", "print the version", runVersion},
	}
}

// Main runs the subcommand named by args[0] and returns the exit code.
func Main(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = os.Getenv
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(env.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], env)
		}
	}
	fmt.Fprintf(env.Stderr, "pdp: unknown command %q\n\n", args[0])
	usage(env.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString("usage: pdp <command> [flags]\n\ncommands:\n")
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-10s %s\n", c.name, c.summary)
	}
	b.WriteString("\nRun 'pdp <command> -h' for the flags of one command.\n")
	io.WriteString(w, b.String())
}

func runVersion(_ context.Context, args []string, env Env) int {
	if len(args) == 1 && args[0] == "--json" {
		return printJSON(env.Stdout, version.Get())
	}
	if len(args) > 0 {
		fmt.Fprintln(env.Stderr, "usage: pdp version [--json]")
		return ExitUsage
	}
	fmt.Fprintln(env.Stdout, version.Get().String())
	return ExitOK
}

// NewLogger builds the root logger for level and format ("json" or "text").
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}
