package gateway

import (
	"math"
	"net/url"
	"path"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
)

// Input is what a door knows about one HTTP request: the parameters of
// the one mapping to a decision.Request that both doors share. It holds
// the door's own values as they came (Header reads the door's headers),
// so each door still maps its request once.
type Input struct {
	// Method is the original request's method; required.
	Method string
	// MethodSource names where Method came from, for violations.
	MethodSource string
	// URI is the original request target: a path with an optional query,
	// or an absolute URL; required.
	URI string
	// URISource names where URI came from.
	URISource string
	// Host and Scheme of the original request, passed to Rego in
	// input.attributes.http; optional.
	Host, Scheme string
	// ClientIP is the client address as text; empty when unknown.
	ClientIP string
	// ClientIPSource names where ClientIP came from.
	ClientIPSource string
	// Header returns a header of the original request by lowercase name,
	// several values joined with ", "; "" when absent. nil reads none.
	Header func(name string) string
	// Routing holds values that win over the tenant, environment, action
	// and resource headers: Envoy's context extensions, with the keys
	// "tenant", "environment", "action", "resource" (action.resource),
	// "resource-type" and "resource-id" (the typed resource).
	Routing map[string]string
	// RoutingSource names Routing in violations, such as
	// "context_extensions".
	RoutingSource string
	// Claims are verified JWT claims; nil when there are none.
	Claims map[string]any
	// ClaimsPayload are verified JWT claims as a Struct, such as Envoy's
	// jwt_authn filter passes them, read claim by claim; used when Claims
	// is nil.
	ClaimsPayload *structpb.Struct
	// ClaimsSource names where Claims or ClaimsPayload came from, such as
	// "jwt_authn metadata".
	ClaimsSource string
	// BearerToken is the token of an Authorization: Bearer header, verified
	// against the JWKS when there are no claims and a JWKS is configured.
	BearerToken string
	// Time is when the request happened; nil means the server clock.
	Time *timestamppb.Timestamp
}

// builder collects a Request, where each field came from, the mapping's
// own violations and the problems validation reports in place.
type builder struct {
	req        *decision.Request
	problems   decision.Problems
	sources    []sourced // the last one of a field wins
	violations []fault.FieldViolation
	// The wire times are converted once the last source has set them: a
	// claim replaces what a header set.
	authenticatedAt, mfaVerifiedAt, lastActivityAt *timestamppb.Timestamp
	// sourcesBuf holds the sources of a common request.
	sourcesBuf [20]sourced
}

// source names where a field's value came from, such as "header
// x-user-id", for the violations of a 400 answer. It is kept in parts,
// joined only when a violation names it: most requests have none.
type source struct {
	kind    sourceKind
	a, b, c string
}

type sourceKind uint8

const (
	fromInput           sourceKind = iota // a: a source the door named
	fromHeader                            // header a
	fromRouting                           // a.b: Routing's key b
	fromRoutingOrHeader                   // a.b or header c: neither set
	fromClaim                             // claim a (b): claim a of the claims from b
)

func plainSource(s string) source  { return source{kind: fromInput, a: s} }
func headerSource(h string) source { return source{kind: fromHeader, a: h} }
func routingSource(in Input, key string) source {
	return source{kind: fromRouting, a: in.RoutingSource, b: key}
}

func (s source) String() string {
	switch s.kind {
	case fromHeader:
		return "header " + s.a
	case fromRouting:
		return s.a + "." + s.b
	case fromRoutingOrHeader:
		return s.a + "." + s.b + " or header " + s.c
	case fromClaim:
		return "claim " + s.a + " (" + s.b + ")"
	}
	return s.a
}

// sourced is the source of one field.
type sourced struct {
	field string
	src   source
}

func (b *builder) source(field string, src source) {
	for i := range b.sources {
		if b.sources[i].field == field {
			b.sources[i].src = src
			return
		}
	}
	b.sources = append(b.sources, sourced{field, src})
}

// sourceFor is the source of exactly field; ok is false when none is set.
func (b *builder) sourceFor(field string) (src source, ok bool) {
	for _, s := range b.sources {
		if s.field == field {
			return s.src, true
		}
	}
	return source{}, false
}

func (b *builder) bad(field string, src source, description string) {
	b.violations = append(b.violations, fault.FieldViolation{Field: field, Description: description})
	b.source(field, src)
}

