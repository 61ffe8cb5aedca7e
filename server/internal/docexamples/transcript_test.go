package docexamples_test

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/pdp-dev/pdp/server/internal/docexamples"
)

const doc = "# title\n" +
	"\n" +
	"```sh\n" +
	"$ not run: a sh block\n" +
	"```\n" +
	"\n" +
	"```console\n" +
	"$ grpcurl -d '{\"tenant\":\"acme\",\n" +
	"    \"action\":{\"name\":\"login\"}}' \\\n" +
	"  127.0.0.1:9191 pdp.v1.DecisionService/Check\n" +
	"{\n" +
	"  \"decision\": \"DECISION_DENY\"\n" +
	"}\n" +
	"\n" +
	"$ echo $?\n" +
	"0\n" +
	"```\n" +
	"\n" +
	"- in a list:\n" +
	"\n" +
	"  ```console\n" +
	"  $ for i in 1 2; do\n" +
	"      echo $i\n" +
	"    done\n" +
	"  1\n" +
	"  2\n" +
	"  ```\n"

func TestParseFindsConsoleCommandsTheirContinuationsAndOutputs(t *testing.T) {
	blocks, err := docexamples.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := []docexamples.Block{
		{Line: 7, Commands: []docexamples.Command{
			{Line: 8, Script: "grpcurl -d '{\"tenant\":\"acme\",\n    \"action\":{\"name\":\"login\"}}' \\\n  127.0.0.1:9191 pdp.v1.DecisionService/Check",
				Want: []string{"{", `  "decision": "DECISION_DENY"`, "}"}},
			{Line: 15, Script: "echo $?", Want: []string{"0"}},
		}},
		{Line: 21, Commands: []docexamples.Command{
			{Line: 22, Script: "for i in 1 2; do\n    echo $i\n  done", Want: []string{"1", "2"}},
		}},
	}
	if diff := cmp.Diff(want, blocks); diff != "" {
		t.Errorf("blocks (-want +got):\n%s", diff)
	}
}

func TestParseRefusesATranscriptItCannotSplit(t *testing.T) {
	for name, tc := range map[string]struct{ md, err string }{
		"output first":     {"```console\nhello\n$ echo hello\n```\n", "line 2: output before the first command"},
		"unfinished quote": {"```console\n$ echo 'hello\n```\n", "line 2: the block ends inside the command"},
		"unclosed fence":   {"```console\n$ echo hello\n", "line 1: code block never closed"},
		"not shell":        {"```console\n$ echo )\n```\n", "line 2: "},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := docexamples.Parse(tc.md)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Parse = %v, want an error containing %q", err, tc.err)
			}
		})
	}
}

func TestMatchForgivesOnlyEllipsesAndWhatMustVary(t *testing.T) {
	got := []string{
		"{",
		`  "decision": "DECISION_ALLOW",`,
		`  "reasons": [],`,
		`  "decisionId": "01a24df9-7c5a-75c2-8a42-9f3962a3011a",`,
		`  "policyRevision": "e77d3af5554ec644"  `,
		"}",
	}
	for name, tc := range map[string]struct {
		want []string
		ok   bool
	}{
		"the same":                          {got, true},
		"another id and revision":           {[]string{"{", `  "decision": "DECISION_ALLOW",`, `  "reasons": [],`, `  "decisionId": "01a22223-659f-757d-bd9c-4c62c9888975",`, `  "policyRevision": "c82b062c82d73c0c"`, "}"}, true},
		"lines left out":                    {[]string{"{", `  "decision": "DECISION_ALLOW",`, "  ...", "}"}, true},
		"a differing line between ellipses": {[]string{"{", "...", `  "decision": "DECISION_ALLOW",`, `  "reasons": [],`, `  "decisionId": "x",`, "...", `  "policyRevision": "e77d3af5554ec644"`, "...", "}"}, false},
		"text left out":                     {[]string{"{", `  "decision": "DECISION_...",`, "...", "}"}, true},
		"another decision":                  {[]string{"{", `  "decision": "DECISION_DENY",`, "...", "}"}, false},
		"a line too many":                   {append(append([]string{}, got...), "extra"), false},
		"a line missing":                    {got[:5], false},
		"nothing for something":             {nil, false},
		"an ellipsis for everything":        {[]string{"..."}, true},
	} {
		t.Run(name, func(t *testing.T) {
			if ok := docexamples.Match(tc.want, got); ok != tc.ok {
				t.Fatalf("Match = %v, want %v", ok, tc.ok)
			}
		})
	}
	if !docexamples.Match([]string{`{"a":1,"b":[true,"x"]}`, `  "c": "d"`}, []string{`{"a":1, "b":[true, "x"]}`, `  "c":  "d"`}) {
		t.Error("protojson's random whitespace must not matter")
	}
	if docexamples.Match([]string{`{"a":1,"b":2}`}, []string{`{"a":1,"b":3}`}) {
		t.Error("a value that differs must")
	}
	if !docexamples.Match(nil, nil) || docexamples.Match(nil, []string{"output"}) {
		t.Error("an example showing no output must print none")
	}
}
