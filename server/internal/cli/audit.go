package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/checkpoint"
	"github.com/pdp-dev/pdp/server/internal/config"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/redis"
)

// auditOpenTimeout bounds connecting to a Redis store.
const auditOpenTimeout = 15 * time.Second

const auditUsage = `usage: pdp audit verify [--store STORE] [--checkpoints FILE --checkpoint-pubkey FILE]
       pdp audit keygen KEYFILE

verify walks the audit log's hash chain from its first event and reports
the first broken link: a record changed after it was written, a record
that does not link to the one before it, or a missing, repeated or
reordered record. With --checkpoints it also checks the signed checkpoints
a server wrote with --audit-checkpoints: each signature, and that the
chain still holds, at each checkpoint's seq, the event it signed; so a
chain rewritten or re-hashed from any point before the latest checkpoint,
or cut below it, is found too. Exits 0 when everything holds, 1 when
something does not or the store cannot be read.

A bolt file is locked while a server has it open: stop the server, or
verify a copy of the file (copy the checkpoints file first, then the
store, so that the store is not older than the latest checkpoint).

keygen writes a new Ed25519 key for --audit-checkpoint-key to KEYFILE
(mode 0600) and its public key, for --checkpoint-pubkey, to KEYFILE.pub.

flags of verify:
`

// runAudit is `pdp audit SUBCOMMAND`: verify or keygen.
func runAudit(ctx context.Context, args []string, env Env) int {
	if len(args) > 0 && args[0] == "keygen" {
		return runAuditKeygen(args[1:], env)
	}
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
			fmt.Fprint(env.Stderr, auditUsage)
			return ExitOK
		}
		fmt.Fprintln(env.Stderr, "usage: pdp audit verify [--store STORE] [--checkpoints FILE --checkpoint-pubkey FILE]\n       pdp audit keygen KEYFILE")
		return ExitUsage
	}
	fs := flag.NewFlagSet("pdp audit verify", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	def := env.Getenv("PDP_STORE")
	if def == "" {
		def = config.DefaultStore
	}
	storeFlag := fs.String("store", def, "the server's --store (default $PDP_STORE, else "+config.DefaultStore+")")
	cpFlags := registerCheckpointFlags(fs)
	fs.Usage = func() {
		fmt.Fprint(env.Stderr, auditUsage)
		fs.PrintDefaults()
	}
	rest, code, done := parseArgs(fs, args[1:])
	if done {
		return code
	}
	if len(rest) > 0 {
		fmt.Fprintf(env.Stderr, "pdp audit verify: unexpected arguments: %s\n", strings.Join(rest, " "))
		return ExitUsage
	}
	// The checkpoints are read before the chain, so that a chain appended
	// meanwhile only grows past them.
	cps, code := cpFlags.read(env)
	if code != ExitOK {
		return code
	}
	log, closeLog, err := openAuditLog(ctx, *storeFlag)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp audit verify: %v\n", err)
		var usage usageError
		if errors.As(err, &usage) {
			return ExitUsage
		}
		return ExitError
	}
	defer closeLog()
	r, err := audit.Verify(ctx, log)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp audit verify: %v\n", err)
		return ExitError
	}
	code = printVerify(env.Stdout, r)
	if cps == nil {
		return code
	}
	cr, err := checkpoint.Check(ctx, log, cps.lines)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp audit verify: %v\n", err)
		return ExitError
	}
	if c := printCheckpoints(env.Stdout, cps, cr); c != ExitOK {
		code = c
	}
	return code
}

// printVerify prints the outcome and returns the exit code.
func printVerify(w io.Writer, r audit.Report) int {
	if r.OK() {
		head := r.Head
		if head == "" {
			head = "none (the log is empty)"
		}
		fmt.Fprintf(w, "audit chain verified: %d events, head %s\n", r.Events, head)
		return ExitOK
	}
	fmt.Fprintf(w, "audit chain broken at seq %d: %s\n", r.Broken.Seq, r.Broken)
	fmt.Fprintf(w, "%d events verified before the break\n", r.Events)
	return ExitError
}

// openAuditLog opens the audit log of a --store value for reading. A bolt
// file must exist: verifying never creates one.
func openAuditLog(ctx context.Context, v string) (audit.Log, func(), error) {
	spec, err := config.ParseStore(v)
	if err != nil {
		return nil, nil, usageError{fmt.Errorf("--store: %w", err)}
	}
	switch spec.Kind {
	case config.StoreBolt:
		if _, err := os.Stat(spec.Path); err != nil {
			return nil, nil, fmt.Errorf("--store: %w", err)
		}
		st, err := bolt.Open(spec.Path, bolt.Options{SweepInterval: -1})
		if err != nil {
			return nil, nil, err
		}
		return st.AuditLog(), func() { _ = st.Close() }, nil
	case config.StoreRedis:
		ctx, cancel := context.WithTimeout(ctx, auditOpenTimeout)
		defer cancel()
		// No sweeper: verifying links nothing a stopped replica left in
		// an outbox; the running servers do that.
		st, err := redis.Open(ctx, spec.URL, redis.Options{SweepInterval: -1})
		if err != nil {
			return nil, nil, err
		}
		return st.AuditLog(), func() { _ = st.Close() }, nil
	}
	return nil, nil, usageError{errors.New(`--store: a "memory:" store lives only inside its server; there is nothing to verify`)}
}
