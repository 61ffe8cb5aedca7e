package tenantdata

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// shaper walks the generic tree guided by the message descriptors: it
// refuses unknown fields and values of the wrong type with a proto path each,
// and rewrites durations and timestamps into the form protojson reads.
type shaper struct {
	v fault.Violations
}

// joinPath appends a field name or map key to a path.
func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// message shapes one JSON object of message type md. Null values mean unset
// and are dropped.
func (s *shaper) message(md protoreflect.MessageDescriptor, obj map[string]any, path string) map[string]any {
	out := make(map[string]any, len(obj))
	seen := map[protoreflect.FieldNumber]string{}
	for _, key := range sortedKeys(obj) {
		fd := md.Fields().ByName(protoreflect.Name(key))
		if fd == nil {
			fd = md.Fields().ByJSONName(key)
		}
		if fd == nil {
			s.v.Add(joinPath(path, key), "unknown field%s", suggest(md, key))
			continue
		}
		fpath := joinPath(path, string(fd.Name()))
		if other, dup := seen[fd.Number()]; dup {
			s.v.Add(fpath, "written twice, as %q and %q", other, key)
			continue
		}
		seen[fd.Number()] = key
		if obj[key] == nil {
			continue
		}
		if v, ok := s.field(fd, obj[key], fpath); ok {
			out[key] = v
		}
	}
	return out
}

// sortedKeys returns the keys of m in order, for deterministic messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// suggest names the field a misspelt key probably meant.
func suggest(md protoreflect.MessageDescriptor, key string) string {
	squash := func(s string) string {
		return strings.NewReplacer("_", "", "-", "", " ", "").Replace(strings.ToLower(s))
	}
	want := squash(key)
	fields := md.Fields()
	for i := range fields.Len() {
		if name := string(fields.Get(i).Name()); squash(name) == want {
			return fmt.Sprintf(" (did you mean %q?)", name)
		}
	}
	return ""
}

func (s *shaper) field(fd protoreflect.FieldDescriptor, val any, path string) (any, bool) {
	switch {
	case fd.IsMap():
		obj, ok := val.(map[string]any)
		if !ok {
			s.typeError(path, "a mapping", val)
			return nil, false
		}
		out := make(map[string]any, len(obj))
		good := true
		for _, k := range sortedKeys(obj) {
			e := obj[k]
			kp := joinPath(path, k)
			if e == nil {
				// "production:" with nothing under it is an environment
				// that keeps every preset value.
				if mv := fd.MapValue(); mv.Kind() == protoreflect.MessageKind && !isWellKnown(mv.Message()) {
					out[k] = map[string]any{}
					continue
				}
				s.v.Add(kp, "must have a value")
				good = false
				continue
			}
			if v, ok := s.single(fd.MapValue(), e, kp); ok {
				out[k] = v
			} else {
				good = false
			}
		}
		return out, good
	case fd.IsList():
		list, ok := val.([]any)
		if !ok {
			s.typeError(path, "a list", val)
			return nil, false
		}
		out := make([]any, 0, len(list))
		good := true
		for i, e := range list {
			ep := fmt.Sprintf("%s[%d]", path, i)
			if e == nil {
				s.v.Add(ep, "must not be empty")
				good = false
				continue
			}
			if v, ok := s.single(fd, e, ep); ok {
				out = append(out, v)
			} else {
				good = false
			}
		}
		return out, good
	}
	return s.single(fd, val, path)
}

