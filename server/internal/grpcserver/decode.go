package grpcserver

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Server is the gRPC server New builds. Services registered
// on it read their request messages only after the guards, and answer a
// message that does not decode with INVALID_ARGUMENT: see RegisterService.
type Server struct {
	*grpc.Server
}

// RegisterService registers impl for desc, changing when and how its
// requests are decoded. grpc-go decodes a unary request before any
// interceptor runs, and answers a message that does not decode with
// INTERNAL, written by the stream itself before the handler can return
// anything else; so a caller without a key who sent garbage learned
// INTERNAL rather than UNAUTHENTICATED. Here a unary request is decoded
// inside the interceptor chain, after the guards and just before the
// handler; a streaming request is read by the handler, after the guards
// already. grpc-go receives each message undecoded (the server codec
// keeps its bytes), and the wrappers decode it: a message that does not
// unmarshal is INVALID_ARGUMENT, sent through the error mapping and the
// call log like any handler error.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	d := *desc
	d.Methods = make([]grpc.MethodDesc, len(desc.Methods))
	for i, m := range desc.Methods {
		m.Handler = decodeInsideChain(m.Handler)
		d.Methods[i] = m
	}
	d.Streams = make([]grpc.StreamDesc, len(desc.Streams))
	for i, sd := range desc.Streams {
		sd.Handler = decodeOnRecv(sd.Handler)
		d.Streams[i] = sd
	}
	s.Server.RegisterService(&d, impl)
}

// protoCodec is grpc-go's own protobuf codec.
var protoCodec = encoding.GetCodecV2(protocodec.Name)

// serverCodec is the codec of the server: grpc-go's protobuf codec, except
// that a rawMessage receives the message's bytes undecoded, which cannot
// fail.
type serverCodec struct{}

func (serverCodec) Name() string                           { return protocodec.Name }
func (serverCodec) Marshal(v any) (mem.BufferSlice, error) { return protoCodec.Marshal(v) }
func (serverCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if r, ok := v.(*rawMessage); ok {
		data.Ref() // grpc-go frees data on return; decode frees it after
		r.data = data
		return nil
	}
	return protoCodec.Unmarshal(data, v)
}

// rawMessage is a request message as received, not yet decoded.
type rawMessage struct{ data mem.BufferSlice }

// decode decodes r into m and releases r's bytes. A message that does not
// unmarshal is the client's error.
func (r *rawMessage) decode(m any) error {
	defer r.data.Free()
	if err := protoCodec.Unmarshal(r.data, m); err != nil {
		return fault.New(fault.InvalidArgument, "request message does not decode: %v", err)
	}
	return nil
}

// receive reads the next message with recv and decodes it into m.
func receive(recv func(any) error, m any) error {
	var raw rawMessage
	if err := recv(&raw); err != nil {
		return err
	}
	return raw.decode(m)
}

// decodeInsideChain runs h with the decoding of its request moved from
// before the interceptor chain to its innermost end: h allocates the
// request and hands it to the chain still empty, and it is filled just
// before the handler runs.
func decodeInsideChain(h grpc.MethodHandler) grpc.MethodHandler {
	return func(srv any, ctx context.Context, dec func(any) error, chain grpc.UnaryServerInterceptor) (any, error) {
		decode := func(req any) error { return receive(dec, req) }
		if chain == nil {
			return h(srv, ctx, decode, nil)
		}
		later := func(any) error { return nil }
		return h(srv, ctx, later, func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			return chain(ctx, req, info, func(ctx context.Context, req any) (any, error) {
				if err := decode(req); err != nil {
					return nil, err
				}
				return handler(ctx, req)
			})
		})
	}
}

// decodeOnRecv gives h a stream whose RecvMsg decodes as decodeInsideChain
// does.
func decodeOnRecv(h grpc.StreamHandler) grpc.StreamHandler {
	return func(srv any, ss grpc.ServerStream) error {
		return h(srv, decodingStream{ss})
	}
}

type decodingStream struct{ grpc.ServerStream }

func (s decodingStream) RecvMsg(m any) error { return receive(s.ServerStream.RecvMsg, m) }
