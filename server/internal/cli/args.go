package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
)

// parseInterleaved parses args with fs, accepting flags before, between and
// after the positional arguments (`pdp test rego/ -v` as well as `pdp test
// -v rego/`), and returns the positional arguments in order. Everything
// after "--" is positional.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if consumed := len(args) - len(rest); consumed > 0 && args[consumed-1] == "--" {
			return append(positional, rest...), nil
		}
		if len(rest) == 0 {
			return positional, nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// parseArgs is parseInterleaved for a command's Run: when the command must
// stop there, done is true and code is its exit status, ExitOK after -h
// and ExitUsage after a bad flag (fs has said which).
func parseArgs(fs *flag.FlagSet, args []string) (positional []string, code int, done bool) {
	positional, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, ExitOK, true
	}
	if err != nil {
		return nil, ExitUsage, true
	}
	return positional, 0, false
}

// refuse prints each of a command's problems with its flags, after the
// flag set's name, then the usage line, to w, and returns ExitUsage.
func refuse(w io.Writer, fs *flag.FlagSet, problems []string, usage string) int {
	for _, p := range problems {
		fmt.Fprintf(w, "%s: %s\n", fs.Name(), p)
	}
	fmt.Fprintln(w, usage)
	return ExitUsage
}