// single shapes one value of fd's kind (a list element or a map value too).
func (s *shaper) single(fd protoreflect.FieldDescriptor, val any, path string) (any, bool) {
	switch fd.Kind() {
	case protoreflect.BoolKind:
		if _, ok := val.(bool); ok {
			return val, true
		}
		s.typeError(path, "true or false", val)
	case protoreflect.StringKind:
		if _, ok := val.(string); ok {
			return val, true
		}
		s.typeError(path, "a string", val)
	case protoreflect.DoubleKind, protoreflect.FloatKind:
		n, ok := val.(json.Number)
		if !ok {
			s.typeError(path, "a number", val)
			return nil, false
		}
		if f, err := strconv.ParseFloat(string(n), 64); err != nil || math.IsInf(f, 0) {
			s.v.Add(path, "%s is out of range", n)
			return nil, false
		}
		return n, true
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return s.integer(fd.Kind(), val, path)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		switch fd.Message().FullName() {
		case "google.protobuf.Duration":
			return s.duration(val, path)
		case "google.protobuf.Timestamp":
			return s.timestamp(val, path)
		}
		obj, ok := val.(map[string]any)
		if !ok {
			s.typeError(path, "a mapping", val)
			return nil, false
		}
		return s.message(fd.Message(), obj, path), true
	default:
		// Enums and bytes do not occur in the policy; protojson decides.
		return val, true
	}
	return nil, false
}

func (s *shaper) integer(kind protoreflect.Kind, val any, path string) (any, bool) {
	n, ok := val.(json.Number)
	if !ok {
		s.typeError(path, "a whole number", val)
		return nil, false
	}
	bits := 64
	switch kind {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		bits = 32
	}
	unsigned := kind == protoreflect.Uint32Kind || kind == protoreflect.Fixed32Kind ||
		kind == protoreflect.Uint64Kind || kind == protoreflect.Fixed64Kind
	var err error
	if unsigned {
		if strings.HasPrefix(string(n), "-") {
			s.v.Add(path, "must not be negative, got %s", n)
			return nil, false
		}
		_, err = strconv.ParseUint(string(n), 10, bits)
	} else {
		_, err = strconv.ParseInt(string(n), 10, bits)
	}
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			s.v.Add(path, "%s is out of range", n)
		} else {
			s.v.Add(path, "must be a whole number, got %s", n)
		}
		return nil, false
	}
	return n, true
}

// duration rewrites "4h", "90m" or "1h30m" into protojson's "14400s" form.
func (s *shaper) duration(val any, path string) (any, bool) {
	switch x := val.(type) {
	case string:
		d, err := time.ParseDuration(strings.TrimSpace(x))
		if err != nil {
			s.v.Add(path, `%q is not a duration; write it like "4h", "90m", "1h30m" or "14400s"`, x)
			return nil, false
		}
		return protojsonDuration(d), true
	case json.Number:
		if f, err := strconv.ParseFloat(string(x), 64); err == nil && f == 0 {
			return "0s", true
		}
	}
	s.typeError(path, `a duration such as "4h", "90m" or "14400s"`, val)
	return nil, false
}

// protojsonDuration renders d as seconds with up to nine decimals.
func protojsonDuration(d time.Duration) string {
	sign := ""
	secs, nanos := int64(d/time.Second), int64(d%time.Second)
	if d < 0 {
		sign, secs, nanos = "-", -secs, -nanos
	}
	if nanos == 0 {
		return fmt.Sprintf("%s%ds", sign, secs)
	}
	frac := strings.TrimRight(fmt.Sprintf("%09d", nanos), "0")
	return fmt.Sprintf("%s%d.%ss", sign, secs, frac)
}

// timestamp checks an RFC 3339 timestamp and rewrites it in UTC.
func (s *shaper) timestamp(val any, path string) (any, bool) {
	x, ok := val.(string)
	if !ok {
		s.typeError(path, `an RFC 3339 timestamp such as "2025-03-01T00:00:00Z"`, val)
		return nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(x))
	if err != nil {
		s.v.Add(path, `%q is not an RFC 3339 timestamp such as "2025-03-01T00:00:00Z"`, x)
		return nil, false
	}
	t = t.UTC()
	if t.Year() < 1 || t.Year() > 9999 {
		s.v.Add(path, "%q is outside the years 0001 to 9999", x)
		return nil, false
	}
	return t.Format(time.RFC3339Nano), true
}

func (s *shaper) typeError(path, want string, got any) {
	s.v.Add(path, "must be %s, not %s", want, describe(got))
}

// describe names a generic JSON value for error messages.
func describe(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case bool:
		return fmt.Sprintf("the boolean %v", x)
	case string:
		return fmt.Sprintf("the string %q", x)
	case json.Number:
		return "the number " + string(x)
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("a %T", v)
}
