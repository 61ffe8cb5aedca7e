package cli

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/redis/rueidis"
	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/audittest"
	"github.com/pdp-dev/pdp/server/internal/audit/checkpoint"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/redis"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

// anchored is a bolt store with an audit chain and a checkpoints file
// signed at some of its heads, as a server with --audit-checkpoints leaves
// them.
type anchored struct {
	dir, db, key, pub, checkpoints string
	signer                         *checkpoint.Signer
	events                         []audit.Event
}

func newAnchored(t *testing.T, n int, at ...uint64) *anchored {
	t.Helper()
	a := &anchored{dir: t.TempDir()}
	a.db, a.key, a.checkpoints = filepath.Join(a.dir, "pdp.db"), filepath.Join(a.dir, "checkpoint.key"), filepath.Join(a.dir, "checkpoints.jws")
	if r := runPDP(t, nil, "audit", "keygen", a.key); r.code != ExitOK {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	}
	a.pub = a.key + ".pub"
	data, _ := os.ReadFile(a.key)
	priv, err := checkpoint.ParsePrivateKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if a.signer, err = checkpoint.NewSigner(priv); err != nil {
		t.Fatal(err)
	}
	a.grow(t, n, at...)
	return a
}

// grow appends n events and checkpoints the heads at seqs at.
func (a *anchored) grow(t *testing.T, n int, at ...uint64) {
	t.Helper()
	st, err := bolt.Open(a.db, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, err := checkpoint.OpenFile(a.checkpoints)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sign := func(h audit.Head) {
		line, err := a.signer.Sign(h, audittest.T0)
		if err == nil {
			err = f.Write(line)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, seq := range at {
		if seq == 0 {
			sign(audit.Head{})
		}
	}
	for range n {
		ev := audittest.MustAppend(t, st.AuditLog(), audittest.Entry("acme", len(a.events)))
		a.events = append(a.events, ev)
		for _, seq := range at {
			if seq == ev.Seq {
				sign(audit.HeadOf(ev))
			}
		}
	}
}

// tamper edits the bolt file directly, as anyone who can write it can.
func (a *anchored) tamper(t *testing.T, edit func(recs, heads *bbolt.Bucket) error) {
	t.Helper()
	db, err := bbolt.Open(a.db, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error { return edit(tx.Bucket([]byte("audit")), tx.Bucket([]byte("audit_head"))) })
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// rehashFrom alters the record at seq, links every later record again and
// moves the head to the last: every link of the chain holds.
func rehashFrom(seq uint64) func(recs, heads *bbolt.Bucket) error {
	return func(recs, heads *bbolt.Bucket) error {
		var prev audit.Head
		if seq > 1 {
			ev, err := audit.Decode(recs.Get(seqKey(seq - 1)))
			if err != nil {
				return err
			}
			prev = audit.HeadOf(ev)
		}
		c := recs.Cursor()
		for k, v := c.Seek(seqKey(seq)); k != nil; k, v = c.Next() {
			ev, err := audit.Decode(v)
			if err != nil {
				return err
			}
			if ev.Seq == seq {
				ev.Reason = "nothing happened"
			}
			ev.PrevHash = prev.Hash
			if ev.Hash, err = audit.ComputeHash(ev); err != nil {
				return err
			}
			rec, _ := audit.Encode(ev)
			if err := recs.Put(k, rec); err != nil {
				return err
			}
			prev = audit.HeadOf(ev)
		}
		return putHead(heads, prev)
	}
}

// cutAfter deletes the records after seq and moves the head to seq.
func cutAfter(seq uint64) func(recs, heads *bbolt.Bucket) error {
	return func(recs, heads *bbolt.Bucket) error {
		var keys [][]byte
		c := recs.Cursor()
		for k, _ := c.Seek(seqKey(seq + 1)); k != nil; k, _ = c.Next() {
			keys = append(keys, append([]byte(nil), k...))
		}
		for _, k := range keys {
			if err := recs.Delete(k); err != nil {
				return err
			}
		}
		ev, err := audit.Decode(recs.Get(seqKey(seq)))
		if err != nil {
			return err
		}
		return putHead(heads, audit.HeadOf(ev))
	}
}

func putHead(heads *bbolt.Bucket, h audit.Head) error {
	b, _ := json.Marshal(map[string]any{"seq": h.Seq, "hash": h.Hash, "id": h.ID})
	return heads.Put([]byte("head"), b)
}

func (a *anchored) verify(t *testing.T, withCheckpoints bool) result {
	t.Helper()
	args := []string{"audit", "verify", "--store", "bolt:" + a.db}
	if withCheckpoints {
		args = append(args, "--checkpoints", a.checkpoints, "--checkpoint-pubkey", a.pub)
	}
	return runPDP(t, nil, args...)
}

// mustVerifyCleanAlone fails unless the chain alone verifies: the hash
// chain by itself cannot see the rewrite.
func (a *anchored) mustVerifyCleanAlone(t *testing.T) {
	t.Helper()
	if r := a.verify(t, false); r.code != ExitOK {
		t.Fatalf("without checkpoints the rewrite should verify clean (the defect): code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestAuditVerifyCheckpointsHoldForAGrowingChain(t *testing.T) {
	a := newAnchored(t, 10, 0, 4, 10)
	r := a.verify(t, true)
	want := fmt.Sprintf("audit chain verified: 10 events, head %s\n"+
		"checkpoints verified: 3 signed checkpoints in %s, the chain holds them all; latest seq 10 hash %s signed 2026-03-10T12:00:00Z (line 3)\n",
		a.events[9].Hash, a.checkpoints, a.events[9].Hash)
	if r.code != ExitOK || r.stdout != want {
		t.Fatalf("code %d, stdout:\n%s\nwant:\n%s\nstderr: %s", r.code, r.stdout, want, r.stderr)
	}
	a.grow(t, 1500)
	if r := a.verify(t, true); r.code != ExitOK || !strings.Contains(r.stdout, "audit chain verified: 1510 events") {
		t.Fatalf("after growing: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

func TestAuditVerifyCheckpointsFindACutTailAndRewrittenHead(t *testing.T) {
	a := newAnchored(t, 12, 0, 5, 12)
	a.tamper(t, cutAfter(8))
	a.tamper(t, rehashFrom(8))
	a.mustVerifyCleanAlone(t)
	r := a.verify(t, true)
	if r.code != ExitError ||
		!strings.Contains(r.stdout, "audit chain verified: 8 events") ||
		!strings.Contains(r.stdout, "checkpoints do not hold: 3 of 3 lines in "+a.checkpoints+" verified, the chain holds 2; 1 findings:") ||
		!strings.Contains(r.stdout, "checkpoint line 3 (seq 12, signed 2026-03-10T12:00:00Z, key "+a.signer.KeyID()+"): expected seq 12 hash "+a.events[11].Hash) ||
		!strings.Contains(r.stdout, "the log's head is seq 8 hash ") ||
		!strings.Contains(r.stdout, "the chain was cut below seq 12") ||
		!strings.Contains(r.stdout, "the chain matches the checkpoints up to seq 5 and differs from the checkpoint at seq 12") {
		t.Fatalf("code %d, stdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestAuditVerifyCheckpointsFindARehashFromAnyPoint(t *testing.T) {
	a := newAnchored(t, 12, 2, 6, 12)
	a.tamper(t, rehashFrom(4))
	a.mustVerifyCleanAlone(t)
	r := a.verify(t, true)
	if r.code != ExitError ||
		!strings.Contains(r.stdout, "; 2 findings:") ||
		!strings.Contains(r.stdout, "checkpoint line 2 (seq 6, signed 2026-03-10T12:00:00Z, key "+a.signer.KeyID()+"): expected seq 6 hash "+a.events[5].Hash) ||
		!strings.Contains(r.stdout, "the chain was rewritten at or before seq 6") ||
		!strings.Contains(r.stdout, "checkpoint line 3 (seq 12") ||
		!strings.Contains(r.stdout, "up to seq 2 and differs from the checkpoint at seq 6: records after seq 2, at or before seq 6, were rewritten or removed") {
		t.Fatalf("code %d, stdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestAuditVerifyCheckpointsFindATruncation(t *testing.T) {
	a := newAnchored(t, 12, 0, 9, 12)
	a.tamper(t, cutAfter(10))
	a.mustVerifyCleanAlone(t)
	r := a.verify(t, true)
	if r.code != ExitError || !strings.Contains(r.stdout, "; 1 findings:") ||
		!strings.Contains(r.stdout, "checkpoint line 3 (seq 12") || !strings.Contains(r.stdout, "cut below seq 12") {
		t.Fatalf("code %d, stdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
}

func TestAuditVerifyCheckpointsReportAForgedCheckpoint(t *testing.T) {
	a := newAnchored(t, 6, 0, 6)
	// Someone without the key appends a checkpoint of a head of their own.
	other := filepath.Join(a.dir, "other.key")
	if r := runPDP(t, nil, "audit", "keygen", other); r.code != ExitOK {
		t.Fatal(r.stderr)
	}
	data, _ := os.ReadFile(other)
	priv, _ := checkpoint.ParsePrivateKey(data)
	forger, _ := checkpoint.NewSigner(priv)
	line, _ := forger.Sign(audit.Head{Seq: 3, Hash: strings.Repeat("0", 64), ID: "x"}, audittest.T0)
	parts := strings.Split(string(line), ".")
	real, _ := a.signer.Sign(audit.HeadOf(a.events[2]), audittest.T0)
	// Its own header claims its own key; a copy claims the real key's id.
	claimed := strings.Split(string(real), ".")[0] + "." + parts[1] + "." + parts[2]
	f, _ := os.OpenFile(a.checkpoints, os.O_APPEND|os.O_WRONLY, 0)
	fmt.Fprintf(f, "%s\n%s\n", line, claimed)
	f.Close()

	r := a.verify(t, true)
	if r.code != ExitError || !strings.Contains(r.stdout, "checkpoints do not hold: 2 of 4 lines") ||
		!strings.Contains(r.stdout, "checkpoint line 3: signed by an unknown key \""+forger.KeyID()+"\"") ||
		!strings.Contains(r.stdout, "checkpoint line 4: the signature does not verify with key "+a.signer.KeyID()) ||
		!strings.Contains(r.stdout, "the checkpoint was forged or altered") {
		t.Fatalf("code %d, stdout:\n%s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// Given both public keys, only the copy claiming the real key is forged.
	r = runPDP(t, nil, "audit", "verify", "--store", "bolt:"+a.db, "--checkpoints", a.checkpoints,
		"--checkpoint-pubkey", a.pub, "--checkpoint-pubkey", other+".pub")
	if r.code != ExitError || strings.Contains(r.stdout, "unknown key") || !strings.Contains(r.stdout, "line 3 (seq 3") ||
		!strings.Contains(r.stdout, "line 4: the signature does not verify") {
		t.Fatalf("both keys: code %d, stdout:\n%s", r.code, r.stdout)
	}
}

func TestAuditVerifyCheckpointsUsage(t *testing.T) {
	a := newAnchored(t, 2, 2)
	empty := filepath.Join(a.dir, "empty.jws")
	_ = os.WriteFile(empty, nil, 0o600)
	tests := []struct {
		args   []string
		code   int
		stderr string
		stdout string
	}{
		{[]string{"--checkpoints", a.checkpoints}, ExitUsage, "--checkpoints needs --checkpoint-pubkey", ""},
		{[]string{"--checkpoint-pubkey", a.pub}, ExitUsage, "--checkpoint-pubkey needs --checkpoints", ""},
		{[]string{"--checkpoints", a.checkpoints, "--checkpoint-pubkey", a.key}, ExitError, `no PEM "PUBLIC KEY" block`, ""},
		{[]string{"--checkpoints", filepath.Join(a.dir, "nope"), "--checkpoint-pubkey", a.pub}, ExitError, "no such file", ""},
		{[]string{"--checkpoints", empty, "--checkpoint-pubkey", a.pub}, ExitError, "", "no checkpoints in the file"},
	}
	for _, tc := range tests {
		r := runPDP(t, nil, append([]string{"audit", "verify", "--store", "bolt:" + a.db}, tc.args...)...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.stderr) || !strings.Contains(r.stdout, tc.stdout) {
			t.Errorf("%v: code %d, stdout %q, stderr %q", tc.args, r.code, r.stdout, r.stderr)
		}
	}
}

func TestAuditKeygen(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "cp.key")
	r := runPDP(t, nil, "audit", "keygen", key)
	if r.code != ExitOK {
		t.Fatalf("keygen: %d %s", r.code, r.stderr)
	}
	priv, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	k, err := checkpoint.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pubData, _ := os.ReadFile(key + ".pub")
	pub, err := checkpoint.ParsePublicKey(pubData)
	if err != nil || !pub.Equal(k.Public()) {
		t.Fatalf("the .pub file does not hold the key's public half: %v", err)
	}
	kid, _ := checkpoint.KeyID(pub)
	if !strings.Contains(r.stdout, "key id:      "+kid+"\n") || !strings.HasSuffix(r.stdout, string(pubData)) {
		t.Errorf("stdout %q", r.stdout)
	}
	if st, _ := os.Stat(key); st.Mode().Perm() != 0o600 {
		t.Errorf("private key mode %v", st.Mode())
	}
	// An existing key is never overwritten.
	if r := runPDP(t, nil, "audit", "keygen", key); r.code != ExitError || !strings.Contains(r.stderr, "exists") {
		t.Errorf("second keygen: code %d, %s", r.code, r.stderr)
	}
	if again, _ := os.ReadFile(key); string(again) != string(priv) {
		t.Error("the key was overwritten")
	}
	if r := runPDP(t, nil, "audit", "keygen"); r.code != ExitUsage {
		t.Errorf("keygen without KEYFILE: code %d", r.code)
	}
}

func TestAuditVerifyCheckpointsRedis(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	u := srv.URL(0) + "?prefix=cptest"
	st, err := redis.Open(ctx, u, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	a := newAnchored(t, 0)
	f, _ := checkpoint.OpenFile(a.checkpoints)
	var evs []audit.Event
	for i := range 6 {
		evs = append(evs, audittest.MustAppend(t, st.AuditLog(), audittest.Entry("acme", i)))
		if i == 5 {
			line, _ := a.signer.Sign(audit.HeadOf(evs[i]), audittest.T0)
			_ = f.Write(line)
		}
	}
	f.Close()
	verify := func() result {
		return runPDP(t, map[string]string{"PDP_STORE": u}, "audit", "verify", "--checkpoints", a.checkpoints, "--checkpoint-pubkey", a.pub)
	}
	if r := verify(); r.code != ExitOK || !strings.Contains(r.stdout, "checkpoints verified: 1 signed checkpoints") {
		t.Fatalf("sound: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	// Cut the tail: drop seq 5 and 6 and move the head to seq 4.
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr()}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	h := audit.HeadOf(evs[3])
	for _, cmd := range []rueidis.Completed{
		c.B().Hdel().Key("cptest:{audit}:log:events").Field("5", "6").Build(),
		c.B().Hset().Key("cptest:{audit}:log:head").FieldValue().FieldValue("seq", "4").FieldValue("hash", h.Hash).FieldValue("id", h.ID).Build(),
	} {
		if err := c.Do(ctx, cmd).Error(); err != nil {
			t.Fatal(err)
		}
	}
	if r := runPDP(t, map[string]string{"PDP_STORE": u}, "audit", "verify"); r.code != ExitOK {
		t.Fatalf("the cut chain alone should verify clean: %d %s", r.code, r.stdout)
	}
	if r := verify(); r.code != ExitError || !strings.Contains(r.stdout, "the log's head is seq 4") || !strings.Contains(r.stdout, "cut below seq 6") {
		t.Fatalf("cut: code %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
