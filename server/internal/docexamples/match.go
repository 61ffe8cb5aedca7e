package docexamples

import (
	"regexp"
	"strings"
)

// Normalization replaces what differs from one run to the next, in the
// expected and the actual output alike, by a placeholder.
type Normalization struct {
	// Name says what is replaced, for docs/development.md.
	Name string
	re   *regexp.Regexp
	with string
}

// Normalizations are applied, in order, to every line before comparing.
// Each is what must vary: a document cannot know it.
var Normalizations = []Normalization{
	// Decision, change and event ids are UUIDs drawn per call.
	{Name: "UUIDs", re: regexp.MustCompile(`\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`), with: "<uuid>"},
	// Protobuf's JSON encoder adds a space after some commas (one-line
	// output) or colons (indented output), differently per build, so
	// that nobody relies on its whitespace.
	{Name: "protojson's whitespace", re: regexp.MustCompile(`, ([\[{"\-0-9tfn])`), with: ",$1"},
	{Name: "protojson's whitespace", re: regexp.MustCompile(`": {2}`), with: `": `},
	// Pending change ids are drawn per change.
	{Name: "change ids", re: regexp.MustCompile(`\b[0-9a-f]{24}\b`), with: "<change id>"},
	// API keys and their SHA-256 digests are drawn per key (pdp keygen).
	{Name: "API keys", re: regexp.MustCompile(`\bpdp_[A-Za-z0-9_-]{43}\b`), with: "<api key>"},
	{Name: "SHA-256 digests", re: regexp.MustCompile(`\b[0-9a-f]{64}\b`), with: "<sha256>"},
	// The policy revision is a hash of every module and tenant file, so
	// it changes with any edit of the Rego library or the demo.
	{Name: "policy revisions", re: regexp.MustCompile(`\b[0-9a-f]{16}\b`), with: "<revision>"},
}

// Normalize applies Normalizations to one line and drops trailing spaces
// and carriage returns (HTTP headers end in one).
func Normalize(line string) string {
	for _, n := range Normalizations {
		line = n.re.ReplaceAllString(line, n.with)
	}
	return strings.TrimRight(line, " \t\r")
}

// ellipsis stands for what a document leaves out: alone on a line it
// matches any number of lines (none included); inside a line, any text.
const ellipsis = "..."

// Match reports whether got, the lines a command printed, is what want
// shows, both normalized.
func Match(want, got []string) bool {
	pats := make([]*regexp.Regexp, len(want))
	for i, w := range want {
		w = Normalize(w)
		if strings.TrimSpace(w) == ellipsis {
			continue
		}
		parts := strings.Split(w, ellipsis)
		for j, p := range parts {
			parts[j] = regexp.QuoteMeta(p)
		}
		pats[i] = regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
	}
	norm := make([]string, len(got))
	for i, g := range got {
		norm[i] = Normalize(g)
	}
	// seen[i][j] records that want[i:] was already tried against got[j:].
	seen := make([][]bool, len(want)+1)
	for i := range seen {
		seen[i] = make([]bool, len(got)+1)
	}
	var match func(i, j int) bool
	match = func(i, j int) bool {
		if seen[i][j] {
			return false
		}
		seen[i][j] = true
		switch {
		case i == len(want):
			return j == len(got)
		case pats[i] == nil: // a line of its own "...": skip none or more
			for k := j; k <= len(got); k++ {
				if match(i+1, k) {
					return true
				}
			}
			return false
		case j == len(got):
			return false
		default:
			return pats[i].MatchString(norm[j]) && match(i+1, j+1)
		}
	}
	return match(0, 0)
}
