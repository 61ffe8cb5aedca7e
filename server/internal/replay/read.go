package replay

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decisionlog"
)

// Record is one decision of the decision log, as replay reads it.
type Record struct {
	// DecisionID is the decision's id.
	DecisionID string `json:"decision_id"`
	// Time is when it was decided.
	Time time.Time `json:"time"`
	// Tenant and Environment are the request's.
	Tenant      string `json:"tenant"`
	Environment string `json:"environment"`
	// Action is the action asked for.
	Action struct {
		Name string `json:"name"`
	} `json:"action"`
	// Decision, Enforced and WouldDecide are the outcome.
	Decision    string `json:"decision"`
	Enforced    bool   `json:"enforced"`
	WouldDecide string `json:"would_decide"`
	// Reasons and StepUps are the reason codes and step-up kinds.
	Reasons []string `json:"reasons"`
	StepUps []string `json:"step_ups"`
	// PolicyRevision is the set that decided.
	PolicyRevision string `json:"policy_revision"`
	// InputFormat, Input and Masked are the recorded input
	// (--decision-log-inputs); Input is nil in a line without one.
	InputFormat int            `json:"input_format"`
	Input       map[string]any `json:"input"`
	Masked      []string       `json:"masked"`
	// ShadowOf is set on the lines of shadow evaluation, which are not
	// decisions.
	ShadowOf string `json:"shadow_of"`
}

// Outcome is what the record decided.
func (r *Record) Outcome() Outcome {
	return Outcome{Decision: r.Decision, WouldDecide: r.WouldDecide}
}

// maxLine bounds one line of the log.
const maxLine = 16 << 20

// ReadFile calls fn for every decision of a decision log file, gzipped or
// not (a rotated file), in file order; lines of shadow evaluation are
// skipped. An unreadable line, or one whose input has a format this
// version does not know, stops the read with an error naming file and
// line; so does an error of fn.
func ReadFile(path string, fn func(*Record) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var r io.Reader = f
	if strings.HasSuffix(path, ".gz") {
		gz, err := gzip.NewReader(f)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		defer gz.Close()
		r = gz
	}
	return Read(path, r, fn)
}

// Read is ReadFile of a stream; name names it in errors.
func Read(name string, r io.Reader, fn func(*Record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var rec Record
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber() // nanosecond times stay exact
		if err := dec.Decode(&rec); err != nil {
			return fmt.Errorf("%s:%d: not a decision log line: %w", name, n, err)
		}
		if rec.ShadowOf != "" {
			continue
		}
		if rec.Input != nil && rec.InputFormat != decisionlog.InputFormat {
			return fmt.Errorf("%s:%d: input_format %d; this pdp reads format %d", name, n, rec.InputFormat, decisionlog.InputFormat)
		}
		if err := fn(&rec); err != nil {
			return fmt.Errorf("%s:%d: %w", name, n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// FindDecision returns the record of a decision id in the files, read in
// the order given; nil when none holds it.
func FindDecision(paths []string, id string) (*Record, error) {
	var found *Record
	errFound := errors.New("found")
	for _, p := range paths {
		err := ReadFile(p, func(r *Record) error {
			if r.DecisionID == id {
				found = r
				return errFound
			}
			return nil
		})
		if found != nil {
			return found, nil
		}
		// The current file may not exist yet, or have just been rotated.
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
	}
	return nil, nil
}
