package config

import (
	"flag"
	"fmt"
	"strings"
	"time"
)

// FlagAreas names the areas of the serve flags in the order Parse registers
// them; each is one file of this package ("core" is config.go).
func FlagAreas() []string {
	c := Default()
	var names []string
	for _, a := range c.flagAreas(new(stringList)) {
		names = append(names, a.name)
	}
	return names
}

// FlagTable renders the serve flags of the named areas as one Markdown
// table (flag, environment variable, default, help), built from the flags
// Parse registers so that the docs cannot drift from them. Areas come in the
// order given, flags by name within an area.
func FlagTable(areas ...string) (string, error) {
	c := Default()
	byName := map[string]flagArea{}
	for _, a := range c.flagAreas(new(stringList)) {
		byName[a.name] = a
	}
	var b strings.Builder
	b.WriteString("| flag | environment | default | what |\n|---|---|---|---|\n")
	for _, name := range areas {
		a, ok := byName[name]
		if !ok {
			return "", fmt.Errorf("unknown flag area %q: want one of %s", name, strings.Join(FlagAreas(), ", "))
		}
		fs := flag.NewFlagSet(name, flag.ContinueOnError)
		a.register(fs)
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(&b, "| `--%s` | `%s` | %s | %s |\n", f.Name, EnvName(f.Name), flagDefault(f), cell(f.Usage))
		})
	}
	return b.String(), nil
}

// flagDefault is a flag's default as a table cell: "none" when empty, a
// duration without its trailing zero units ("2m", not "2m0s").
func flagDefault(f *flag.Flag) string {
	v := f.DefValue
	if v == "" {
		return "none"
	}
	if g, ok := f.Value.(flag.Getter); ok {
		if _, isDuration := g.Get().(time.Duration); isDuration {
			for _, zero := range []string{"m0s", "h0m"} {
				if strings.HasSuffix(v, zero) {
					v = strings.TrimSuffix(v, zero[1:])
				}
			}
		}
	}
	return "`" + v + "`"
}

// cell escapes what would end a Markdown table cell.
func cell(s string) string {
	return strings.ReplaceAll(s, "|", `\|`)
}
