// Package docexamples reads the console transcripts of the repository's
// Markdown so that a test can replay them against a server started like
// `make run` and fail when a document no longer shows what the commands
// print. The convention a document follows, and what the comparison
// forgives, is described in docs/development.md ("Examples that run").
//
// A ```console block is a transcript: a line starting with "$ " is a
// command, continued on the next lines while the shell would still wait for
// more (an open quote, a trailing backslash, an unfinished loop); the lines
// after it, up to the next command, are what it prints, standard output and
// standard error together as a terminal shows them. Blocks of any other
// language are not run.
package docexamples

import (
	"bufio"
	"fmt"
	"regexp"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Block is one ```console block.
type Block struct {
	// Line is the 1-based line of the opening fence.
	Line int
	// Commands are the block's commands in order.
	Commands []Command
}

// Command is one command of a transcript and the output it should print.
type Command struct {
	// Line is the 1-based line of the "$ " line.
	Line int
	// Script is the command without its prompt, continuation lines joined
	// with newlines.
	Script string
	// Want is the expected output, one entry per line, trailing blank
	// lines removed.
	Want []string
}

// fence matches an opening or closing code fence and captures its
// indentation, its marker and its info string.
var fence = regexp.MustCompile("^( *)(```+|~~~+)\\s*(.*)$")

// Parse returns the console blocks of a Markdown document. A block that
// is not a well-formed transcript (output before the first command, a
// command the block ends in the middle of) is an error naming its line.
func Parse(markdown string) ([]Block, error) {
	var (
		blocks  []Block
		sc      = bufio.NewScanner(strings.NewReader(markdown))
		lineNo  int
		inFence bool
		marker  string
		indent  int
		console bool
		body    []string
		start   int
	)
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	for sc.Scan() {
		lineNo++
		line := sc.Text()
		m := fence.FindStringSubmatch(line)
		if !inFence {
			if m == nil {
				continue
			}
			inFence, marker, indent, start = true, m[2], len(m[1]), lineNo
			lang, _, _ := strings.Cut(m[3], " ")
			console = lang == "console"
			body = body[:0]
			continue
		}
		if m != nil && strings.HasPrefix(m[2], marker) && m[3] == "" {
			inFence = false
			if console {
				b, err := parseTranscript(body, start)
				if err != nil {
					return nil, err
				}
				blocks = append(blocks, b)
			}
			continue
		}
		// Content of a fence nested in a list item is indented like its
		// fence; only that much is removed.
		body = append(body, trimIndent(line, indent))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if inFence {
		return nil, fmt.Errorf("line %d: code block never closed", start)
	}
	return blocks, nil
}

func trimIndent(line string, n int) string {
	for i := 0; i < n && strings.HasPrefix(line, " "); i++ {
		line = line[1:]
	}
	return line
}

// parseTranscript splits the lines of a console block, whose fence is on
// line fenceLine, into commands and their outputs.
func parseTranscript(lines []string, fenceLine int) (Block, error) {
	b := Block{Line: fenceLine}
	for i := 0; i < len(lines); i++ {
		line, at := lines[i], fenceLine+1+i
		cmd, isCmd := strings.CutPrefix(line, "$ ")
		if !isCmd {
			if len(b.Commands) == 0 {
				if strings.TrimSpace(line) == "" {
					continue
				}
				return b, fmt.Errorf("line %d: output before the first command (a command starts with \"$ \")", at)
			}
			last := &b.Commands[len(b.Commands)-1]
			last.Want = append(last.Want, line)
			continue
		}
		script := cmd
		for {
			complete, err := completeCommand(script)
			if err != nil {
				return b, fmt.Errorf("line %d: %v", at, err)
			}
			if complete {
				break
			}
			if i+1 == len(lines) {
				return b, fmt.Errorf("line %d: the block ends inside the command", at)
			}
			i++
			script += "\n" + lines[i]
		}
		b.Commands = append(b.Commands, Command{Line: at, Script: script})
	}
	for i := range b.Commands {
		b.Commands[i].Want = trimBlankTail(b.Commands[i].Want)
	}
	return b, nil
}

// completeCommand reports whether script is a whole shell command, or an
// error when no continuation could make it one.
func completeCommand(script string) (bool, error) {
	if strings.HasSuffix(script, "\\") { // the parser takes a backslash at the end of input as complete
		return false, nil
	}
	_, err := syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(script), "")
	switch {
	case err == nil:
		return true, nil
	case syntax.IsIncomplete(err):
		return false, nil
	default:
		return false, err
	}
}

func trimBlankTail(lines []string) []string {
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
