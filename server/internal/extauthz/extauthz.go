// Package extauthz implements Envoy's external authorization service,
// envoy.service.auth.v3.Authorization/Check, with the real types of
// go-control-plane, on the PDP's gRPC port.
//
// A CheckRequest is mapped by package gateway into a pdp.v1 CheckRequest,
// validated as a direct Check is and decided by the one decision service
// (package decide), so it is validated and decided exactly as a direct
// Check would be:
//
//   - client IP: attributes.source.address.socket_address.address (Envoy
//     has already applied its own trusted-hop rules);
//   - tenant, environment, action: attributes.context_extensions keys
//     "tenant", "environment", "action" (set per route), falling back to
//     the x-pdp-tenant, x-pdp-environment and x-pdp-action headers; the
//     extension "resource" overrides the resource;
//   - identity: the claims of Envoy's jwt_authn filter, found in
//     metadata_context.filter_metadata["envoy.filters.http.jwt_authn"]
//     under the payload_in_metadata name (--jwt-payload-metadata-key);
//     else a bearer token verified against --jwks-file/--jwks-url when one
//     is configured; plus the identity headers for what claims do not set
//     (unless --identity-headers=false);
//   - without an action, "http.<lowercase method>"; the resource is the
//     path without the query, percent-decoded, dot segments resolved;
//   - the request time is attributes.request.time.
//
// Answers (a deny is a successful RPC):
//
//   - allow: status OK, headers x-pdp-decision-id and x-pdp-risk-score
//     added to the upstream request (overwriting any the client sent);
//   - challenge: denied response 401 with the RFC 9470 WWW-Authenticate
//     header and a JSON body listing the step-ups;
//   - deny: denied response 403 with a JSON body of reason codes and the
//     decision id;
//   - malformed input (a header that is not a time, a tenant that is not a
//     name, a missing tenant): denied response 400 with a JSON body of
//     field violations, each naming its source. No decision is made, and
//     the gRPC call still succeeds: Envoy forwards the 400 to the client
//     rather than applying failure_mode_allow to what is a client error;
//   - a bearer token that fails verification: denied response 401 with
//     WWW-Authenticate: Bearer error="invalid_token".
//
// Every answer carries dynamic metadata {decision, decision_id,
// risk_score} (for access logs and later filters). When the server cannot
// decide (no policy loaded, deadline passed) the RPC fails with
// UNAVAILABLE or DEADLINE_EXCEEDED, and Envoy's failure_mode_allow decides.
package extauthz

import (
	"context"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	"google.golang.org/genproto/googleapis/rpc/code"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pdp-dev/pdp/server/internal/bearer"
	"github.com/pdp-dev/pdp/server/internal/gateway"
)

// JWTAuthnFilter is the filter_metadata namespace of Envoy's jwt_authn
// filter.
const JWTAuthnFilter = "envoy.filters.http.jwt_authn"

// Server implements envoy.service.auth.v3.Authorization. It embeds the
// Unsafe marker, so an RPC added to the service is a compile error here.
type Server struct {
	authv3.UnsafeAuthorizationServer

	gw      *gateway.Gateway
	checker gateway.Checker
}

var _ authv3.AuthorizationServer = (*Server)(nil)

// New returns a Server mapping through gw and deciding with c (the
// decision service).
func New(gw *gateway.Gateway, c gateway.Checker) *Server {
	return &Server{gw: gw, checker: c}
}

// Check decides one request Envoy holds.
func (s *Server) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	a, err := s.gw.Decide(ctx, s.checker, s.Input(req))
	if err != nil {
		return nil, err
	}
	return Response(a), nil
}

