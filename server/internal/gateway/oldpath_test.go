package gateway

// The mapping through a pdpv1.CheckRequest, kept only to check the direct
// one against it (FuzzTheDirectMappingIsTheOldOne).

import (
	"context"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
)

// oldBuilder collects a CheckRequest, where each field came from, and the
// mapping's own violations.
type oldBuilder struct {
	req        *pdpv1.CheckRequest
	sources    map[string]string
	violations []fault.FieldViolation
}

func (b *oldBuilder) source(field, src string) { b.sources[field] = src }

func (b *oldBuilder) bad(field, src, description string) {
	b.violations = append(b.violations, fault.FieldViolation{Field: field, Description: description})
	b.source(field, src)
}

// build maps in to a CheckRequest; validation of the result is left to
// pdpsvc.ToRequest.
func (g *Gateway) buildOld(in Input) (*pdpv1.CheckRequest, *oldBuilder) {
	b := &oldBuilder{
		req: &pdpv1.CheckRequest{
			Subject:        &pdpv1.Subject{},
			Authentication: &pdpv1.Authentication{},
			Network:        &pdpv1.Network{},
			Device:         &pdpv1.Device{},
			Action:         &pdpv1.Action{},
			Session:        &pdpv1.Session{},
			Time:           in.Time,
		},
		sources: map[string]string{},
	}
	header := in.Header
	if header == nil {
		header = func(string) string { return "" }
	}
	r := b.req
	if in.Time != nil {
		b.source("time", "request time")
	}
	r.Tenant = g.routedOld(b, in, header, "tenant", "tenant")
	r.Environment = g.routedOld(b, in, header, "environment", "environment")
	r.Action.Name = g.routedOld(b, in, header, "action", "action.name")
	// The typed resource (input.resource), when the route names one.
	if typ, id := g.routedOld(b, in, header, "resource-type", "resource.type"), g.routedOld(b, in, header, "resource-id", "resource.id"); typ != "" || id != "" {
		r.Resource = &pdpv1.Resource{Type: typ, Id: id}
	}
	if in.ClientIP != "" {
		r.Network.Ip = in.ClientIP
		b.source("network.ip", in.ClientIPSource)
	}
	g.targetOld(b, in)
	if g.identityHeaders {
		g.identityFromHeadersOld(b, header)
	}
	if in.Claims != nil {
		g.identityFromClaimsOld(b, in.Claims, in.ClaimsSource)
	}
	return r, b
}

// routed reads a routing value: Routing first, then the header.
func (g *Gateway) routedOld(b *oldBuilder, in Input, header func(string) string, name, field string) string {
	if v := in.Routing[name]; v != "" {
		b.source(field, in.RoutingSource+"."+name)
		return v
	}
	h := g.headers[name]
	if v := header(h); v != "" {
		b.source(field, "header "+h)
		return v
	}
	src := "header " + h
	if in.RoutingSource != "" {
		src = in.RoutingSource + "." + name + " or " + src
	}
	b.source(field, src)
	return ""
}

// target sets the default action, the resource and input.attributes.http
// from the method and URI.
func (g *Gateway) targetOld(b *oldBuilder, in Input) {
	r := b.req
	method := strings.TrimSpace(in.Method)
	if method == "" {
		b.bad("action.name", in.MethodSource, "required: the original request method")
	} else if r.Action.Name == "" {
		r.Action.Name = "http." + strings.ToLower(method)
		b.source("action.name", in.MethodSource)
	}
	p, query, err := splitURI(in.URI)
	switch {
	case in.URI == "":
		b.bad("action.resource", in.URISource, "required: the original request URI")
	case err != nil:
		b.bad("action.resource", in.URISource, err.Error())
	}
	if res := in.Routing["resource"]; res != "" {
		r.Action.Resource = res
		b.source("action.resource", in.RoutingSource+".resource")
	} else if err == nil && p != "" {
		r.Action.Resource = p
		b.source("action.resource", in.URISource)
	}
	httpAttrs := map[string]any{}
	for k, v := range map[string]string{"method": method, "host": in.Host, "scheme": in.Scheme, "path": p, "query": query} {
		if v != "" {
			httpAttrs[k] = v
		}
	}
	if len(httpAttrs) == 0 {
		return
	}
	st, err := structpb.NewStruct(map[string]any{"http": httpAttrs})
	if err != nil {
		b.bad("attributes.http", in.URISource, "not valid UTF-8")
		return
	}
	r.Attributes = st
	b.source("attributes.http", in.URISource)
}

