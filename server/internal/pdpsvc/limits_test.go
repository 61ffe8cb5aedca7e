package pdpsvc

import (
	"strings"
	"testing"
	"time"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/contract"
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

// overRules sets every field of m that a buf.validate rule bounds to the
// first value past its bound (past the upper end, for a range), or, with
// over false, to the bound itself; a required field is left empty when
// over. It recurses into the request's own messages.
func overRules(t *testing.T, m protoreflect.Message, over bool) {
	t.Helper()
	past := 0
	if over {
		past = 1
	}
	fields := m.Descriptor().Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		r, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
		switch {
		case fd.Kind() == protoreflect.MessageKind && fd.Message().ParentFile() == m.Descriptor().ParentFile():
			overRules(t, m.Mutable(fd).Message(), over)
		case r.GetString().HasMaxBytes():
			m.Set(fd, protoreflect.ValueOfString(strings.Repeat("a", int(r.GetString().GetMaxBytes())+past)))
		case r.GetRepeated().HasMaxItems():
			l := m.Mutable(fd).List()
			for range int(r.GetRepeated().GetMaxItems()) + past {
				l.Append(protoreflect.ValueOfString("a"))
			}
		case r.GetDouble().HasLte():
			m.Set(fd, protoreflect.ValueOfFloat64(r.GetDouble().GetLte()+float64(past)))
		case r.GetRequired():
		case r != nil && r.GetIgnore() != validate.Ignore_IGNORE_ALWAYS:
			t.Fatalf("%s: a rule this test does not know: %v", fd.FullName(), r)
		}
	}
}

// A gateway builds decision.Request without a CheckRequest, so the domain
// checks the same bounds (decision.Request.Bounds). Every rule of a
// CheckRequest broken at once, and every one met at its bound, must read
// the same from both: the same fields, words and order.
func TestTheDomainsBoundsAreTheRulesTheProtoDeclares(t *testing.T) {
	t.Parallel()
	for _, over := range []bool{true, false} {
		in := &pdpv1.CheckRequest{}
		overRules(t, in.ProtoReflect(), over)
		if !over {
			in.Tenant = "acme"
		}
		rules, err := contract.Check(in)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := convert(in, time.Now())
		if diff := cmp.Diff(rules, r.Bounds()); diff != "" {
			t.Errorf("over the bounds %t: the proto's rules (-) and decision.Request.Bounds (+) differ:\n%s", over, diff)
		}
		if over == (len(rules) == 0) {
			t.Errorf("over the bounds %t: %d violations", over, len(rules))
		}
	}
}