// Input maps an Envoy CheckRequest to the gateway's input.
func (s *Server) Input(req *authv3.CheckRequest) gateway.Input {
	attrs := req.GetAttributes()
	h := attrs.GetRequest().GetHttp()
	headers := headerMap(h)
	in := gateway.Input{
		Method:         h.GetMethod(),
		MethodSource:   "attributes.request.http.method",
		URI:            h.GetPath(),
		URISource:      "attributes.request.http.path",
		Host:           h.GetHost(),
		Scheme:         h.GetScheme(),
		ClientIP:       attrs.GetSource().GetAddress().GetSocketAddress().GetAddress(),
		ClientIPSource: "attributes.source.address",
		Header:         func(name string) string { return headers[name] },
		Routing:        attrs.GetContextExtensions(),
		RoutingSource:  "context_extensions",
		Time:           attrs.GetRequest().GetTime(),
	}
	jwt := attrs.GetMetadataContext().GetFilterMetadata()[JWTAuthnFilter]
	if p := jwt.GetFields()[s.gw.PayloadMetadataKey()].GetStructValue(); p != nil {
		in.ClaimsPayload, in.ClaimsSource = p, "jwt_authn metadata"
	} else if tok, ok := bearer.Token(headers["authorization"]); ok {
		in.BearerToken = tok
	}
	return in
}

// headerMap returns the request headers by lowercase name, from headers
// or, when Envoy sends raw headers (encode_raw_headers), from header_map,
// joining repeated headers with ", ".
func headerMap(h *authv3.AttributeContext_HttpRequest) map[string]string {
	if len(h.GetHeaders()) > 0 || h.GetHeaderMap() == nil {
		return h.GetHeaders()
	}
	out := map[string]string{}
	for _, hv := range h.GetHeaderMap().GetHeaders() {
		k := strings.ToLower(hv.GetKey())
		v := hv.GetValue()
		if raw := hv.GetRawValue(); len(raw) > 0 {
			v = string(raw)
		}
		if prev, ok := out[k]; ok {
			v = prev + ", " + v
		}
		out[k] = v
	}
	return out
}

// Response renders an Answer as Envoy's CheckResponse.
func Response(a gateway.Answer) *authv3.CheckResponse {
	out := &authv3.CheckResponse{DynamicMetadata: metadata(a)}
	// The messages of the headers are made in two blocks, not two each.
	headers := make([]*corev3.HeaderValueOption, len(a.Headers))
	options := make([]corev3.HeaderValueOption, len(a.Headers))
	values := make([]corev3.HeaderValue, len(a.Headers))
	for i, h := range a.Headers {
		name, ok := lowercaseNames[h[0]]
		if !ok {
			name = strings.ToLower(h[0])
		}
		values[i].Key, values[i].Value = name, h[1]
		options[i].Header, options[i].AppendAction = &values[i], corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		headers[i] = &options[i]
	}
	if a.Kind == gateway.KindAllow {
		out.Status = &rpcstatus.Status{Code: int32(code.Code_OK)}
		out.HttpResponse = &authv3.CheckResponse_OkResponse{OkResponse: &authv3.OkHttpResponse{Headers: headers}}
		return out
	}
	c := code.Code_PERMISSION_DENIED
	switch a.Kind {
	case gateway.KindChallenge, gateway.KindInvalidToken:
		c = code.Code_UNAUTHENTICATED
	case gateway.KindInvalid:
		c = code.Code_INVALID_ARGUMENT
	}
	out.Status = &rpcstatus.Status{Code: int32(c)}
	out.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(a.Status)},
		Headers: headers,
		Body:    string(a.Body),
	}}
	return out
}

// lowercaseNames are the headers gateway answers carry, as Envoy wants
// them written.
var lowercaseNames = func() map[string]string {
	m := map[string]string{}
	for _, h := range []string{gateway.HeaderDecisionID, gateway.HeaderRiskScore, gateway.HeaderWWWAuthenticate, "Content-Type", "Cache-Control"} {
		m[h] = strings.ToLower(h)
	}
	return m
}()

// metadata is the dynamic metadata of every answer.
func metadata(a gateway.Answer) *structpb.Struct {
	fields := map[string]*structpb.Value{"decision": structpb.NewStringValue(string(a.Kind))}
	if d := a.Decision; d != nil {
		fields["decision_id"] = structpb.NewStringValue(d.ID)
		fields["risk_score"] = structpb.NewNumberValue(d.Risk.Score)
	}
	return &structpb.Struct{Fields: fields}
}
