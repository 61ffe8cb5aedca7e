// Command pdp is the policy decision point: `pdp serve` runs the server,
// the other subcommands talk to one or work on policy files.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/pdp-dev/pdp/server/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], cli.Env{
		Stdout: os.Stdout,
		Stderr: os.Stderr,
		Getenv: os.Getenv,
	})
	stop()
	os.Exit(code)
}