// identityFromHeaders reads the identity headers; claims read later win.
func (g *Gateway) identityFromHeadersOld(b *oldBuilder, header func(string) string) {
	r := b.req
	text := func(name, field string, set func(string)) {
		h := g.headers[name]
		if v := header(h); v != "" {
			set(v)
			b.source(field, "header "+h)
		}
	}
	text("user-id", "subject.id", func(v string) { r.Subject.Id = v })
	text("user-email", "subject.email", func(v string) { r.Subject.Email = v })
	text("roles", "subject.roles", func(v string) { r.Subject.Roles = splitList(v, ",") })
	text("auth-provider", "authentication.provider", func(v string) { r.Authentication.Provider = v })
	text("device-id", "device.id", func(v string) { r.Device.Id = v })
	text("session-id", "session.id", func(v string) { r.Session.Id = v })
	if h := g.headers["mfa-enrolled"]; header(h) != "" {
		v, err := strconv.ParseBool(strings.TrimSpace(header(h)))
		if err != nil {
			b.bad("subject.mfa_enrolled", "header "+h, "must be true or false")
		} else {
			r.Subject.MfaEnrolled = v
			b.source("subject.mfa_enrolled", "header "+h)
		}
	}
	times := []struct {
		name, field string
		set         func(*timestamppb.Timestamp)
	}{
		{"mfa-verified-at", "authentication.mfa_verified_at", func(t *timestamppb.Timestamp) { r.Authentication.MfaVerifiedAt = t }},
		{"authenticated-at", "authentication.authenticated_at", func(t *timestamppb.Timestamp) { r.Authentication.AuthenticatedAt = t }},
		{"session-last-activity", "session.last_activity_at", func(t *timestamppb.Timestamp) { r.Session.LastActivityAt = t }},
	}
	for _, x := range times {
		h := g.headers[x.name]
		v := strings.TrimSpace(header(h))
		if v == "" {
			continue
		}
		t, ok := parseTime(v)
		if !ok {
			b.bad(x.field, "header "+h, "must be an RFC 3339 time or Unix seconds")
			continue
		}
		x.set(t)
		b.source(x.field, "header "+h)
	}
}

// identityFromClaims maps the claims; each claim present replaces what a
// header set.
func (g *Gateway) identityFromClaimsOld(b *oldBuilder, claims map[string]any, from string) {
	r := b.req
	src := func(name string) string { return "claim " + g.claims[name] + " (" + from + ")" }
	str := func(name, field string, set func(string)) {
		v, ok := lookupClaim(claims, g.claims[name])
		if !ok {
			return
		}
		s, isString := v.(string)
		if !isString {
			b.bad(field, src(name), "claim must be a string")
			return
		}
		set(s)
		b.source(field, src(name))
	}
	list := func(name, field string, set func([]string)) {
		v, ok := lookupClaim(claims, g.claims[name])
		if !ok {
			return
		}
		l, good := stringList(v)
		if !good {
			b.bad(field, src(name), "claim must be a string or an array of strings")
			return
		}
		set(l)
		b.source(field, src(name))
	}
	str("sub", "subject.id", func(s string) { r.Subject.Id = s })
	str("email", "subject.email", func(s string) { r.Subject.Email = s })
	str("tenant", "subject.tenant", func(s string) { r.Subject.Tenant = s })
	str("idp", "authentication.provider", func(s string) { r.Authentication.Provider = s })
	str("acr", "authentication.acr", func(s string) { r.Authentication.Acr = s })
	list("roles", "subject.roles", func(l []string) { r.Subject.Roles = l })
	list("amr", "authentication.methods", func(l []string) { r.Authentication.Methods = l })
	if v, ok := lookupClaim(claims, g.claims["mfa_enrolled"]); ok {
		if e, isBool := v.(bool); isBool {
			r.Subject.MfaEnrolled = e
			b.source("subject.mfa_enrolled", src("mfa_enrolled"))
		} else {
			b.bad("subject.mfa_enrolled", src("mfa_enrolled"), "claim must be a boolean")
		}
	}
	var authTime *timestamppb.Timestamp
	if v, ok := lookupClaim(claims, g.claims["auth_time"]); ok {
		t, good := numericDate(v)
		if !good {
			b.bad("authentication.authenticated_at", src("auth_time"), "claim must be a NumericDate (seconds since 1970)")
		} else {
			authTime = t
			r.Authentication.AuthenticatedAt = t
			b.source("authentication.authenticated_at", src("auth_time"))
		}
	}
	if hasMFA(r.Authentication.Methods) && b.sources["authentication.methods"] == src("amr") {
		r.Subject.MfaEnrolled = true
		b.source("subject.mfa_enrolled", src("amr"))
		if authTime != nil {
			r.Authentication.MfaVerifiedAt = authTime
			b.source("authentication.mfa_verified_at", src("auth_time"))
		}
	}
}

