package pdpsvc

import (
	"math"
	"net/mail"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/tenantdata"
)

// Limits applied by validation. They bound the work one request can cause;
// the gRPC and HTTP servers bound the total message size separately. The
// bounds of single fields are buf.validate rules of proto/pdp/v1, checked
// by package contract; the constants say what those rules are.
const (
	// MaxBatchChecks is the largest number of checks in one BatchCheck.
	MaxBatchChecks = 100
	// MaxStringBytes is the longest free-form string field, in bytes.
	MaxStringBytes = 1024
	// MaxListEntries is the most entries in subject.roles, subject.groups
	// and authentication.methods.
	MaxListEntries = 256
	// MaxAttributesDepth is the deepest nesting of attributes; the top-level
	// object is depth 1.
	MaxAttributesDepth = 16
	// MaxAttributesBytes is the largest encoded size of attributes.
	MaxAttributesBytes = 64 << 10
	// MaxEmailBytes is the longest email address (RFC 5321 path limit).
	MaxEmailBytes = 254
	// MaxNameBytes is the longest tenant or environment name, as tenant
	// policies define them.
	MaxNameBytes = tenantdata.MaxNameLen
	// MaxActionBytes is the longest action name.
	MaxActionBytes = 256
)

// Timestamps outside [minTime, maxTime] are refused as absurd.
var (
	minTime = time.Date(1970, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(9999, time.December, 31, 23, 59, 59, 999999999, time.UTC)
)

func isAlnum(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9'
}

// isActionRune accepts the characters of action names such as "api.read",
// "http.get", "db.direct_query", "saml:acs" or "admin.*".
func isActionRune(r rune) bool {
	return isAlnum(r) || r == '.' || r == '_' || r == '-' || r == ':' || r == '/' || r == '*'
}

// isActionStart accepts the first character of an action name.
func isActionStart(r rune) bool { return isAlnum(r) || r == '*' }

// charset is the syntax of one kind of identifier and the rule that
// violations quote; the identifier's length is a rule of the contract.
type charset struct {
	valid func(string) bool // of a non-empty string
	rule  string
}

var (
	// nameSyntax is the tenant policies' own rule for tenant and
	// environment names, so the decision API and the admin API refuse
	// the same names.
	nameSyntax = charset{
		valid: tenantdata.ValidName,
		rule:  "must start with a lowercase letter or digit and contain only lowercase letters, digits, '-' and '_'",
	}
	actionSyntax = charset{
		valid: func(s string) bool {
			return isActionStart(rune(s[0])) && strings.IndexFunc(s, func(r rune) bool { return !isActionRune(r) }) < 0
		},
		rule: "must start with a letter, a digit or '*' and contain only letters, digits, '.', '_', '-', ':', '/' and '*'",
	}
)

// identifier validates an optional or required identifier against syntax;
// it returns "" when s is empty or invalid. required is for an identifier
// the contract cannot require (action.name is required in a check, not in
// a report).
func identifier(v *fault.Violations, field, s string, required bool, syntax charset) string {
	switch {
	case s == "":
		if required {
			v.Add(field, "required")
		}
	case !syntax.valid(s):
		v.Add(field, "%s", syntax.rule)
	default:
		return s
	}
	return ""
}

// environment validates an environment name; empty means the default.
func environment(v *fault.Violations, field, s string) string {
	if s == "" {
		return decision.DefaultEnvironment
	}
	return identifier(v, field, s, false, nameSyntax)
}

// text validates a free-form string: valid UTF-8, no control characters
// (they have no place in identifiers or places and would corrupt logs).
// Its length is a rule of the contract.
func text(v *fault.Violations, field, s string) string {
	switch {
	case !utf8.ValidString(s):
		v.Add(field, "not valid UTF-8")
	case strings.IndexFunc(s, isControl) >= 0:
		v.Add(field, "contains control characters")
	default:
		return s
	}
	return ""
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f || r >= 0x80 && r < 0xa0 }

// list validates a repeated string field, each entry a text. The result
// is a copy, nil when empty. The number of entries and that none is empty
// are rules of the contract.
func list(v *fault.Violations, field string, in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := make([]string, 0, len(in))
	for i, s := range in {
		out = append(out, text(v, field+"["+strconv.Itoa(i)+"]", s))
	}
	return out
}

// timestamp converts an optional timestamp; nil is the zero time.
func timestamp(v *fault.Violations, field string, ts *timestamppb.Timestamp) time.Time {
	if ts == nil {
		return time.Time{}
	}
	if err := ts.CheckValid(); err != nil {
		v.Add(field, "not a valid timestamp")
		return time.Time{}
	}
	t := ts.AsTime()
	if t.Before(minTime) || t.After(maxTime) {
		v.Add(field, "must be between year 1970 and 9999")
		return time.Time{}
	}
	return t
}

// email validates a single plain address ("user@example.com", no display
// name, no list) and lowercases it. Its length is a rule of the contract.
func email(v *fault.Violations, field, s string) string {
	if s == "" {
		return ""
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s || strings.Count(s, "@") != 1 {
		v.Add(field, "must be a single plain email address such as user@example.com")
		return ""
	}
	return strings.ToLower(s)
}

// ip parses a client address. IPv4-mapped IPv6 addresses are unmapped so
// that list lookups see one form; zones are refused.
func ip(v *fault.Violations, field, s string) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		v.Add(field, "not an IPv4 or IPv6 address")
		return netip.Addr{}
	}
	if a.Zone() != "" {
		v.Add(field, "must not have a zone")
		return netip.Addr{}
	}
	return a.Unmap()
}