// build maps in to a Request; validation of the result is left to
// pdpsvc.Validate.
func (g *Gateway) build(in Input) (*decision.Request, *builder) {
	b := &builder{req: &decision.Request{}}
	b.sources = b.sourcesBuf[:0]
	header := in.Header
	if header == nil {
		header = func(string) string { return "" }
	}
	r := b.req
	if in.Time != nil {
		r.Time = pdpsvc.Time(&b.problems, "time", in.Time)
		b.source("time", plainSource("request time"))
	} else {
		r.Time = g.now().UTC()
	}
	r.Tenant = g.routed(b, in, header, "tenant", "tenant")
	r.Environment = g.routed(b, in, header, "environment", "environment")
	r.Action.Name = g.routed(b, in, header, "action", "action.name")
	// The typed resource (input.resource), when the route names one.
	if typ, id := g.routed(b, in, header, "resource-type", "resource.type"), g.routed(b, in, header, "resource-id", "resource.id"); typ != "" || id != "" {
		r.Resource = decision.Resource{Type: typ, ID: id}
	}
	if in.ClientIP != "" {
		r.Network.IP = decision.ParseIP(&b.problems, "network.ip", in.ClientIP)
		b.source("network.ip", plainSource(in.ClientIPSource))
	}
	g.target(b, in)
	if g.identityHeaders {
		g.identityFromHeaders(b, header)
	}
	switch {
	case in.Claims != nil:
		g.identityFromClaims(b, func(path string) (any, bool) { return lookupClaim(in.Claims, path) }, in.ClaimsSource)
	case in.ClaimsPayload != nil:
		g.identityFromClaims(b, func(path string) (any, bool) { return lookupPayloadClaim(in.ClaimsPayload, path) }, in.ClaimsSource)
	}
	r.Authentication.AuthenticatedAt = pdpsvc.Time(&b.problems, "authentication.authenticated_at", b.authenticatedAt)
	r.Authentication.MFAVerifiedAt = pdpsvc.Time(&b.problems, "authentication.mfa_verified_at", b.mfaVerifiedAt)
	r.Session.LastActivityAt = pdpsvc.Time(&b.problems, "session.last_activity_at", b.lastActivityAt)
	return r, b
}

// routed reads a routing value: Routing first, then the header.
func (g *Gateway) routed(b *builder, in Input, header func(string) string, name, field string) string {
	if v := in.Routing[name]; v != "" {
		b.source(field, routingSource(in, name))
		return v
	}
	h := g.headers[name]
	if v := header(h); v != "" {
		b.source(field, headerSource(h))
		return v
	}
	src := headerSource(h)
	if in.RoutingSource != "" {
		src = source{kind: fromRoutingOrHeader, a: in.RoutingSource, b: name, c: h}
	}
	b.source(field, src)
	return ""
}

// target sets the default action, the resource and input.attributes.http
// from the method and URI.
func (g *Gateway) target(b *builder, in Input) {
	r := b.req
	method := strings.TrimSpace(in.Method)
	if method == "" {
		b.bad("action.name", plainSource(in.MethodSource), "required: the original request method")
	} else if r.Action.Name == "" {
		r.Action.Name = "http." + strings.ToLower(method)
		b.source("action.name", plainSource(in.MethodSource))
	}
	p, query, err := splitURI(in.URI)
	switch {
	case in.URI == "":
		b.bad("action.resource", plainSource(in.URISource), "required: the original request URI")
	case err != nil:
		b.bad("action.resource", plainSource(in.URISource), err.Error())
	}
	if res := in.Routing["resource"]; res != "" {
		r.Action.Resource = res
		b.source("action.resource", routingSource(in, "resource"))
	} else if err == nil && p != "" {
		r.Action.Resource = p
		b.source("action.resource", plainSource(in.URISource))
	}
	// input.attributes.http, built directly: a direct Check's wire form
	// is needed only to measure one near its bound.
	httpAttrs := make(map[string]any, 5)
	size := 0
	for _, kv := range [...][2]string{{"method", method}, {"host", in.Host}, {"scheme", in.Scheme}, {"path", p}, {"query", query}} {
		if kv[1] == "" {
			continue
		}
		if !utf8.ValidString(kv[1]) {
			b.bad("attributes.http", plainSource(in.URISource), "not valid UTF-8")
			return
		}
		httpAttrs[kv[0]] = kv[1]
		size += len(kv[1]) + encodedEntryOverhead
	}
	if len(httpAttrs) == 0 {
		return
	}
	attrs := map[string]any{"http": httpAttrs}
	if size+encodedEntryOverhead > pdpsvc.MaxAttributesBytes {
		// Near the bound, the size of the wire form a direct Check would
		// have decides, as it does for that Check's attributes. Its one
		// error, a string that is not UTF-8, was excluded above.
		st, _ := structpb.NewStruct(attrs)
		attrs = pdpsvc.Attributes(&b.problems, "attributes", st)
	}
	r.Attributes = attrs
	b.source("attributes.http", plainSource(in.URISource))
}

