// Package authzentest validates AuthZEN documents against JSON schemas of
// the AuthZEN Authorization API 1.0 and its obligations profile, for the
// tests of package authzen and the end-to-end tests of pdptest.
//
// The schemas in schemas/ were written for this repository from the
// normative text of the specification (each names the section it
// encodes); the specification's repository is not available as a Go
// module, and the JSON schemas published beside it disagree with its text
// (a Decision's context there admits no member at all). They allow unknown
// members, since receivers must ignore them.
package authzentest

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schemas/*.json
var schemaFiles embed.FS

// base is the URL the schemas' $id values start with.
const base = "https://pdp.invalid/authzen/"

// The schemas of the documents, by what they validate.
const (
	EvaluationRequest   = "evaluation-request.json"
	EvaluationResponse  = "evaluation-response.json"
	EvaluationsRequest  = "evaluations-request.json"
	EvaluationsResponse = "evaluations-response.json"
	SubjectSearch       = "search-request.json#/$defs/subject"
	ResourceSearch      = "search-request.json#/$defs/resource"
	ActionSearch        = "search-request.json#/$defs/action"
	SubjectResults      = "search-response.json#/$defs/subject"
	ResourceResults     = "search-response.json#/$defs/resource"
	ActionResults       = "search-response.json#/$defs/action"
	Metadata            = "metadata.json"
	// Obligations checks context.obligations of a Decision against the
	// obligations profile.
	Obligations = "obligations.json"
)

var (
	compileOnce sync.Once
	compiler    *jsonschema.Compiler
	compileErr  error
	mu          sync.Mutex
	compiled    = map[string]*jsonschema.Schema{}
)

func load() {
	compiler = jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	compiler.AssertFormat()
	compileErr = fs.WalkDir(schemaFiles, "schemas", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := schemaFiles.ReadFile(p)
		if err != nil {
			return err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		return compiler.AddResource(base+path.Base(p), doc)
	})
}

// Schema returns the compiled schema name (one of the constants).
func Schema(name string) (*jsonschema.Schema, error) {
	compileOnce.Do(load)
	if compileErr != nil {
		return nil, compileErr
	}
	mu.Lock()
	defer mu.Unlock()
	if s, ok := compiled[name]; ok {
		return s, nil
	}
	s, err := compiler.Compile(base + name)
	if err != nil {
		return nil, err
	}
	compiled[name] = s
	return s, nil
}

// Check validates the JSON document body against the schema name.
func Check(name string, body []byte) error {
	s, err := Schema(name)
	if err != nil {
		return err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(doc)
}

// Valid fails t unless body is valid against every schema named.
func Valid(t testing.TB, body []byte, names ...string) {
	t.Helper()
	for _, name := range names {
		if err := Check(name, body); err != nil {
			t.Errorf("%s is not valid against %s:\n%v", body, name, err)
		}
	}
}
