package grpcserver_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/pdp-dev/pdp/server/internal/grpcserver"
)

var checkInfo = &grpc.UnaryServerInfo{FullMethod: "/pdp.v1.DecisionService/Check"}

// callLogAt is the call-logging interceptor over a JSON logger writing
// lines from level up.
func callLogAt(level slog.Level) (grpc.UnaryServerInterceptor, *logBuffer) {
	b := &logBuffer{}
	return grpcserver.UnaryCallLog(slog.New(slog.NewJSONHandler(b, &slog.HandlerOptions{Level: level}))), b
}

// finishedCallLine is the one "finished call" line in logs, nil if none.
func finishedCallLine(t *testing.T, logs string) map[string]any {
	t.Helper()
	var found map[string]any
	for line := range strings.Lines(logs) {
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if e["msg"] == "finished call" {
			if found != nil {
				t.Fatalf("two finished-call lines in %s", logs)
			}
			found = e
		}
	}
	return found
}

// A call the server failed (or a refused key) is logged with debug lines
// off as with them on: same level, same fields, and the start and duration
// of the call itself, although the middleware is handed the call only once
// it has finished.
func TestGRPCFailedCallIsLoggedAsWithDebugLinesOn(t *testing.T) {
	t.Parallel()
	const took = 30 * time.Millisecond
	for _, code := range []codes.Code{codes.Unauthenticated, codes.Unavailable, codes.DeadlineExceeded, codes.Internal} {
		t.Run(code.String(), func(t *testing.T) {
			t.Parallel()
			ctx := peer.NewContext(t.Context(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 41000}})
			ctx, cancel := context.WithDeadline(ctx, time.Now().Add(time.Hour))
			defer cancel()
			handler := func(context.Context, any) (any, error) {
				time.Sleep(took)
				return nil, status.Error(code, "it failed")
			}
			lines := map[slog.Level]map[string]any{}
			for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
				log, logs := callLogAt(level)
				start := time.Now().Truncate(time.Second)
				if _, err := log(ctx, "request", checkInfo, handler); status.Code(err) != code {
					t.Fatalf("interceptor returned %v, want the handler's %v", err, code)
				}
				line := finishedCallLine(t, logs.String())
				if line == nil {
					t.Fatalf("no finished-call line with the logger at %v", level)
				}
				ms, _ := strconv.ParseFloat(line["grpc.time_ms"].(string), 64)
				if ms < float64(took.Milliseconds()) {
					t.Errorf("at %v: grpc.time_ms %v, want the call's own duration (≥ %v)", level, line["grpc.time_ms"], took)
				}
				if at, err := time.Parse(time.RFC3339, line["grpc.start_time"].(string)); err != nil || at.Before(start) || at.After(time.Now()) {
					t.Errorf("at %v: grpc.start_time %v, want the call's start", level, line["grpc.start_time"])
				}
				for _, k := range []string{"time", "grpc.time_ms", "grpc.start_time"} {
					delete(line, k)
				}
				lines[level] = line
			}
			if diff := cmp.Diff(lines[slog.LevelDebug], lines[slog.LevelInfo]); diff != "" {
				t.Errorf("finished-call line with debug lines on (-) and off (+):\n%s", diff)
			}
			if lines[slog.LevelInfo]["grpc.method"] != "Check" || lines[slog.LevelInfo]["peer.address"] != "192.0.2.7:41000" {
				t.Errorf("line lacks the method or the peer: %v", lines[slog.LevelInfo])
			}
		})
	}
}

// A call whose line is not written (it succeeded, or the caller got it
// wrong, with debug lines off) costs the call logging nothing.
func TestGRPCCallNotLoggedAllocatesNothingInTheCallLogging(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates on its own")
	}
	log, logs := callLogAt(slog.LevelInfo)
	ctx := peer.NewContext(t.Context(), &peer.Peer{Addr: &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 41000}})
	resp, invalid := any("response"), status.Error(codes.InvalidArgument, "bad request")
	for _, err := range []error{nil, invalid} {
		handler := func(context.Context, any) (any, error) { return resp, err }
		if n := testing.AllocsPerRun(100, func() { _, _ = log(ctx, "request", checkInfo, handler) }); n != 0 {
			t.Errorf("a call ending in %v allocates %v times in the call logging, want 0", status.Code(err), n)
		}
	}
	if logs.String() != "" {
		t.Errorf("lines written at info: %s", logs.String())
	}
}

// A streaming call the server failed is logged too, with debug lines off.
func TestGRPCFailedStreamIsLogged(t *testing.T) {
	t.Parallel()
	b := &logBuffer{}
	log := grpcserver.StreamCallLog(slog.New(slog.NewJSONHandler(b, nil)))
	info := &grpc.StreamServerInfo{FullMethod: "/grpc.health.v1.Health/Watch", IsServerStream: true}
	ok := func(any, grpc.ServerStream) error { return nil }
	failed := func(any, grpc.ServerStream) error { return status.Error(codes.Internal, "it failed") }
	if err := log(nil, fakeStream{ctx: t.Context()}, info, ok); err != nil {
		t.Fatal(err)
	}
	if line := finishedCallLine(t, b.String()); line != nil {
		t.Fatalf("a stream that ended well was logged at info: %v", line)
	}
	if err := log(nil, fakeStream{ctx: t.Context()}, info, failed); status.Code(err) != codes.Internal {
		t.Fatalf("interceptor returned %v, want the handler's INTERNAL", err)
	}
	line := finishedCallLine(t, b.String())
	want := map[string]any{"level": "ERROR", "grpc.method": "Watch", "grpc.method_type": "server_stream", "grpc.code": "Internal"}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v (line %v)", k, line[k], v, line)
		}
	}
}

// fakeStream is a server stream that only has a context.
type fakeStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s fakeStream) Context() context.Context { return s.ctx }
