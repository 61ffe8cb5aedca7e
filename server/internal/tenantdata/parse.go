package tenantdata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
)

// MaxFileSize is the largest tenant policy Parse accepts, in bytes.
const MaxFileSize = 1 << 20

// MaxDepth is the deepest nesting of mappings and lists Parse accepts. The
// deepest legitimate setting (environments.X.risk.business_hours.days) sits
// at depth 6.
const MaxDepth = 32

// Parse decodes one tenant policy written in YAML or JSON. filename chooses
// the syntax by extension (.json is JSON, .yaml and .yml are YAML; anything
// else, including "", is JSON when the bytes are valid JSON and YAML
// otherwise) and names the source in errors.
//
// Durations may be written "4h", "90m", "1h30m" or "14400s", field names in
// snake_case or lowerCamelCase, and choice words in any case (see
// Normalize). Every error is a *fault.Error with code InvalidArgument: a
// file that cannot be read as a mapping gets a message naming the file;
// unknown fields and values of the wrong type get one field violation each,
// named by proto path ("environments.production.mfa.mode"). Parse does not
// check values; call Validate for that.
func Parse(filename string, data []byte) (*pdpv1.TenantPolicy, error) {
	if len(data) > MaxFileSize {
		return nil, docError(filename, "is larger than the limit of %d bytes", MaxFileSize)
	}
	tree, err := decode(filename, data)
	if err != nil {
		return nil, docError(filename, "%v", err)
	}
	if tree == nil {
		return nil, docError(filename, "is empty; a tenant policy needs at least plan and environments")
	}
	obj, ok := tree.(map[string]any)
	if !ok {
		return nil, docError(filename, "must be a mapping of settings (tenant, plan, environments), not %s", describe(tree))
	}
	var s shaper
	shaped := s.message((&pdpv1.TenantPolicy{}).ProtoReflect().Descriptor(), obj, "")
	if s.v.Len() > 0 {
		return nil, &fault.Error{Code: fault.InvalidArgument, Message: source(filename) + "invalid tenant policy", Fields: s.v.List()}
	}
	js, err := json.Marshal(shaped)
	if err != nil {
		return nil, docError(filename, "cannot be encoded: %v", err)
	}
	p := &pdpv1.TenantPolicy{}
	if err := protojson.Unmarshal(js, p); err != nil {
		return nil, docError(filename, "%s", strings.TrimPrefix(err.Error(), "proto: "))
	}
	Normalize(p)
	return p, nil
}

// source renders the file name as a message prefix.
func source(filename string) string {
	if filename == "" {
		return ""
	}
	return filename + ": "
}

// docError is a problem with the document as a whole.
func docError(filename, format string, args ...any) *fault.Error {
	what := "tenant policy "
	if filename != "" {
		what = filename + ": tenant policy "
	}
	return &fault.Error{Code: fault.InvalidArgument, Message: what + fmt.Sprintf(format, args...)}
}

// decode turns the bytes into a generic tree of map[string]any, []any,
// string, json.Number, bool and nil. An empty document decodes to nil.
func decode(filename string, data []byte) (any, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	switch strings.ToLower(filepath.Ext(filename)) {
	case ".json":
		return decodeJSON(data)
	case ".yaml", ".yml":
		return decodeYAML(data)
	}
	if json.Valid(data) {
		return decodeJSON(data)
	}
	return decodeYAML(data)
}

// decodeJSON reads JSON token by token, so that it can refuse duplicate keys
// (encoding/json keeps the last silently) and limit the depth.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	v, err := readJSON(dec, data, 0)
	if err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil || !isEOF(err) {
		return nil, fmt.Errorf("JSON has data after the top-level value (line %d)", lineAt(data, dec.InputOffset()))
	}
	return v, nil
}

func readJSON(dec *json.Decoder, data []byte, depth int) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, jsonError(err, data, dec)
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	if depth >= MaxDepth {
		return nil, fmt.Errorf("is nested more than %d levels deep", MaxDepth)
	}
	if d == '[' {
		list := []any{}
		for dec.More() {
			v, err := readJSON(dec, data, depth+1)
			if err != nil {
				return nil, err
			}
			list = append(list, v)
		}
		if _, err := dec.Token(); err != nil {
			return nil, jsonError(err, data, dec)
		}
		return list, nil
	}
	obj := map[string]any{}
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, jsonError(err, data, dec)
		}
		key, _ := kt.(string)
		if _, dup := obj[key]; dup {
			return nil, fmt.Errorf("JSON key %q appears twice in one object (line %d)", key, lineAt(data, dec.InputOffset()))
		}
		v, err := readJSON(dec, data, depth+1)
		if err != nil {
			return nil, err
		}
		obj[key] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, jsonError(err, data, dec)
	}
	return obj, nil
}

func jsonError(err error, data []byte, dec *json.Decoder) error {
	if isEOF(err) {
		return errors.New("JSON ends before the document is complete")
	}
	off := dec.InputOffset()
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = se.Offset
	}
	return fmt.Errorf("is not valid JSON: line %d: %v", lineAt(data, off), err)
}

func isEOF(err error) bool { return errors.Is(err, io.EOF) }

// lineAt is the 1-based line of a byte offset.
func lineAt(data []byte, off int64) int {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	if off < 0 {
		off = 0
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}
