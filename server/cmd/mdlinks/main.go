// Command mdlinks fails when a relative link in the repository's Markdown
// does not resolve: a file or folder that does not exist, or a #fragment
// that names no heading of the target. `make lint` runs it, so that the
// docs a user has (the repository, nothing else) stay navigable.
package main

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"unicode"

	"github.com/pdp-dev/pdp/server/internal/mdfiles"
)

func main() {
	root := "."
	if len(os.Args) > 1 {
		root = os.Args[1]
	}
	problems, err := check(root)
	if err != nil {
		fmt.Fprintln(os.Stderr, "mdlinks:", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Println(p)
	}
	if len(problems) > 0 {
		fmt.Printf("mdlinks: %d broken links\n", len(problems))
		os.Exit(1)
	}
}

// link matches an inline Markdown link or image target.
var link = regexp.MustCompile(`\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)

// check returns one line per broken link in the Markdown files under root.
func check(root string) ([]string, error) {
	var problems []string
	headings := map[string]map[string]bool{}
	err := mdfiles.Walk(root, func(path string) error {
		lines, err := readLines(path)
		if err != nil {
			return err
		}
		for i, text := range lines {
			for _, m := range link.FindAllStringSubmatch(stripCode(text), -1) {
				if msg := resolve(path, m[1], headings); msg != "" {
					problems = append(problems, fmt.Sprintf("%s:%d: %s: %s", path, i+1, m[1], msg))
				}
			}
		}
		return nil
	})
	return problems, err
}

// readLines returns the file's lines, with fenced code blocks blanked so
// that example text is not taken for links or headings. Inline code stays:
// GitHub keeps its text in a heading's anchor.
func readLines(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var (
		out   []string
		fence bool
	)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		t := sc.Text()
		if strings.HasPrefix(strings.TrimSpace(t), "```") {
			fence = !fence
			out = append(out, "")
			continue
		}
		if fence {
			t = ""
		}
		out = append(out, t)
	}
	return out, sc.Err()
}

// stripCode removes inline code spans.
func stripCode(s string) string {
	var b strings.Builder
	in := false
	for _, r := range s {
		if r == '`' {
			in = !in
			continue
		}
		if !in {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// resolve returns why target, linked from the file from, does not
// resolve, or "" when it does.
func resolve(from, target string, headings map[string]map[string]bool) string {
	if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
		return ""
	}
	path, frag, _ := strings.Cut(target, "#")
	dest := from
	if path != "" {
		dest = filepath.Join(filepath.Dir(from), filepath.FromSlash(path))
		if _, err := os.Stat(dest); err != nil {
			return "no such file"
		}
	}
	if frag == "" || !strings.HasSuffix(dest, ".md") {
		return ""
	}
	h, ok := headings[dest]
	if !ok {
		var err error
		if h, err = anchors(dest); err != nil {
			return err.Error()
		}
		headings[dest] = h
	}
	if !h[strings.ToLower(frag)] {
		return "no heading with that anchor"
	}
	return ""
}

// anchors returns the anchors of a file's headings, as GitHub makes them:
// lower case, punctuation dropped, spaces as hyphens, repeats numbered.
func anchors(path string) (map[string]bool, error) {
	lines, err := readLines(path)
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	seen := map[string]int{}
	for _, l := range lines {
		trimmed := strings.TrimLeft(l, "#")
		if trimmed == l || !strings.HasPrefix(trimmed, " ") {
			continue
		}
		a := slug(strings.TrimSpace(trimmed))
		if n := seen[a]; n > 0 {
			out[fmt.Sprintf("%s-%d", a, n)] = true
		} else {
			out[a] = true
		}
		seen[a]++
	}
	return out, nil
}

func slug(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}
