package grpcserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/logging"
	"github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/recovery"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

// UnaryErrorMapper returns an interceptor that turns every error a unary
// handler (or an interceptor after it) returns into the status ToStatus
// gives. The detail of an internal error is logged, never sent.
func UnaryErrorMapper(logger *slog.Logger) grpc.UnaryServerInterceptor {
	logger = orDiscard(logger)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := handler(ctx, req)
		if err != nil {
			return nil, mapError(ctx, logger, info.FullMethod, err)
		}
		return resp, nil
	}
}

// StreamErrorMapper is UnaryErrorMapper for streaming handlers.
func StreamErrorMapper(logger *slog.Logger) grpc.StreamServerInterceptor {
	logger = orDiscard(logger)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := handler(srv, ss); err != nil {
			return mapError(ss.Context(), logger, info.FullMethod, err)
		}
		return nil
	}
}

func mapError(ctx context.Context, logger *slog.Logger, method string, err error) error {
	if rpcstatus.IsInternal(err) {
		var p *panicked
		if !errors.As(err, &p) { // a panic was logged with its stack already
			logger.ErrorContext(ctx, "internal error", "grpc.method", method, "error", err.Error())
		}
	}
	return rpcstatus.ToStatus(err).Err()
}

// panicked is the cause of the internal fault a recovered panic becomes.
type panicked struct{ value any }

func (p *panicked) Error() string { return fmt.Sprintf("panic: %v", p.value) }

// recoveryOption logs a handler's panic with its stack and turns it into an
// internal fault, which the error mapper sends as INTERNAL.
func recoveryOption(logger *slog.Logger) recovery.Option {
	return recovery.WithRecoveryHandlerContext(func(ctx context.Context, p any) error {
		method, _ := grpc.Method(ctx)
		logger.ErrorContext(ctx, "panic in gRPC handler",
			"grpc.method", method, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return fault.Wrap(&panicked{value: p}, fault.Internal, rpcstatus.InternalMessage)
	})
}

// UnaryCallLog returns go-grpc-middleware's logging interceptor, run only
// for the calls whose line is written. The middleware builds a line's
// fields when the call starts, before the call's code says its level; with
// debug lines off (pdp serve's default) a call that succeeds is never
// logged, so the call runs without the middleware, and only one whose
// finished line is written is handed to it once finished, with its real
// start and duration (finishedCall).
func UnaryCallLog(logger *slog.Logger) grpc.UnaryServerInterceptor {
	logger = orDiscard(logger)
	mw := logging.UnaryServerInterceptor(callLogger(logger), loggingOptions()...)
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if logger.Enabled(ctx, slog.LevelDebug) {
			return mw(ctx, req, info, handler)
		}
		start := time.Now()
		resp, err := handler(ctx, req)
		if !logger.Enabled(ctx, slog.Level(callLevel(status.Code(err)))) {
			return resp, err
		}
		return mw(finishedCall(ctx, start), req, info, func(context.Context, any) (any, error) { return resp, err })
	}
}

// StreamCallLog is UnaryCallLog for streaming calls.
func StreamCallLog(logger *slog.Logger) grpc.StreamServerInterceptor {
	logger = orDiscard(logger)
	mw := logging.StreamServerInterceptor(callLogger(logger), loggingOptions()...)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		ctx := ss.Context()
		if logger.Enabled(ctx, slog.LevelDebug) {
			return mw(srv, ss, info, handler)
		}
		start := time.Now()
		err := handler(srv, ss)
		if !logger.Enabled(ctx, slog.Level(callLevel(status.Code(err)))) {
			return err
		}
		return mw(srv, finishedStream{ServerStream: ss, ctx: finishedCall(ctx, start)}, info, func(any, grpc.ServerStream) error { return err })
	}
}

// finishedCall carries a finished call's start and duration to the
// middleware handed the call afterwards: fields in the context come before
// the ones it measures itself, and of two fields with one key it logs the
// first.
func finishedCall(ctx context.Context, start time.Time) context.Context {
	f := logging.Fields{"grpc.start_time", start.Format(time.RFC3339)}
	return logging.InjectFields(ctx, append(f, logging.DefaultDurationToFields(time.Since(start))...))
}

// finishedStream is a finished stream with finishedCall's context.
type finishedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s finishedStream) Context() context.Context { return s.ctx }

// callLogger adapts slog to the go-grpc-middleware logging interface.
func callLogger(l *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(ctx context.Context, level logging.Level, msg string, fields ...any) {
		l.Log(ctx, slog.Level(level), msg, fields...)
	})
}

// loggingOptions log one line per finished call with the service, method,
// code, duration and peer; never a payload or any metadata, so neither
// request contents nor authorization headers reach the log.
func loggingOptions() []logging.Option {
	return []logging.Option{
		logging.WithLogOnEvents(logging.FinishCall),
		logging.WithLevels(callLevel),
	}
}

// callLevel is the middleware's default, with its info lines (a call that
// succeeded or that the caller got wrong) moved to debug: one line per
// Check would drown what an operator must see at info. A refused API key
// stays at info.
func callLevel(code codes.Code) logging.Level {
	if l := logging.DefaultServerCodeToLevel(code); l != logging.LevelInfo || code == codes.Unauthenticated {
		return l
	}
	return logging.LevelDebug
}

func orDiscard(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
