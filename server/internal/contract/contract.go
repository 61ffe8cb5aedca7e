// Package contract checks a request against the rules its proto declares:
// the buf.validate options of proto/pdp/v1 (presence, lengths, ranges,
// known enum values), evaluated by protovalidate. Each broken rule becomes
// a fault.FieldViolation worded as the server's own checks word theirs
// ("required", "longer than 1024 bytes"), so a client sees one kind of
// answer whichever check refused a field.
//
// The rules say what one field may hold. What they cannot say (the syntax
// of names, addresses and emails, and rules that span fields, such as
// action.name being required in a check but not in a report) the callers
// check in Go and Merge with these.
package contract

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// validator is built once: building one sets up a CEL environment, and
// it caches the rules of each message type it has seen.
var validator = sync.OnceValues(func() (protovalidate.Validator, error) { return protovalidate.New() })

// Check returns the violations of the rules m's proto declares, in the
// order protovalidate finds them (field order). An error means the rules
// could not be evaluated, a bug: it is an Internal fault.
func Check(m proto.Message) ([]fault.FieldViolation, error) {
	v, err := validator()
	if err == nil {
		err = v.Validate(m)
	}
	if err == nil {
		return nil, nil
	}
	var ve *protovalidate.ValidationError
	if !errors.As(err, &ve) {
		return nil, fault.Wrap(err, fault.Internal, "internal error")
	}
	out := make([]fault.FieldViolation, 0, len(ve.Violations))
	for _, x := range ve.Violations {
		out = append(out, fault.FieldViolation{Field: protovalidate.FieldPathString(x.Proto.GetField()), Description: describe(x)})
	}
	return out, nil
}

// describe words a violation as the server's checks word theirs; a rule
// this package does not know keeps protovalidate's message.
func describe(x *protovalidate.Violation) string {
	switch x.Proto.GetRuleId() {
	case "required":
		return "required"
	case "string.max_bytes":
		return fmt.Sprintf("longer than %d bytes", x.RuleValue.Uint())
	case "repeated.max_items":
		return fmt.Sprintf("more than %d entries", x.RuleValue.Uint())
	case "enum.defined_only":
		return fmt.Sprintf("unknown %s %d", x.FieldDescriptor.Name(), x.FieldValue.Enum())
	case "double.gte_lte":
		r := fieldRules(x.FieldDescriptor).GetDouble()
		return fmt.Sprintf("must be between %g and %g", r.GetGte(), r.GetLte())
	}
	return x.Proto.GetMessage()
}

// fieldRules returns the buf.validate rules of a field.
func fieldRules(fd protoreflect.FieldDescriptor) *validate.FieldRules {
	r, _ := proto.GetExtension(fd.Options(), validate.E_Field).(*validate.FieldRules)
	return r
}

// Merge returns the violations of the rules of a message of type desc
// (Check) and those the caller found in Go, one answer per field: a field
// the rules refused does not also get the caller's violation (a tenant too
// long for the rules is not also named for its syntax). The result is in
// the order of desc's top-level fields; within one, the rules' violations
// come first and each list keeps its order.
func Merge(desc protoreflect.MessageDescriptor, rules, own []fault.FieldViolation) []fault.FieldViolation {
	refused := make(map[string]bool, len(rules))
	for _, r := range rules {
		refused[r.Field] = true
	}
	out := slices.Clone(rules)
	for _, o := range own {
		if !refused[o.Field] {
			out = append(out, o)
		}
	}
	fields := desc.Fields()
	rank := func(path string) int {
		name, _, _ := strings.Cut(path, ".")
		name, _, _ = strings.Cut(name, "[")
		if fd := fields.ByName(protoreflect.Name(name)); fd != nil {
			return fd.Index()
		}
		return fields.Len()
	}
	slices.SortStableFunc(out, func(a, b fault.FieldViolation) int { return cmp.Compare(rank(a.Field), rank(b.Field)) })
	return out
}
