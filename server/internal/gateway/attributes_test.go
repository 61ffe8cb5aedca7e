package gateway_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/pdp-dev/pdp/server/internal/gateway"
	"github.com/pdp-dev/pdp/server/internal/pdpsvc"
)

// encodedHTTPAttributes is the size input.attributes.http has on the wire
// of a direct Check, which pdpsvc.MaxAttributesBytes bounds.
func encodedHTTPAttributes(t *testing.T, attrs map[string]any) int {
	t.Helper()
	st, err := structpb.NewStruct(map[string]any{"http": attrs})
	if err != nil {
		t.Fatal(err)
	}
	return proto.Size(st)
}

// input.attributes.http is refused exactly as a direct Check's attributes
// would be: over pdpsvc.MaxAttributesBytes encoded, or not UTF-8.
func TestHTTPAttributesAreBoundedAsADirectChecksAre(t *testing.T) {
	t.Parallel()
	g := newGateway(t, nil)
	httpAttrs := func(query string) map[string]any {
		return map[string]any{"method": "GET", "host": "shop.example", "scheme": "https", "path": "/items", "query": query}
	}
	// The longest query whose attributes still fit.
	n := pdpsvc.MaxAttributesBytes - encodedHTTPAttributes(t, httpAttrs(""))
	for encodedHTTPAttributes(t, httpAttrs(strings.Repeat("q", n))) > pdpsvc.MaxAttributesBytes {
		n--
	}
	decide := func(host, query string) (*recorder, gateway.Answer) {
		rec := &recorder{}
		uri := "/items"
		if query != "" {
			uri += "?" + query
		}
		a, err := g.Decide(context.Background(), rec, gateway.Input{
			Method: "GET", MethodSource: "method", URI: uri, URISource: "uri", Host: host, Scheme: "https",
			Header: headers("x-pdp-tenant", "shop"),
		})
		if err != nil {
			t.Fatal(err)
		}
		return rec, a
	}
	for _, query := range []string{"a=1", strings.Repeat("q", n)} {
		rec, a := decide("shop.example", query)
		if rec.got == nil {
			t.Fatalf("query of %d bytes refused: %d %s", len(query), a.Status, a.Body)
		}
		if diff := cmp.Diff(map[string]any{"http": httpAttrs(query)}, rec.got.Attributes); diff != "" {
			t.Errorf("query of %d bytes: attributes (-want +got):\n%s", len(query), diff)
		}
	}
	refused := []struct {
		host, query string
		want        violation
	}{
		{"shop.example", strings.Repeat("q", n+1), violation{"attributes", "", "larger than 65536 bytes encoded"}},
		{"shop.example", strings.Repeat("q", 2*pdpsvc.MaxAttributesBytes), violation{"attributes", "", "larger than 65536 bytes encoded"}},
		{"shop\xff.example", "a=1", violation{"attributes.http", "uri", "not valid UTF-8"}},
	}
	for _, tc := range refused {
		rec, a := decide(tc.host, tc.query)
		if rec.got != nil || a.Status != http.StatusBadRequest {
			t.Fatalf("host %q, query of %d bytes: answer %d, want 400 without a check", tc.host, len(tc.query), a.Status)
		}
		var body struct {
			FieldViolations []violation `json:"field_violations"`
		}
		if err := json.Unmarshal(a.Body, &body); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]violation{tc.want}, body.FieldViolations); diff != "" {
			t.Errorf("host %q, query of %d bytes: violations (-want +got):\n%s", tc.host, len(tc.query), diff)
		}
	}
}
