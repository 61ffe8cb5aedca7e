package cli

import (
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/pdp-dev/pdp/server/internal/audit/checkpoint"
)

// maxFindingsShown bounds the checkpoint findings printed one by one.
const maxFindingsShown = 20

// fileList is a repeatable file flag.
type fileList []string

func (l *fileList) String() string { return strings.Join(*l, ",") }

func (l *fileList) Set(v string) error {
	if v == "" {
		return errors.New("empty value")
	}
	*l = append(*l, v)
	return nil
}

// checkpointFlags are verify's checkpoint flags.
type checkpointFlags struct {
	file    *string
	pubkeys fileList
}

func registerCheckpointFlags(fs *flag.FlagSet) *checkpointFlags {
	f := &checkpointFlags{}
	f.file = fs.String("checkpoints", "", "the --audit-checkpoints file of the server: check its signed checkpoints against the chain")
	fs.Var(&f.pubkeys, "checkpoint-pubkey", "PEM public key the checkpoints are signed with (repeatable, for rotated keys)")
	return f
}

// checkpointsRead is a checkpoints file read and verified.
type checkpointsRead struct {
	path  string
	lines []checkpoint.Line
	torn  *checkpoint.Line
}

// read reads the checkpoints file with the public keys given; nil when
// --checkpoints is not set. The code is ExitOK unless it failed.
func (f *checkpointFlags) read(env Env) (*checkpointsRead, int) {
	if *f.file == "" {
		if len(f.pubkeys) > 0 {
			fmt.Fprintln(env.Stderr, "pdp audit verify: --checkpoint-pubkey needs --checkpoints")
			return nil, ExitUsage
		}
		return nil, ExitOK
	}
	if len(f.pubkeys) == 0 {
		fmt.Fprintln(env.Stderr, "pdp audit verify: --checkpoints needs --checkpoint-pubkey: the key the checkpoints are signed with")
		return nil, ExitUsage
	}
	var pubs []ed25519.PublicKey
	for _, p := range f.pubkeys {
		data, err := os.ReadFile(p)
		if err != nil {
			fmt.Fprintf(env.Stderr, "pdp audit verify: --checkpoint-pubkey: %v\n", err)
			return nil, ExitError
		}
		pub, err := checkpoint.ParsePublicKey(data)
		if err != nil {
			fmt.Fprintf(env.Stderr, "pdp audit verify: --checkpoint-pubkey %s: %v\n", p, err)
			return nil, ExitError
		}
		pubs = append(pubs, pub)
	}
	ks, err := checkpoint.NewKeys(pubs...)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp audit verify: --checkpoint-pubkey: %v\n", err)
		return nil, ExitError
	}
	lines, torn, err := checkpoint.ReadFile(*f.file, ks)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp audit verify: --checkpoints: %v\n", err)
		return nil, ExitError
	}
	return &checkpointsRead{path: *f.file, lines: lines, torn: torn}, ExitOK
}

// printCheckpoints prints what Check found and returns the exit code.
func printCheckpoints(w io.Writer, cps *checkpointsRead, r checkpoint.Report) int {
	if cps.torn != nil {
		fmt.Fprintf(w, "checkpoint line %d was cut short while being written (a crash); it is left out\n", cps.torn.N)
	}
	if r.OK() {
		l := r.Latest
		fmt.Fprintf(w, "checkpoints verified: %d signed checkpoints in %s, the chain holds them all; latest seq %d hash %s signed %s (line %d)\n",
			r.Verified, cps.path, l.Seq, orNone(l.Hash), l.Time.Format(time.RFC3339), r.LatestLine)
		return ExitOK
	}
	fmt.Fprintf(w, "checkpoints do not hold: %d of %d lines in %s verified, the chain holds %d; %d findings:\n",
		r.Verified, r.Lines, cps.path, r.Held, len(r.Findings))
	for i, f := range r.Findings {
		if i == maxFindingsShown {
			fmt.Fprintf(w, "  ... and %d more\n", len(r.Findings)-i)
			break
		}
		fmt.Fprintf(w, "  %s\n", f)
	}
	if r.DivergesAt > 0 {
		fmt.Fprintf(w, "the chain matches the checkpoints up to seq %d and differs from the checkpoint at seq %d: "+
			"records after seq %d, at or before seq %d, were rewritten or removed\n", r.HoldsTo, r.DivergesAt, r.HoldsTo, r.DivergesAt)
	}
	return ExitError
}

func orNone(hash string) string {
	if hash == "" {
		return "none (an empty chain)"
	}
	return hash
}

// runAuditKeygen is `pdp audit keygen KEYFILE`: a new Ed25519 key for
// --audit-checkpoint-key in KEYFILE (0600) and its public key in
// KEYFILE.pub. Existing files are never overwritten.
func runAuditKeygen(args []string, env Env) int {
	fs := flag.NewFlagSet("pdp audit keygen", flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	pubFlag := fs.String("pub", "", "where the public key goes (default KEYFILE.pub)")
	fs.Usage = func() {
		fmt.Fprintln(env.Stderr, "usage: pdp audit keygen KEYFILE [--pub FILE]\n\n"+
			"Writes a new Ed25519 private key (PEM, PKCS #8) to KEYFILE with mode 0600, for pdp serve\n"+
			"--audit-checkpoint-key, and its public key (PEM) to KEYFILE.pub, for pdp audit verify\n"+
			"--checkpoint-pubkey. Keep KEYFILE where only the server reads it, and the public key where\n"+
			"the store's writers cannot replace it.\n\nflags:")
		fs.PrintDefaults()
	}
	pos, code, done := parseArgs(fs, args)
	if done {
		return code
	}
	if len(pos) != 1 || pos[0] == "" {
		fs.Usage()
		return ExitUsage
	}
	keyFile, pubFile := pos[0], *pubFlag
	if pubFile == "" {
		pubFile = keyFile + ".pub"
	}
	privPEM, pubPEM, err := checkpoint.GenerateKey()
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp audit keygen: %v\n", err)
		return ExitError
	}
	pub, err := checkpoint.ParsePublicKey(pubPEM)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp audit keygen: %v\n", err)
		return ExitError
	}
	kid, err := checkpoint.KeyID(pub)
	if err != nil {
		fmt.Fprintf(env.Stderr, "pdp audit keygen: %v\n", err)
		return ExitError
	}
	if err := writeNew(keyFile, privPEM, 0o600); err != nil {
		fmt.Fprintf(env.Stderr, "pdp audit keygen: %v\n", err)
		return ExitError
	}
	if err := writeNew(pubFile, pubPEM, 0o644); err != nil {
		_ = os.Remove(keyFile)
		fmt.Fprintf(env.Stderr, "pdp audit keygen: %v\n", err)
		return ExitError
	}
	fmt.Fprintf(env.Stdout, "private key: %s (give it to pdp serve --audit-checkpoint-key; whoever reads it can sign checkpoints)\n"+
		"public key:  %s (give it to pdp audit verify --checkpoint-pubkey)\nkey id:      %s\n%s", keyFile, pubFile, kid, pubPEM)
	return ExitOK
}

// writeNew writes data to a file that must not exist yet, and syncs it.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(path)
	}
	return err
}
