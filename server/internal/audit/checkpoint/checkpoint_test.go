package checkpoint

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"

	"github.com/pdp-dev/pdp/server/internal/audit"
)

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func newSigner(t testing.TB) *Signer {
	t.Helper()
	privPEM, _, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	priv, err := ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func keysOf(t testing.TB, signers ...*Signer) Keys {
	t.Helper()
	var pubs []ed25519.PublicKey
	for _, s := range signers {
		pubs = append(pubs, s.Public())
	}
	ks, err := NewKeys(pubs...)
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func TestKeyIDIsTheRFC7638Thumbprint(t *testing.T) {
	// The Ed25519 key of RFC 8037 appendix A and its thumbprint (A.3).
	x, _ := base64.RawURLEncoding.DecodeString("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo")
	kid, err := KeyID(ed25519.PublicKey(x))
	if err != nil || kid != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("KeyID = %q, %v", kid, err)
	}
}

func TestKeysRoundTripThroughPEM(t *testing.T) {
	privPEM, pubPEM, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(privPEM), "-----BEGIN PRIVATE KEY-----") || !strings.HasPrefix(string(pubPEM), "-----BEGIN PUBLIC KEY-----") {
		t.Fatalf("PEM blocks:\n%s%s", privPEM, pubPEM)
	}
	priv, err := ParsePrivateKey(privPEM)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := ParsePublicKey(pubPEM)
	if err != nil || !pub.Equal(priv.Public()) {
		t.Fatalf("the public key does not match the private one: %v", err)
	}
	if _, err := ParsePrivateKey(pubPEM); err == nil {
		t.Error("a public key parsed as a private key")
	}
	if _, err := ParsePublicKey(privPEM); err == nil {
		t.Error("a private key parsed as a public key")
	}
}