// encodedEntryOverhead bounds what one string entry of a
// google.protobuf.Struct adds to its encoded size besides the string: the
// tags and lengths of the entry, its value and the key (a short one).
const encodedEntryOverhead = 32

// splitURI returns the decoded path of a request target, with dot
// segments resolved and a trailing slash kept, and its raw query.
func splitURI(uri string) (p, query string, err error) {
	if uri == "" {
		return "", "", nil
	}
	u, perr := url.ParseRequestURI(uri)
	if perr != nil {
		return "", "", errBadURI
	}
	p = u.Path
	if p == "" {
		p = "/"
	}
	if !strings.HasPrefix(p, "/") {
		return "", "", errBadURI
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	return clean, u.RawQuery, nil
}

type uriError string

func (e uriError) Error() string { return string(e) }

const errBadURI = uriError("must be an origin-form path such as /api/items?x=1 or an absolute URL")

// identityFromHeaders reads the identity headers; claims read later win.
func (g *Gateway) identityFromHeaders(b *builder, header func(string) string) {
	r := b.req
	text := func(name, field string, set func(string)) {
		h := g.headers[name]
		if v := header(h); v != "" {
			set(v)
			b.source(field, headerSource(h))
		}
	}
	text("user-id", "subject.id", func(v string) { r.Subject.ID = v })
	text("user-email", "subject.email", func(v string) { r.Subject.Email = v })
	text("roles", "subject.roles", func(v string) { r.Subject.Roles = splitList(v, ",") })
	text("auth-provider", "authentication.provider", func(v string) { r.Authentication.Provider = v })
	text("device-id", "device.id", func(v string) { r.Device.ID = v })
	text("session-id", "session.id", func(v string) { r.Session.ID = v })
	if h := g.headers["mfa-enrolled"]; header(h) != "" {
		v, err := strconv.ParseBool(strings.TrimSpace(header(h)))
		if err != nil {
			b.bad("subject.mfa_enrolled", headerSource(h), "must be true or false")
		} else {
			r.Subject.MFAEnrolled = v
			b.source("subject.mfa_enrolled", headerSource(h))
		}
	}
	times := []struct {
		name, field string
		set         func(*timestamppb.Timestamp)
	}{
		{"mfa-verified-at", "authentication.mfa_verified_at", func(t *timestamppb.Timestamp) { b.mfaVerifiedAt = t }},
		{"authenticated-at", "authentication.authenticated_at", func(t *timestamppb.Timestamp) { b.authenticatedAt = t }},
		{"session-last-activity", "session.last_activity_at", func(t *timestamppb.Timestamp) { b.lastActivityAt = t }},
	}
	for _, x := range times {
		h := g.headers[x.name]
		v := strings.TrimSpace(header(h))
		if v == "" {
			continue
		}
		t, ok := parseTime(v)
		if !ok {
			b.bad(x.field, headerSource(h), "must be an RFC 3339 time or Unix seconds")
			continue
		}
		x.set(t)
		b.source(x.field, headerSource(h))
	}
}

// parseTime reads an RFC 3339 time or (fractional) Unix seconds.
func parseTime(s string) (*timestamppb.Timestamp, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return timestamppb.New(t), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f < 0 || f > 253402300799 {
		return nil, false
	}
	sec, frac := math.Modf(f)
	return timestamppb.New(time.Unix(int64(sec), int64(frac*1e9)).UTC()), true
}

// splitList splits on any of seps, trimming and dropping empty items.
func splitList(s, seps string) []string {
	var out []string
	for _, x := range strings.FieldsFunc(s, func(r rune) bool { return strings.ContainsRune(seps, r) }) {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
