package console

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/authn"
	"github.com/pdp-dev/pdp/server/internal/rpcstatus"
)

// Services are the gRPC services the JSON door calls; any other is 404.
var Services = []string{
	pdpv1.PolicyAdminService_ServiceDesc.ServiceName,
	pdpv1.DecisionService_ServiceDesc.ServiceName,
}

// ConsoleHeader must be present on every call of the JSON door. A
// cross-site form cannot send it, and a cross-site script would need a
// CORS preflight the server never grants.
const ConsoleHeader = "X-PDP-Console"

// APIKeyHeader carries the signed-in key; it is the gRPC guard's
// x-pdp-api-key metadata.
const APIKeyHeader = "X-PDP-Api-Key"

// apiPrefix is where the JSON door is mounted.
const apiPrefix = Prefix + "api/"

// door is the JSON door: JSON in, a gRPC call on conn, JSON out.
type door struct {
	conn     grpc.ClientConnInterface
	maxBody  int64
	timeout  time.Duration
	logger   *slog.Logger
	services map[string]protoreflect.ServiceDescriptor
	csrf     *http.CrossOriginProtection
	loopback bool // Options.LoopbackHostsOnly
}

func newDoor(opts Options) (*door, error) {
	d := &door{conn: opts.Conn, maxBody: opts.MaxBodyBytes, timeout: opts.Timeout, logger: opts.Logger,
		services: map[string]protoreflect.ServiceDescriptor{}, csrf: http.NewCrossOriginProtection(),
		loopback: opts.LoopbackHostsOnly}
	for _, name := range Services {
		desc, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			return nil, err
		}
		sd, ok := desc.(protoreflect.ServiceDescriptor)
		if !ok {
			return nil, errors.New("console: " + name + " is not a service")
		}
		d.services[name] = sd
	}
	return d, nil
}

// ServeHTTP answers POST /console/api/{service}/{method}.
func (d *door) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "the console API takes POST only")
		return
	}
	if err := d.csrf.Check(r); err != nil {
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "cross-origin request refused")
		return
	}
	if d.loopback && !authn.LoopbackHost(r.Host) {
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED",
			"without API keys the console API answers only requests to a loopback host (127.0.0.1, ::1, localhost)")
		return
	}
	if r.Header.Get(ConsoleHeader) == "" {
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "the console API needs the "+ConsoleHeader+" header")
		return
	}
	if ct, _, _ := strings.Cut(r.Header.Get("Content-Type"), ";"); !strings.EqualFold(strings.TrimSpace(ct), "application/json") {
		writeError(w, http.StatusUnsupportedMediaType, "INVALID_ARGUMENT", "the console API takes application/json")
		return
	}
	service, method, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, apiPrefix), "/")
	sd, ok := d.services[service]
	if !ok {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such service")
		return
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil || md.IsStreamingServer() {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "no such method")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, d.maxBody))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "RESOURCE_EXHAUSTED", "request body too large")
		return
	}
	in, err := decodeRequests(md, body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "request body: "+err.Error())
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), d.timeout)
	defer cancel()
	if key := strings.TrimSpace(r.Header.Get(APIKeyHeader)); key != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, strings.ToLower(APIKeyHeader), key)
	}
	out := newMessage(md.Output())
	full := "/" + service + "/" + method
	if md.IsStreamingClient() {
		err = d.stream(ctx, full, in, out)
	} else {
		err = d.conn.Invoke(ctx, full, in[0], out)
	}
	if err != nil {
		st := status.Convert(err)
		writeStatus(w, st)
		return
	}
	b, err := protojson.Marshal(out)
	if err != nil {
		d.logger.Error("console: response not encoded", "method", full, "error", err.Error())
		writeError(w, http.StatusInternalServerError, "INTERNAL", rpcstatus.InternalMessage)
		return
	}
	writeBody(w, http.StatusOK, b)
}

// stream sends each request of a client-streaming call in order.
func (d *door) stream(ctx context.Context, full string, in []proto.Message, out proto.Message) error {
	s, err := d.conn.NewStream(ctx, &grpc.StreamDesc{ClientStreams: true}, full)
	if err != nil {
		return err
	}
	for _, m := range in {
		if err := s.SendMsg(m); err != nil {
			break // the error is RecvMsg's
		}
	}
	if err := s.CloseSend(); err != nil {
		return err
	}
	return s.RecvMsg(out)
}

// decodeRequests decodes the body: one request message, or for a
// client-streaming method a JSON array of them, each sent as one message.
func decodeRequests(md protoreflect.MethodDescriptor, body []byte) ([]proto.Message, error) {
	if !md.IsStreamingClient() {
		m := newMessage(md.Input())
		if err := protojson.Unmarshal(body, m); err != nil {
			return nil, err
		}
		return []proto.Message{m}, nil
	}
	var raw []json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		return nil, errors.New("a streaming method takes a JSON array of messages")
	}
	if len(raw) == 0 {
		return nil, errors.New("a streaming method takes at least one message")
	}
	out := make([]proto.Message, len(raw))
	for i, r := range raw {
		out[i] = newMessage(md.Input())
		if err := protojson.Unmarshal(r, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// newMessage is an empty message of the generated type of desc.
func newMessage(desc protoreflect.MessageDescriptor) proto.Message {
	mt, err := protoregistry.GlobalTypes.FindMessageByName(desc.FullName())
	if err != nil {
		panic("console: " + string(desc.FullName()) + " is not linked in") // the services' own types
	}
	return mt.New().Interface()
}

func writeStatus(w http.ResponseWriter, st *status.Status) {
	writeJSON(w, rpcstatus.HTTPStatusCode(st.Code()), rpcstatus.Body(st))
}

func writeError(w http.ResponseWriter, httpStatus int, c, msg string) {
	writeJSON(w, httpStatus, rpcstatus.ErrorBody{Code: c, Message: msg})
}

func writeJSON(w http.ResponseWriter, httpStatus int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b, httpStatus = []byte(`{"code":"INTERNAL","message":"internal error"}`), http.StatusInternalServerError
	}
	writeBody(w, httpStatus, b)
}

func writeBody(w http.ResponseWriter, httpStatus int, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(httpStatus)
	_, _ = w.Write(append(b, '\n'))
}
