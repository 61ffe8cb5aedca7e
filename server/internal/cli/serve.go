package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"

	"github.com/pdp-dev/pdp/server/internal/app"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/gctune"
)

func runServe(ctx context.Context, args []string, env Env) int {
	fs := flag.NewFlagSet("pdp serve", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: pdp serve [flags]\n\nEvery flag can also be set as PDP_<FLAG> (for example PDP_GRPC_ADDR).\n\nflags:")
		fs.PrintDefaults()
	}
	cfg, err := config.Parse(args, env.Getenv, fs)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp serve: invalid configuration:\n%v\n", err)
		return ExitUsage
	}
	logger := NewLogger(env.Stderr, cfg.LogLevel, cfg.LogFormat)
	if cfg.GCHeadroomMB > 0 && env.Getenv("GOGC") == "" && env.Getenv("GOMEMLIMIT") == "" {
		gcCtx, stopGC := context.WithCancel(ctx)
		defer stopGC()
		go gctune.Run(gcCtx, gctune.Options{Headroom: int64(cfg.GCHeadroomMB) << 20})
	}
	if err := app.Run(ctx, cfg, app.WithLogger(logger)); err != nil {
		logger.Error("pdp serve failed", "error", err.Error())
		return ExitError
	}
	return ExitOK
}