// country validates an ISO 3166-1 alpha-2 code and uppercases it.
func country(v *fault.Violations, field, s string) string {
	if s == "" {
		return ""
	}
	if len(s) != 2 || !isLetter(s[0]) || !isLetter(s[1]) {
		v.Add(field, "must be an ISO 3166-1 alpha-2 code such as US")
		return ""
	}
	return strings.ToUpper(s)
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// maxAttributeViolations caps how many problems inside attributes are
// reported, so that a large malformed object does not produce a huge error.
const maxAttributeViolations = 8

// attributes validates the free-form attributes and converts them to the
// JSON-like values Rego reads.
func attributes(v *fault.Violations, field string, st *structpb.Struct) map[string]any {
	if st == nil {
		return nil
	}
	if n := proto.Size(st); n > MaxAttributesBytes {
		v.Add(field, "larger than %d bytes encoded", MaxAttributesBytes)
		return nil
	}
	w := attrWalker{v: v}
	w.object(field, st, 1)
	if w.found > 0 {
		return nil
	}
	return st.AsMap()
}

// attrWalker checks nesting depth and numbers of an attributes tree.
type attrWalker struct {
	v     *fault.Violations
	found int
}

func (w *attrWalker) add(path, format string, args ...any) {
	if w.found < maxAttributeViolations {
		w.v.Add(path, format, args...)
	}
	w.found++
}

func (w *attrWalker) object(path string, st *structpb.Struct, depth int) {
	if depth > MaxAttributesDepth {
		w.add(path, "nested deeper than %d levels", MaxAttributesDepth)
		return
	}
	fields := st.GetFields()
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		w.value(path+"."+k, fields[k], depth)
	}
}

func (w *attrWalker) value(path string, val *structpb.Value, depth int) {
	switch k := val.GetKind().(type) {
	case *structpb.Value_NumberValue:
		if math.IsNaN(k.NumberValue) || math.IsInf(k.NumberValue, 0) {
			w.add(path, "must be a finite number")
		}
	case *structpb.Value_StructValue:
		w.object(path, k.StructValue, depth+1)
	case *structpb.Value_ListValue:
		if depth+1 > MaxAttributesDepth {
			w.add(path, "nested deeper than %d levels", MaxAttributesDepth)
			return
		}
		for i, e := range k.ListValue.GetValues() {
			w.value(path+"["+strconv.Itoa(i)+"]", e, depth+1)
		}
	}
}
