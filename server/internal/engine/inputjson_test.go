package engine

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// TestInputJSONMatchesBuildInput checks that InputJSON, written as JSON
// and read back as OPA reads a REST request's input, is the very value
// Decide evaluates.
func TestInputJSONMatchesBuildInput(t *testing.T) {
	t.Parallel()
	req := fullRequest()
	want, err := buildInput(req, clock)
	if err != nil {
		t.Fatal(err)
	}
	in, err := InputJSON(req, clock)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := ast.InterfaceToValue(in)
	if err != nil {
		t.Fatal(err)
	}
	if direct.Compare(want) != 0 {
		t.Errorf("InputJSON as a value:\n got %v\nwant %v", direct, want)
	}
	raw, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var back any
	if err := util.UnmarshalJSON(raw, &back); err != nil {
		t.Fatal(err)
	}
	got, err := ast.InterfaceToValue(back)
	if err != nil {
		t.Fatal(err)
	}
	if got.Compare(want) != 0 {
		t.Errorf("InputJSON through JSON:\n got %s\nwant %v", raw, want)
	}
}

// TestInputJSONClock checks that a request without a time takes it from
// now, and that a nil now falls back to the wall clock.
func TestInputJSONClock(t *testing.T) {
	t.Parallel()
	req := fullRequest()
	req.Time = time.Time{}
	in, err := InputJSON(req, clock)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := in["time_ns"], json.Number("1767272400000000000"); got != want {
		t.Errorf("time_ns = %v, want %v (the clock's)", got, want)
	}
	before := time.Now().UnixNano()
	in, err = InputJSON(req, nil)
	if err != nil {
		t.Fatal(err)
	}
	ns, err := in["time_ns"].(json.Number).Int64()
	if err != nil || ns < before {
		t.Errorf("time_ns with a nil clock = %v (%v), want at least %d", in["time_ns"], err, before)
	}
}

// TestInputJSONBadAttributes checks that attributes OPA cannot represent
// fail as InvalidArgument, like Decide.
func TestInputJSONBadAttributes(t *testing.T) {
	t.Parallel()
	req := fullRequest()
	req.Attributes = map[string]any{"c": make(chan int)}
	_, err := InputJSON(req, clock)
	var f *fault.Error
	if !errors.As(err, &f) || f.Code != fault.InvalidArgument {
		t.Fatalf("err = %v, want an InvalidArgument fault", err)
	}
}