func TestACheckpointIsACompactEdDSAJWS(t *testing.T) {
	s := newSigner(t)
	h := audit.Head{Seq: 42, Hash: strings.Repeat("ab", 32), ID: "019cd7ae-f800-7a31-9b2e-4c0d1f6e8a77"}
	line, err := s.Sign(h, t0.Add(1500*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(line), ".") != 2 || strings.ContainsAny(string(line), " \n") {
		t.Fatalf("not one compact JWS line: %s", line)
	}
	// Any JOSE implementation verifies it with the public key alone.
	body, err := jws.Verify(line, jws.WithKey(jwa.EdDSA(), s.Public()))
	want := `{"hash":"` + h.Hash + `","id":"` + h.ID + `","seq":42,"time":"2026-03-10T12:00:01.5Z"}`
	if err != nil || string(body) != want {
		t.Fatalf("jws.Verify = %s, %v; want %s", body, err, want)
	}
	msg, _ := jws.Parse(line)
	hdr := msg.Signatures()[0].ProtectedHeaders()
	kid, _ := hdr.KeyID()
	typ, _ := hdr.Type()
	if kid != s.KeyID() || typ != Type {
		t.Errorf("header kid %q typ %q", kid, typ)
	}
	cp, err := keysOf(t, s).Verify(line)
	if err != nil || cp.Head() != h || !cp.Time.Equal(t0.Add(1500*time.Millisecond)) || cp.KeyID != s.KeyID() {
		t.Errorf("Verify = %+v, %v", cp, err)
	}
}

func TestForgedCheckpointsDoNotVerify(t *testing.T) {
	s, other := newSigner(t), newSigner(t)
	ks := keysOf(t, s)
	h := audit.Head{Seq: 7, Hash: strings.Repeat("cd", 32), ID: "id-7"}
	good, _ := s.Sign(h, t0)
	parts := strings.Split(string(good), ".")

	// The payload changed to seq 3, the signature kept.
	forged := audit.Head{Seq: 3, Hash: h.Hash, ID: h.ID}
	altered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		[]byte(fmt.Sprintf(`{"hash":%q,"id":%q,"seq":%d,"time":"2026-03-10T12:00:00Z"}`, forged.Hash, forged.ID, forged.Seq))) + "." + parts[2]
	// Signed by another key that claims s's kid.
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, s.KeyID())
	_ = hdr.Set(jws.TypeKey, Type)
	impostor, err := jws.Sign([]byte(`{"hash":"`+h.Hash+`","id":"id-7","seq":7,"time":"2026-03-10T12:00:00Z"}`),
		jws.WithKey(jwa.EdDSA(), other.key, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	unknown, _ := other.Sign(h, t0)
	// alg none, the signature dropped.
	none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"`+s.KeyID()+`","typ":"`+Type+`"}`)) + "." + parts[1] + "."

	tests := []struct {
		name string
		line string
		want error
	}{
		{"AlteredPayload", altered, ErrSignature},
		{"OtherKeyClaimingTheKid", string(impostor), ErrSignature},
		{"UnknownKey", string(unknown), ErrUnknownKey},
		{"AlgNone", none, ErrMalformed},
		{"NotAJWS", "hello", ErrMalformed},
	}
	for _, tc := range tests {
		if _, err := ks.Verify([]byte(tc.line)); !errors.Is(err, tc.want) {
			t.Errorf("%s: Verify = %v, want %v", tc.name, err, tc.want)
		}
	}
	// Both keys given: the other key's own checkpoint verifies.
	if _, err := keysOf(t, s, other).Verify(unknown); err != nil {
		t.Errorf("a checkpoint of a second given key: %v", err)
	}
}

func TestFileAppendsOneLinePerCheckpointWithMode0600(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoints.jws")
	s := newSigner(t)
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		line, _ := s.Sign(audit.Head{}, t0.Add(time.Duration(i)*time.Second))
		if err := f.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, %v; want 0600", st.Mode(), err)
	}
	// Reopened, it appends after the lines there.
	f, _ = OpenFile(path)
	line, _ := s.Sign(audit.Head{}, t0.Add(time.Hour))
	_ = f.Write(line)
	_ = f.Close()
	lines, torn, err := ReadFile(path, keysOf(t, s))
	if err != nil || torn != nil || len(lines) != 4 {
		t.Fatalf("ReadFile = %d lines, torn %v, %v", len(lines), torn, err)
	}
	for i, l := range lines {
		if l.N != i+1 || l.Err != nil {
			t.Errorf("line %d: %+v", i+1, l)
		}
	}
	if !lines[3].Checkpoint.Time.Equal(t0.Add(time.Hour)) {
		t.Errorf("last line signed at %v", lines[3].Checkpoint.Time)
	}
}

func TestFileTornLastLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "checkpoints.jws")
	s := newSigner(t)
	good, _ := s.Sign(audit.Head{}, t0)
	// A crash cut the second write short.
	if err := os.WriteFile(path, append(append(good, '\n'), good[:20]...), 0o600); err != nil {
		t.Fatal(err)
	}
	lines, torn, err := ReadFile(path, keysOf(t, s))
	if err != nil || len(lines) != 1 || torn == nil || torn.N != 2 || !errors.Is(torn.Err, ErrMalformed) {
		t.Fatalf("ReadFile = %v, torn %+v, %v", lines, torn, err)
	}
	// The next checkpoint starts its own line; the torn one stays a
	// malformed line of its own.
	f, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_ = f.Write(good)
	_ = f.Close()
	lines, torn, err = ReadFile(path, keysOf(t, s))
	if err != nil || torn != nil || len(lines) != 3 || lines[1].Err == nil || lines[2].Err != nil {
		t.Fatalf("after reopening: %+v, torn %+v, %v", lines, torn, err)
	}
	// A line far too long is malformed, and reading goes on after it.
	_ = os.WriteFile(path, append(append([]byte(strings.Repeat("x", 3*maxLine)), '\n'), good...), 0o600)
	lines, torn, err = ReadFile(path, keysOf(t, s))
	if err != nil || torn != nil || len(lines) != 2 || !errors.Is(lines[0].Err, ErrMalformed) || lines[1].Err != nil || lines[1].N != 2 {
		t.Fatalf("a long line: %+v, torn %+v, %v", lines, torn, err)
	}
}

func TestOpenFileRefusesADirectory(t *testing.T) {
	if _, err := OpenFile(t.TempDir()); err == nil {
		t.Fatal("OpenFile of a directory succeeded")
	}
}

// chainLog is an audit log over a slice with its head kept apart, as the
// backends keep it; the tests rewrite both as an attacker with write
// access to the store would.
type chainLog struct {
	evs  []audit.Event
	head audit.Head
}

func (c *chainLog) Append(_ context.Context, e audit.Entry) (audit.Event, error) {
	ev, err := audit.Link(c.head, e, t0)
	if err != nil {
		return ev, err
	}
	c.evs = append(c.evs[:ev.Seq-1], ev)
	c.head = audit.HeadOf(ev)
	return ev, nil
}

func (c *chainLog) List(_ context.Context, q audit.Query) ([]audit.Event, uint64, error) {
	var out []audit.Event
	for i := range c.evs {
		if c.evs[i].Seq <= q.After {
			continue
		}
		out = append(out, c.evs[i])
		if len(out) == q.PageSize() && i+1 < len(c.evs) {
			return out, c.evs[i].Seq, nil
		}
	}
	return out, 0, nil
}

func (c *chainLog) Head(context.Context) (audit.Head, error) { return c.head, nil }

func entry(i int) audit.Entry {
	return audit.Entry{Time: t0.Add(time.Duration(i) * time.Second), Actor: "admin", Action: "ip_rule.add",
		Tenant: "acme", Target: fmt.Sprintf("rule-%d", i), Reason: "change"}
}

func newChain(t testing.TB, n int) *chainLog {
	t.Helper()
	c := &chainLog{}
	for i := range n {
		if _, err := c.Append(context.Background(), entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// rehashFrom alters the event at seq and links every event after it
// again, head included: every link holds.
func (c *chainLog) rehashFrom(t testing.TB, seq uint64) {
	t.Helper()
	prev := audit.Head{}
	if seq > 1 {
		prev = audit.HeadOf(c.evs[seq-2])
	}
	for i := int(seq - 1); i < len(c.evs); i++ {
		ev := c.evs[i]
		if ev.Seq == seq {
			ev.Reason = "nothing happened"
		}
		ev.PrevHash = prev.Hash
		var err error
		if ev.Hash, err = audit.ComputeHash(ev); err != nil {
			t.Fatal(err)
		}
		c.evs[i], prev = ev, audit.HeadOf(ev)
	}
	c.head = prev
}

// cut drops the records after seq and moves the head there.
func (c *chainLog) cut(seq uint64) {
	c.evs = c.evs[:seq]
	c.head = audit.Head{}
	if seq > 0 {
		c.head = audit.HeadOf(c.evs[seq-1])
	}
}

// checkpoints signs the chain's head at each of seqs, as a server would
// have when the chain ended there.
func checkpoints(t testing.TB, s *Signer, c *chainLog, seqs ...uint64) []Line {
	t.Helper()
	ks := keysOf(t, s)
	var out []Line
	for i, seq := range seqs {
		h := audit.Head{}
		if seq > 0 {
			h = audit.HeadOf(c.evs[seq-1])
		}
		line, err := s.Sign(h, t0.Add(time.Duration(seq)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		cp, err := ks.Verify(line)
		out = append(out, Line{N: i + 1, Checkpoint: cp, Err: err})
	}
	return out
}

// mustVerifyClean fails unless the chain alone verifies: the attack is one
// the hash chain cannot see.
func mustVerifyClean(t *testing.T, c *chainLog) {
	t.Helper()
	r, err := audit.Verify(context.Background(), c)
	if err != nil || !r.OK() {
		t.Fatalf("the rewritten chain does not verify clean by itself: %+v %v, %v", r, r.Broken, err)
	}
}

func mustCheck(t *testing.T, c *chainLog, lines []Line) Report {
	t.Helper()
	r, err := Check(context.Background(), c, lines)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func problems(r Report) string {
	var b []string
	for _, f := range r.Findings {
		b = append(b, fmt.Sprintf("%d:%s@%d", f.Line, f.Problem, f.Checkpoint.Seq))
	}
	return strings.Join(b, " ")
}

func TestAGrowingChainHoldsItsOldCheckpoints(t *testing.T) {
	s := newSigner(t)
	c := newChain(t, 50)
	lines := checkpoints(t, s, c, 0, 10, 20, 20, 50)
	for i := range 2500 { // beyond two pages
		_, _ = c.Append(context.Background(), entry(50+i))
	}
	r := mustCheck(t, c, lines)
	if !r.OK() || r.Held != 5 || r.Verified != 5 || r.Latest.Seq != 50 || r.LatestLine != 5 || r.DivergesAt != 0 {
		t.Fatalf("Check = %+v: %s", r, problems(r))
	}
}

func TestCutTailAndRewrittenHeadAreFound(t *testing.T) {
	s := newSigner(t)
	c := newChain(t, 30)
	lines := checkpoints(t, s, c, 5, 12, 20, 30)
	// The attacker drops seq 13.. and rewrites seq 12, the new head.
	c.cut(12)
	c.rehashFrom(t, 12)
	mustVerifyClean(t, c)

	r := mustCheck(t, c, lines)
	if got := problems(r); got != "2:rewritten@12 3:truncated@20 4:truncated@30" {
		t.Fatalf("findings %q", got)
	}
	if r.HoldsTo != 5 || r.DivergesAt != 12 || r.Held != 1 {
		t.Errorf("holds to %d, diverges at %d, %d held", r.HoldsTo, r.DivergesAt, r.Held)
	}
	f := r.Findings[0]
	if f.Expected != "seq 12 hash "+lines[1].Checkpoint.Hash+" id "+lines[1].Checkpoint.ID ||
		f.Actual != fmt.Sprintf("seq 12 hash %s id %s", c.head.Hash, c.head.ID) {
		t.Errorf("rewritten: expected %q, actual %q", f.Expected, f.Actual)
	}
	if s := r.Findings[1].String(); !strings.Contains(s, "the log's head is seq 12") || !strings.Contains(s, "cut below seq 20") {
		t.Errorf("truncated: %s", s)
	}
}

func TestARehashFromAnyPointBeforeTheLatestCheckpointIsFound(t *testing.T) {
	s := newSigner(t)
	for _, from := range []uint64{1, 9, 10, 11, 40} {
		c := newChain(t, 40)
		lines := checkpoints(t, s, c, 10, 25, 40)
		c.rehashFrom(t, from)
		mustVerifyClean(t, c)
		r := mustCheck(t, c, lines)
		var want []string
		for i, seq := range []uint64{10, 25, 40} {
			if seq >= from {
				want = append(want, fmt.Sprintf("%d:rewritten@%d", i+1, seq))
			}
		}
		if got := problems(r); got != strings.Join(want, " ") {
			t.Errorf("rehash from %d: findings %q, want %q", from, got, strings.Join(want, " "))
		}
		if len(r.Findings) == 0 || !strings.Contains(r.Findings[0].String(), "rewritten at or before seq") {
			t.Errorf("rehash from %d: findings %v", from, r.Findings)
		}
	}
}

func TestTruncationBelowTheLatestCheckpointIsFound(t *testing.T) {
	s := newSigner(t)
	c := newChain(t, 20)
	lines := checkpoints(t, s, c, 0, 8, 15, 20)
	c.cut(15)
	mustVerifyClean(t, c)
	r := mustCheck(t, c, lines)
	if got := problems(r); got != "4:truncated@20" || r.HoldsTo != 15 || r.DivergesAt != 20 {
		t.Fatalf("cut to 15: %q, holds to %d, diverges at %d", got, r.HoldsTo, r.DivergesAt)
	}
	// Cut to nothing.
	c.cut(0)
	mustVerifyClean(t, c)
	if got := problems(mustCheck(t, c, lines)); got != "2:truncated@8 3:truncated@15 4:truncated@20" {
		t.Fatalf("cut to 0: %q", got)
	}
}

func TestAHeadMovedBackIsATruncationEvenWithTheRecordsLeft(t *testing.T) {
	s := newSigner(t)
	c := newChain(t, 20)
	lines := checkpoints(t, s, c, 20)
	c.head = audit.HeadOf(c.evs[14]) // records 16..20 stay, the next append overwrites them
	mustVerifyClean(t, c)
	if got := problems(mustCheck(t, c, lines)); got != "1:truncated@20" {
		t.Fatalf("findings %q", got)
	}
}

func TestARecordMissingUnderACheckpointIsFound(t *testing.T) {
	s := newSigner(t)
	c := newChain(t, 20)
	lines := checkpoints(t, s, c, 10, 20)
	c.evs = append(c.evs[:9], c.evs[10:]...) // seq 10 gone
	r := mustCheck(t, c, lines)
	if got := problems(r); got != "1:truncated@10" || !strings.Contains(r.Findings[0].Actual, "no record at seq 10 (the next is seq 11)") {
		t.Fatalf("findings %q: %v", got, r.Findings)
	}
}

func TestForgedAndMalformedLinesAreFindings(t *testing.T) {
	s, other := newSigner(t), newSigner(t)
	c := newChain(t, 10)
	lines := checkpoints(t, s, c, 5, 10)
	ks := keysOf(t, s)
	forged, _ := other.Sign(audit.HeadOf(c.evs[9]), t0)
	parts := strings.Split(string(forged), ".")
	good := strings.Split(mustSign(t, s, audit.HeadOf(c.evs[9])), ".")
	for n, text := range []string{good[0] + "." + parts[1] + "." + parts[2], string(forged), "garbage"} {
		cp, err := ks.Verify([]byte(text))
		lines = append(lines, Line{N: 3 + n, Checkpoint: cp, Err: err})
	}
	r := mustCheck(t, c, lines)
	if got := problems(r); got != "3:signature@0 4:unknown_key@0 5:malformed@0" || r.Verified != 2 || r.Held != 2 {
		t.Fatalf("findings %q, %d verified, %d held", got, r.Verified, r.Held)
	}
	if s := r.Findings[0].String(); !strings.Contains(s, "line 3") || !strings.Contains(s, "forged or altered") {
		t.Errorf("forged: %s", s)
	}
	// No checkpoint at all is a finding too.
	if got := problems(mustCheck(t, c, nil)); got != "0:none@0" {
		t.Errorf("no lines: %q", got)
	}
}

func mustSign(t testing.TB, s *Signer, h audit.Head) string {
	t.Helper()
	line, err := s.Sign(h, t0)
	if err != nil {
		t.Fatal(err)
	}
	return string(line)
}

func TestLatestReadsTheLastVerifiedCheckpointFromTheEnd(t *testing.T) {
	s, other := newSigner(t), newSigner(t)
	ks := keysOf(t, s)
	c := newChain(t, 400)
	path := filepath.Join(t.TempDir(), "checkpoints.jws")
	if _, ok, err := Latest(path, ks); ok || err != nil {
		t.Fatalf("no file: ok %v, %v", ok, err)
	}
	f, _ := OpenFile(path)
	for seq := uint64(1); seq <= 3; seq++ {
		_ = f.Write([]byte(mustSign(t, s, audit.HeadOf(c.evs[seq-1]))))
	}
	// A forged line and a torn one after the last good checkpoint.
	_ = f.Write([]byte(mustSign(t, other, audit.HeadOf(c.evs[99]))))
	_ = f.Close()
	tail, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	_, _ = tail.WriteString("eyJhbGciOi")
	_ = tail.Close()
	l, ok, err := Latest(path, ks)
	if err != nil || !ok || l.N != 3 || l.Checkpoint.Seq != 3 {
		t.Fatalf("Latest = %+v, %v, %v; want line 3, seq 3", l, ok, err)
	}
	// A file far longer than what Latest reads.
	f, _ = OpenFile(path)
	for seq := uint64(4); seq <= 400; seq++ {
		_ = f.Write([]byte(mustSign(t, s, audit.HeadOf(c.evs[seq-1]))))
	}
	_ = f.Close()
	if st, _ := os.Stat(path); st.Size() <= tailBytes {
		t.Fatalf("the file is only %d bytes", st.Size())
	}
	l, ok, err = Latest(path, ks)
	if err != nil || !ok || l.N != 0 || l.Checkpoint.Seq != 400 {
		t.Fatalf("Latest of a long file = %+v, %v, %v; want seq 400 without a line number", l, ok, err)
	}
	if f, err := CheckLatest(context.Background(), c, path, ks); f != nil || err != nil {
		t.Fatalf("CheckLatest of a sound chain = %v, %v", f, err)
	}
	c.cut(350)
	f2, err := CheckLatest(context.Background(), c, path, ks)
	if err != nil || f2 == nil || f2.Problem != ProblemTruncated || f2.Checkpoint.Seq != 400 {
		t.Fatalf("CheckLatest of a cut chain = %+v, %v", f2, err)
	}
}