// FuzzTheDirectMappingIsTheOldOne maps random gateway input both ways:
// straight to a decision.Request validated by pdpsvc.Validate, and through
// a pdpv1.CheckRequest validated by pdpsvc.ToRequest. The mapping's own
// violations, the sources and the validation errors must be identical,
// and a valid request the same.
func FuzzTheDirectMappingIsTheOldOne(f *testing.F) {
	now := time.Date(2026, 3, 10, 9, 15, 0, 0, time.UTC)
	gws := map[bool]*Gateway{}
	for _, ih := range []bool{false, true} {
		cfg := config.DefaultGateway()
		cfg.IdentityHeaders = ih
		g, err := New(context.Background(), cfg, Options{Now: func() time.Time { return now }})
		if err != nil {
			f.Fatal(err)
		}
		gws[ih] = g
	}
	long := func(n int) string { return strings.Repeat("a", n) }
	roles := strings.Repeat("r,", 257)
	hdr := func(kv ...string) string {
		vals := make([]string, len(config.IdentityHeaderNames))
		for i := 0; i < len(kv); i += 2 {
			for j, n := range config.IdentityHeaderNames {
				if n == kv[i] {
					vals[j] = kv[i+1]
				}
			}
		}
		return strings.Join(vals, "\n")
	}
	f.Add(true, "GET", "/api/items?x=1", "shop.example", "https", "10.0.0.1", hdr("tenant", "shop", "user-id", "u-1", "roles", "a, b"), "", true, `{"sub":"u-2","amr":["otp"],"auth_time":1773133800}`, int64(1773133000), int32(5), true)
	f.Add(true, "", "", "", "", "", "", "", false, "", int64(0), int32(0), false)
	f.Add(true, "GET", "/api/items?x=1", "shop.example", "https", "::ffff:10.0.0.1", hdr("tenant", "shop", "environment", "staging", "user-id", "u-1", "user-email", "Ana@Shop.example", "roles", "a, b", "auth-provider", "saml:okta", "mfa-enrolled", "true", "mfa-verified-at", "2026-03-10T09:00:00Z", "authenticated-at", "1773133800.5", "device-id", "dev-1", "session-id", "s-1", "session-last-activity", "2026-03-10T09:14:00+01:00"), "", false, "", int64(0), int32(0), false)
	f.Add(false, "PUT", "https://shop.example/a/b/", "", "", "10.1.2.3", "", "shop\n\norders.write\n/api/orders\ndocument\nd-1", true, `{"sub":"u-9","email":"olga@shop.example","roles":"admin auditor","amr":["pwd","hwk"],"auth_time":1773133000,"idp":"oidc:corp","tenant":"shop","acr":"gold"}`, int64(1773133200), int32(5), true)

	f.Add(true, "POST", "not a uri", "h", "http", "fe80::1%eth0", hdr("tenant", long(64), "environment", "Prod", "user-email", "x@"+long(260), "roles", roles), "", false, "", int64(0), int32(0), false)
	f.Add(true, "GET", "/"+long(70000), "", "", "::ffff:10.0.0.1", hdr("tenant", "acme", "mfa-verified-at", "0000-01-01T00:00:00Z", "authenticated-at", "0001-01-01T00:00:00Z", "session-last-activity", "9999-12-31T23:59:59-01:00"), "", false, "", int64(-62135596801), int32(0), true)
	f.Add(false, "GET", "/x", "", "", "999.1.1.1", "", "acme\nstaging\n"+long(300)+"\n/res\ndocument\n", true, `{"sub":5,"roles":"a b","amr":"otp mfa","auth_time":"x","tenant":"`+long(70)+`","acr":"gold","mfa_enrolled":"yes","email":"A@B.example"}`, int64(253402300800), int32(0), true)
	f.Add(true, "DELETE", "http://h/a/../b/./c/?q=\xff", "\xff", "", "", hdr("tenant", "acme", "mfa-enrolled", "maybe", "authenticated-at", "1773133800.5", "session-last-activity", "2026-03-10T09:30:00Z", "device-id", "d\x01", "session-id", long(1025)), "", false, "", int64(1773133000), int32(1e9), true)
	f.Add(true, "GET", "/x", "", "", "", hdr("tenant", "acme", "resource-type", "doc"), "acme\n\n\n\n\ndoc-1", true, `{"roles":["`+strings.Repeat(`r","`, 300)+`r"],"auth_time":-1}`, int64(1773133000), int32(0), false)
	f.Fuzz(func(t *testing.T, ih bool, method, uri, host, scheme, ip, headerVals, routingVals string, routed bool, claims string, sec int64, nanos int32, hasTime bool) {
		g := gws[ih]
		hv := strings.Split(headerVals, "\n")
		hm := map[string]string{}
		for i, n := range config.IdentityHeaderNames {
			if i < len(hv) {
				hm[g.headers[n]] = hv[i]
			}
		}
		in := Input{
			Method: method, MethodSource: "m", URI: uri, URISource: "u", Host: host, Scheme: scheme,
			ClientIP: ip, ClientIPSource: "ip", Header: func(n string) string { return hm[n] },
		}
		if routed {
			in.Routing, in.RoutingSource = map[string]string{}, "context_extensions"
			rv := strings.Split(routingVals, "\n")
			for i, k := range []string{"tenant", "environment", "action", "resource", "resource-type", "resource-id"} {
				if i < len(rv) {
					in.Routing[k] = rv[i]
				}
			}
		}
		var cm map[string]any
		if json.Unmarshal([]byte(claims), &cm) == nil && cm != nil {
			in.Claims, in.ClaimsSource = cm, "jwt_authn metadata"
		}
		if hasTime {
			in.Time = &timestamppb.Timestamp{Seconds: sec, Nanos: nanos}
		}
		req, b := g.build(in)
		err := pdpsvc.Validate(req, b.problems)
		oreq, ob := g.buildOld(in)
		want, oerr := pdpsvc.ToRequest(oreq, now)
		if !reflect.DeepEqual(b.violations, ob.violations) {
			t.Fatalf("mapping violations:\n new %v\n old %v", b.violations, ob.violations)
		}
		if !reflect.DeepEqual(b.sources, ob.sources) {
			t.Fatalf("sources:\n new %v\n old %v", b.sources, ob.sources)
		}
		if (err == nil) != (oerr == nil) || err != nil && (fault.As(err).Code != fault.As(oerr).Code || !reflect.DeepEqual(fault.As(err).Fields, fault.As(oerr).Fields)) {
			t.Fatalf("validation:\n new %v\n old %v", err, oerr)
		}
		if err == nil && !reflect.DeepEqual(req, want) {
			t.Fatalf("request:\n new %+v\n old %+v", req, want)
		}
	})
}
