package app

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/decide"
	"github.com/pdp-dev/pdp/server/internal/decisionlog"
	"github.com/pdp-dev/pdp/server/internal/telemetry"
	"github.com/pdp-dev/pdp/server/internal/tlsutil"
)

// security is the authentication, TLS and decision log of one server:
// the guards of both ports, the certificates they serve, and the log every
// decision is written to. Its file watchers run until close.
type security struct {
	auth   *authn.Authenticator
	tls    *tlsutil.Reloader   // nil without --tls-cert
	dlog   *decisionlog.Logger // nil without --decision-log
	logger *slog.Logger

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// buildSecurity loads the API keys and certificates, opens the decision
// log and starts watching the files, or says which of them is wrong.
func buildSecurity(ctx context.Context, cfg config.Config, o options, metrics *telemetry.Metrics) (*security, error) {
	s := &security{logger: o.logger}
	var keys *authn.Keys
	switch {
	case cfg.APIKeysFile != "":
		var err error
		keys, err = authn.OpenKeys(cfg.APIKeysFile, o.logger)
		if err != nil {
			return nil, fmt.Errorf("API keys: %w", err)
		}
		if keys.Set().Len() == 0 {
			o.logger.Warn("the API key file lists no keys: every call but health is refused until keys are added", "file", cfg.APIKeysFile)
		}
		if ports := cfg.ClearTextListeners(); len(ports) > 0 {
			o.logger.Warn("API keys travel in clear text: the server listens beyond loopback without TLS, so anyone on the path "+
				"can read a key and use it; give --tls-cert and --tls-key, or terminate TLS in front of the server",
				"ports", strings.Join(ports, ", "))
		}
	case cfg.InsecureNoAuth:
		o.logger.Warn("INSECURE: started with --insecure-no-auth and no API keys: anyone who can reach the ports may ask for decisions, " +
			"read them and change tenant policy. Create keys with `pdp keygen` and start with --api-keys FILE.")
	default:
		o.logger.Info("authentication is off (no --api-keys); the server listens on loopback only")
	}
	s.auth = authn.New(authn.Options{Keys: keys, MetricsPublic: cfg.MetricsPublic, Logger: o.logger,
		LoopbackHostsOnly: cfg.APIKeysFile == "" && !cfg.InsecureNoAuth})

	if cfg.TLSEnabled() {
		var err error
		s.tls, err = tlsutil.NewReloader(tlsutil.Files{Cert: cfg.TLSCert, Key: cfg.TLSKey, ClientCA: cfg.ClientCA}, o.logger)
		if err != nil {
			return nil, fmt.Errorf("TLS: %w", err)
		}
	}

	if cfg.DecisionLog != "" {
		masks, err := decisionlog.ParseMasks(cfg.DecisionLogMask)
		if err != nil {
			return nil, fmt.Errorf("decision log: %w", err)
		}
		w, err := decisionlog.Open(cfg.DecisionLog, decisionlog.Rotation{
			MaxSizeMB:  cfg.DecisionLogMaxSizeMB,
			MaxBackups: cfg.DecisionLogMaxBackups,
			MaxAgeDays: cfg.DecisionLogMaxAgeDays,
		})
		if err != nil {
			return nil, fmt.Errorf("decision log: %w", err)
		}
		s.dlog = decisionlog.New(decisionlog.Options{
			Writer: w,
			Mode:   decisionlog.Mode(cfg.DecisionLogMode),
			Buffer: cfg.DecisionLogBuffer,
			Masks:  masks,
			Inputs: cfg.DecisionLogInputs,
			OnDrop: metrics.RecordDecisionLogDropped,
			OnFail: metrics.RecordDecisionLogFailed,
			Logger: o.logger,
		})
	}

	watchCtx, cancel := context.WithCancel(ctx)
	s.cancel = cancel
	watch := func(what string, f func(context.Context) error) {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			if err := f(watchCtx); err != nil {
				o.logger.Error(what+" watcher stopped; changes are no longer picked up", "error", err.Error())
			}
		}()
	}
	if keys != nil {
		watch("API key file", func(ctx context.Context) error { return keys.Watch(ctx, cfg.ReloadDebounce) })
	}
	if s.tls != nil {
		watch("TLS file", func(ctx context.Context) error { return s.tls.Watch(ctx, cfg.ReloadDebounce) })
	}
	return s, nil
}

// unaryGuards are the gRPC unary guards.
func (s *security) unaryGuards() []grpc.UnaryServerInterceptor {
	return []grpc.UnaryServerInterceptor{s.auth.UnaryGuard()}
}

// streamGuards are the gRPC stream guards.
func (s *security) streamGuards() []grpc.StreamServerInterceptor {
	return []grpc.StreamServerInterceptor{s.auth.StreamGuard()}
}

// grpcCredentials are the gRPC port's TLS, or nil for plaintext.
func (s *security) grpcCredentials() credentials.TransportCredentials {
	if s.tls == nil {
		return nil
	}
	return credentials.NewTLS(s.tls.ServerConfig("h2"))
}

// httpTLS is the HTTP port's TLS configuration, or nil for plaintext.
func (s *security) httpTLS() *tls.Config {
	if s.tls == nil {
		return nil
	}
	return s.tls.ServerConfig("h2", "http/1.1")
}

// httpHandler guards h.
func (s *security) httpHandler(h http.Handler) http.Handler { return s.auth.HTTPMiddleware(h) }

// decisionLog is the decision log, or nil when it is off.
func (s *security) decisionLog() decide.DecisionLog {
	if s.dlog == nil {
		return nil
	}
	return s.dlog
}

// close stops the watchers and flushes the decision log, within ctx.
func (s *security) close(ctx context.Context) {
	s.cancel()
	s.wg.Wait()
	if s.dlog == nil {
		return
	}
	if err := s.dlog.Close(ctx); err != nil {
		s.logger.Error("decision log not flushed completely", "error", err.Error(), "dropped", s.dlog.Dropped())
	}
}
