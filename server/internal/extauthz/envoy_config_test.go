package extauthz_test

import (
	"os"
	"slices"
	"testing"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/access_loggers/stream/v3"
	extauthzv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/ext_authz/v3"
	headermutationv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/header_mutation/v3"
	jwtauthnv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/jwt_authn/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	_ "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"sigs.k8s.io/yaml"

	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/extauthz"
)

// exampleEnvoy is the documented Envoy configuration.
const exampleEnvoy = "../../../clients/envoy/envoy.yaml"

// validator is what protoc-gen-validate generates on go-control-plane's
// messages.
type validator interface{ ValidateAll() error }

func unpack[T proto.Message](t *testing.T, a *anypb.Any, into T) T {
	t.Helper()
	if err := a.UnmarshalTo(into); err != nil {
		t.Fatalf("%s: %v", a.GetTypeUrl(), err)
	}
	if v, ok := any(into).(validator); ok {
		if err := v.ValidateAll(); err != nil {
			t.Fatalf("%s: %v", a.GetTypeUrl(), err)
		}
	}
	return into
}

// TestExampleEnvoyConfig parses clients/envoy/envoy.yaml into Envoy's own
// bootstrap types (unknown fields refused), runs their generated
// validation, and checks what the PDP relies on.
func TestExampleEnvoyConfig(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile(exampleEnvoy)
	if err != nil {
		t.Fatal(err)
	}
	js, err := yaml.YAMLToJSON(raw)
	if err != nil {
		t.Fatalf("YAML: %v", err)
	}
	boot := &bootstrapv3.Bootstrap{}
	if err := protojson.Unmarshal(js, boot); err != nil {
		t.Fatalf("not an Envoy bootstrap: %v", err)
	}
	if err := boot.ValidateAll(); err != nil {
		t.Fatalf("bootstrap: %v", err)
	}
	var clusters []string
	for _, c := range boot.GetStaticResources().GetClusters() {
		clusters = append(clusters, c.GetName())
	}

	hcmAny := boot.GetStaticResources().GetListeners()[0].GetFilterChains()[0].GetFilters()[0].GetTypedConfig()
	hcm := unpack(t, hcmAny, &hcmv3.HttpConnectionManager{})
	var names []string
	var authz *extauthzv3.ExtAuthz
	var jwt *jwtauthnv3.JwtAuthentication
	var mutation *headermutationv3.HeaderMutation
	for _, f := range hcm.GetHttpFilters() {
		names = append(names, f.GetName())
		switch f.GetName() {
		case "envoy.filters.http.ext_authz":
			authz = unpack(t, f.GetTypedConfig(), &extauthzv3.ExtAuthz{})
		case extauthz.JWTAuthnFilter:
			jwt = unpack(t, f.GetTypedConfig(), &jwtauthnv3.JwtAuthentication{})
		case "envoy.filters.http.header_mutation":
			mutation = unpack(t, f.GetTypedConfig(), &headermutationv3.HeaderMutation{})
		default:
			_, err := f.GetTypedConfig().UnmarshalNew()
			if err != nil {
				t.Fatalf("filter %s: %v", f.GetName(), err)
			}
		}
	}
	if want := []string{"envoy.filters.http.header_mutation", extauthz.JWTAuthnFilter, "envoy.filters.http.ext_authz", "envoy.filters.http.router"}; !slices.Equal(names, want) {
		t.Fatalf("http filters %v, want %v (header_mutation, jwt_authn, ext_authz, router)", names, want)
	}
	var removed []string
	for _, m := range mutation.GetMutations().GetRequestMutations() {
		removed = append(removed, m.GetRemove())
	}
	for _, name := range config.IdentityHeaderNames {
		if h := config.DefaultIdentityHeaderPrefix + name; !slices.Contains(removed, h) {
			t.Errorf("header_mutation does not remove %s: a client could send its own", h)
		}
	}

	switch {
	case authz.GetTransportApiVersion().String() != "V3":
		t.Error("ext_authz: transport_api_version must be V3")
	case authz.GetFailureModeAllow():
		t.Error("ext_authz: failure_mode_allow must be false (fail closed)")
	case authz.GetWithRequestBody() != nil:
		t.Error("ext_authz: with_request_body must be off")
	case !slices.Contains(authz.GetMetadataContextNamespaces(), extauthz.JWTAuthnFilter):
		t.Error("ext_authz: metadata_context_namespaces must pass the jwt_authn claims")
	case !slices.Contains(clusters, authz.GetGrpcService().GetEnvoyGrpc().GetClusterName()):
		t.Errorf("ext_authz: grpc_service cluster %q is not defined", authz.GetGrpcService().GetEnvoyGrpc().GetClusterName())
	case authz.GetGrpcService().GetTimeout().AsDuration() <= 0:
		t.Error("ext_authz: grpc_service needs a timeout")
	}
	for name, p := range jwt.GetProviders() {
		if p.GetPayloadInMetadata() != config.DefaultJWTPayloadMetadataKey {
			t.Errorf("jwt_authn provider %s: payload_in_metadata %q, the PDP reads %q", name, p.GetPayloadInMetadata(), config.DefaultJWTPayloadMetadataKey)
		}
	}

	tenants := 0
	for _, vh := range hcm.GetRouteConfig().GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			checkRoute(t, r, &tenants)
		}
	}
	if tenants == 0 {
		t.Error("no route names a tenant in context_extensions")
	}
}

func checkRoute(t *testing.T, r *routev3.Route, tenants *int) {
	t.Helper()
	a, ok := r.GetTypedPerFilterConfig()["envoy.filters.http.ext_authz"]
	if !ok {
		t.Errorf("route %v has no ext_authz settings", r.GetMatch())
		return
	}
	per := unpack(t, a, &extauthzv3.ExtAuthzPerRoute{})
	if per.GetDisabled() {
		return
	}
	ext := per.GetCheckSettings().GetContextExtensions()
	if ext["tenant"] == "" {
		t.Errorf("route %v: context_extensions has no tenant", r.GetMatch())
		return
	}
	*tenants++
}
