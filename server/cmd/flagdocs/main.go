// Command flagdocs writes the `pdp serve` flag tables into the Markdown
// docs from the flags the server registers (config.FlagTable), so that the
// docs cannot drift from the code. A table sits between
//
//	<!-- flags:AREA,AREA:begin -->
//	<!-- flags:end -->
//
// naming the areas it lists (config.FlagAreas); every area is listed in at
// least one table, and a page may repeat an area another page lists. `flagdocs -w` rewrites the tables (`make docs`);
// without -w it fails when one is stale, and a test runs that check.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"github.com/pdp-dev/pdp/server/internal/config"

	"github.com/pdp-dev/pdp/server/internal/mdfiles"
)

func main() {
	write := flag.Bool("w", false, "rewrite stale tables instead of failing")
	flag.Parse()
	root := "."
	if flag.NArg() > 0 {
		root = flag.Arg(0)
	}
	stale, err := run(root, *write)
	if err != nil {
		fmt.Fprintln(os.Stderr, "flagdocs:", err)
		os.Exit(2)
	}
	for _, path := range stale {
		if *write {
			fmt.Println("flagdocs: rewrote", path)
		} else {
			fmt.Println("flagdocs: stale flag table in", path)
		}
	}
	if len(stale) > 0 && !*write {
		fmt.Println("flagdocs: run `make docs` to regenerate the flag tables from server/internal/config")
		os.Exit(1)
	}
}

// begin matches a table's opening marker; end its closing one.
var (
	begin = regexp.MustCompile(`(?m)^<!-- flags:([a-z,]+):begin -->\n`)
	end   = regexp.MustCompile(`(?m)^<!-- flags:end -->$`)
)

// run regenerates the flag tables of the Markdown files under root and
// returns the files whose tables were stale (rewritten when write is set).
func run(root string, write bool) ([]string, error) {
	var stale []string
	seen := map[string]bool{}
	err := mdfiles.Walk(root, func(path string) error {
		old, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		text, areas, err := regenerate(string(old))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		for _, a := range areas {
			seen[a] = true
		}
		if text == string(old) {
			return nil
		}
		stale = append(stale, path)
		if write {
			return os.WriteFile(path, []byte(text), 0o644)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var missing []string
	for _, a := range config.FlagAreas() {
		if !seen[a] {
			missing = append(missing, a)
		}
	}
	if len(missing) > 0 {
		return stale, fmt.Errorf("no flag table lists the area(s) %s: add them to a <!-- flags:...:begin --> marker", strings.Join(missing, ", "))
	}
	return stale, nil
}

// regenerate replaces the body of every flag table in text and returns the
// areas the tables list.
func regenerate(text string) (string, []string, error) {
	var (
		out   strings.Builder
		areas []string
	)
	for {
		b := begin.FindStringSubmatchIndex(text)
		before := text
		if b != nil {
			before = text[:b[0]]
		}
		if end.MatchString(before) {
			return "", nil, errors.New("<!-- flags:end --> without its begin marker")
		}
		if b == nil {
			out.WriteString(text)
			return out.String(), areas, nil
		}
		names := strings.Split(text[b[2]:b[3]], ",")
		e := end.FindStringIndex(text[b[1]:])
		if e == nil {
			return "", nil, fmt.Errorf("<!-- flags:%s:begin --> has no <!-- flags:end -->", text[b[2]:b[3]])
		}
		table, err := config.FlagTable(names...)
		if err != nil {
			return "", nil, err
		}
		for _, n := range names {
			if slices.Contains(areas, n) {
				return "", nil, fmt.Errorf("flag area %q is listed twice in one table", n)
			}
			areas = append(areas, n)
		}
		out.WriteString(text[:b[1]])
		out.WriteString("\n" + table + "\n")
		out.WriteString(text[b[1]+e[0] : b[1]+e[1]])
		text = text[b[1]+e[1]:]
	}
}
