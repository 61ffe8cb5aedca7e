package pdpsvc

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// FuzzToRequest feeds arbitrary CheckRequests, as protojson or as binary
// protobuf, to ToRequest: it must never panic, every error must be an
// InvalidArgument fault naming at least one field, and an accepted request
// must hold the invariants the engine relies on.
func FuzzToRequest(f *testing.F) {
	for _, s := range validChecks {
		f.Add([]byte(s))
	}
	for _, tc := range invalidChecks {
		f.Add([]byte(tc.json))
	}
	f.Add([]byte(fullCheckCamel))
	f.Add([]byte(fullCheckSnake))
	if b, err := proto.Marshal(parseCheck(f, fullCheckCamel)); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		in := &pdpv1.CheckRequest{}
		if protojson.Unmarshal(data, in) != nil {
			in.Reset()
			if proto.Unmarshal(data, in) != nil {
				t.Skip()
			}
		}
		req, err := ToRequest(in, testNow)
		if err != nil {
			var fe *fault.Error
			if !errors.As(err, &fe) || fe.Code != fault.InvalidArgument || len(fe.Fields) == 0 {
				t.Fatalf("error %v is not InvalidArgument with field violations", err)
			}
			for _, v := range fe.Fields {
				if v.Field == "" || v.Description == "" {
					t.Fatalf("empty field or description in %+v", v)
				}
			}
			return
		}
		switch {
		case req.Tenant == "" || req.Action.Name == "" || req.Environment == "":
			t.Fatalf("accepted request without tenant, action or environment: %+v", req)
		case req.Time.IsZero():
			t.Fatal("accepted request without time")
		case req.Network.IP.Is4In6() || req.Network.IP.Zone() != "":
			t.Fatalf("accepted mapped or zoned IP %v", req.Network.IP)
		case len(req.Network.Country) != 0 && len(req.Network.Country) != 2:
			t.Fatalf("accepted country %q", req.Network.Country)
		}
	})
}
