package app

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/telemetry"
)

func TestAPIKeysWithoutTLSBeyondLoopbackWarnThatKeysTravelInClearText(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys")
	if err := os.WriteFile(keys, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	metrics, err := telemetry.NewMetrics(telemetry.MetricsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, grpcAddr, httpAddr string
		warn                     bool
	}{
		{"both ports beyond loopback", "0.0.0.0:9191", "0.0.0.0:8181", true},
		{"the HTTP port beyond loopback", "127.0.0.1:9191", "[::]:8181", true},
		{"loopback only", "127.0.0.1:9191", "localhost:8181", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.APIKeysFile, cfg.GRPCAddr, cfg.HTTPAddr = keys, tc.grpcAddr, tc.httpAddr
			var out bytes.Buffer
			s, err := buildSecurity(context.Background(), cfg, options{logger: slog.New(slog.NewTextHandler(&out, nil))}, metrics)
			if err != nil {
				t.Fatal(err)
			}
			s.close(context.Background())
			warned := strings.Contains(out.String(), "API keys travel in clear text")
			if warned != tc.warn {
				t.Fatalf("warned %v, want %v; log:\n%s", warned, tc.warn, out.String())
			}
			if tc.warn && !strings.Contains(out.String(), tc.httpAddr) {
				t.Fatalf("the warning does not name %s:\n%s", tc.httpAddr, out.String())
			}
		})
	}
}
