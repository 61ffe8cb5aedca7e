package tenantdata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v3"
)

// decodeYAML reads one YAML document with YAML 1.2 scalar rules and converts
// it to the generic JSON tree. The parser's own limits (alias expansion,
// depth) apply; a panic inside it becomes an error.
func decodeYAML(data []byte) (tree any, err error) {
	defer func() {
		if r := recover(); r != nil {
			tree, err = nil, fmt.Errorf("is not valid YAML (%v)", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc any
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, yamlError(err)
	}
	for {
		var extra any
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, yamlError(err)
		}
		if extra != nil {
			return nil, errors.New("holds more than one YAML document; write one file per tenant")
		}
	}
	return fromYAML(doc, 0)
}

func yamlError(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		return fmt.Errorf("is not valid YAML: %s", strings.Join(te.Errors, "; "))
	}
	return fmt.Errorf("is not valid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
}

// fromYAML converts what the YAML decoder produced into the types
// encoding/json produces with UseNumber.
func fromYAML(v any, depth int) (any, error) {
	switch x := v.(type) {
	case nil, bool, string:
		return x, nil
	case int:
		return json.Number(strconv.Itoa(x)), nil
	case int64:
		return json.Number(strconv.FormatInt(x, 10)), nil
	case uint64:
		return json.Number(strconv.FormatUint(x, 10)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("holds %v, which is not a finite number", x)
		}
		return json.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
	case time.Time:
		// An unquoted timestamp; keep it as the RFC 3339 text it was.
		return x.Format(time.RFC3339Nano), nil
	case []any:
		if depth >= MaxDepth {
			return nil, fmt.Errorf("is nested more than %d levels deep", MaxDepth)
		}
		out := make([]any, len(x))
		for i, e := range x {
			c, err := fromYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	case map[string]any:
		if depth >= MaxDepth {
			return nil, fmt.Errorf("is nested more than %d levels deep", MaxDepth)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			c, err := fromYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[k] = c
		}
		return out, nil
	case map[any]any:
		if depth >= MaxDepth {
			return nil, fmt.Errorf("is nested more than %d levels deep", MaxDepth)
		}
		out := make(map[string]any, len(x))
		for k, e := range x {
			key, err := yamlKey(k)
			if err != nil {
				return nil, err
			}
			if _, dup := out[key]; dup {
				return nil, fmt.Errorf("has the key %q twice in one mapping", key)
			}
			c, err := fromYAML(e, depth+1)
			if err != nil {
				return nil, err
			}
			out[key] = c
		}
		return out, nil
	}
	return nil, fmt.Errorf("holds a YAML value of unsupported type %T", v)
}

// yamlKey renders a non-string mapping key (1:, true:) as the text it was.
func yamlKey(k any) (string, error) {
	switch x := k.(type) {
	case string:
		return x, nil
	case int, int64, uint64, bool:
		return fmt.Sprint(x), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case nil:
		return "", errors.New("has a mapping key that is null")
	}
	return "", fmt.Errorf("has a mapping key of unsupported type %T", k)
}
