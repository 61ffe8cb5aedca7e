package pdpsvc

import (
	"testing"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
)

func rulesOf(m proto.Message, field protoreflect.Name) *validate.FieldRules {
	fd := m.ProtoReflect().Descriptor().Fields().ByName(field)
	r, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	return r
}

// The constants name the bounds the proto's rules set; this keeps the two
// the same.
func TestTheLimitsAreTheBoundsTheProtoDeclares(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		got   uint64
		limit int
	}{
		{"CheckRequest.tenant", rulesOf(&pdpv1.CheckRequest{}, "tenant").GetString().GetMaxBytes(), MaxNameBytes},
		{"CheckRequest.environment", rulesOf(&pdpv1.CheckRequest{}, "environment").GetString().GetMaxBytes(), MaxNameBytes},
		{"ReportRequest.tenant", rulesOf(&pdpv1.ReportRequest{}, "tenant").GetString().GetMaxBytes(), MaxNameBytes},
		{"ReportRequest.environment", rulesOf(&pdpv1.ReportRequest{}, "environment").GetString().GetMaxBytes(), MaxNameBytes},
		{"Subject.tenant", rulesOf(&pdpv1.Subject{}, "tenant").GetString().GetMaxBytes(), MaxNameBytes},
		{"Subject.email", rulesOf(&pdpv1.Subject{}, "email").GetString().GetMaxBytes(), MaxEmailBytes},
		{"Subject.id", rulesOf(&pdpv1.Subject{}, "id").GetString().GetMaxBytes(), MaxStringBytes},
		{"Subject.roles", rulesOf(&pdpv1.Subject{}, "roles").GetRepeated().GetMaxItems(), MaxListEntries},
		{"Subject.groups", rulesOf(&pdpv1.Subject{}, "groups").GetRepeated().GetMaxItems(), MaxListEntries},
		{"Authentication.methods", rulesOf(&pdpv1.Authentication{}, "methods").GetRepeated().GetMaxItems(), MaxListEntries},
		{"Action.name", rulesOf(&pdpv1.Action{}, "name").GetString().GetMaxBytes(), MaxActionBytes},
		{"Action.resource", rulesOf(&pdpv1.Action{}, "resource").GetString().GetMaxBytes(), MaxStringBytes},
	}
	for _, tc := range tests {
		if tc.got != uint64(tc.limit) {
			t.Errorf("%s: the proto bounds it at %d, the constant says %d", tc.name, tc.got, tc.limit)
		}
	}
}
