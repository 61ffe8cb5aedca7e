package pdpsvc

import (
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pdp-dev/pdp/server/internal/decision"
)

// Limits applied by validation. They bound the work one request can cause;
// the gRPC and HTTP servers bound the total message size separately. The
// bounds of single fields are buf.validate rules of proto/pdp/v1, checked
// by package contract; the constants say what those rules are, and are
// the domain's own (decision.Request.Bounds), which checks them for the
// doors without a wire contract.
const (
	// MaxBatchChecks is the largest number of checks in one BatchCheck.
	MaxBatchChecks = 100
	// MaxStringBytes is the longest free-form string field, in bytes.
	MaxStringBytes = decision.MaxStringBytes
	// MaxListEntries is the most entries in subject.roles, subject.groups
	// and authentication.methods.
	MaxListEntries = decision.MaxListEntries
	// MaxAttributesBytes is the largest encoded size of attributes.
	MaxAttributesBytes = 64 << 10
	// MaxEmailBytes is the longest email address (RFC 5321 path limit).
	MaxEmailBytes = decision.MaxEmailBytes
	// MaxNameBytes is the longest tenant or environment name
	// (decision.ValidName).
	MaxNameBytes = decision.MaxNameBytes
	// MaxActionBytes is the longest action name.
	MaxActionBytes = decision.MaxActionBytes
)

// Time converts an optional wire timestamp, recording a problem of field
// when it is not a time; nil is the zero time.
func Time(p *decision.Problems, field string, ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	if err := ts.CheckValid(); err != nil {
		p.Add(field, decision.NotATimestamp)
		return time.Time{}
	}
	t := ts.AsTime()
	if t.IsZero() {
		// The first instant of year 1 is a time, not an absent one.
		p.Add(field, decision.OutOfRangeTime)
	}
	return t
}

// Attributes converts free-form attributes to the JSON-like values Rego
// reads, recording a problem of field when their encoded size is over
// MaxAttributesBytes; nil is none.
func Attributes(p *decision.Problems, field string, st *structpb.Struct) map[string]any {
	if st == nil {
		return nil
	}
	if n := proto.Size(st); n > MaxAttributesBytes {
		p.Add(field, "larger than %d bytes encoded", MaxAttributesBytes)
		return nil
	}
	return attrMap(st)
}

// attrMap is st.AsMap, except that a number that is not finite stays a
// float64 for validation to refuse (AsMap would turn it into a string).
func attrMap(st *structpb.Struct) map[string]any {
	m := make(map[string]any, len(st.GetFields()))
	for k, v := range st.GetFields() {
		m[k] = attrValue(v)
	}
	return m
}

func attrValue(v *structpb.Value) any {
	switch k := v.GetKind().(type) {
	case *structpb.Value_NumberValue:
		return v.GetNumberValue()
	case *structpb.Value_StringValue:
		return v.GetStringValue()
	case *structpb.Value_BoolValue:
		return v.GetBoolValue()
	case *structpb.Value_StructValue:
		if k != nil {
			return attrMap(k.StructValue)
		}
	case *structpb.Value_ListValue:
		if k != nil {
			out := make([]any, len(k.ListValue.GetValues()))
			for i, e := range k.ListValue.GetValues() {
				out[i] = attrValue(e)
			}
			return out
		}
	}
	return nil
}
