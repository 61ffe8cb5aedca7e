package audit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

var t0 = time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)

func TestCanonicalForm(t *testing.T) {
	ev := Event{
		Entry: Entry{Time: t0.Add(1500 * time.Millisecond), Actor: "ops", Action: "ip_rule.add", Tenant: "acme",
			Target: "r1", Reason: "a <b> & \"c\"", After: map[string]any{"z": 1, "a": map[string]any{"y": true, "b": nil}}},
		ID: "01a2-fake", Seq: 2, PrevHash: "ab",
	}
	got, err := Canonical(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"action":"ip_rule.add","actor":"ops","after":{"a":{"b":null,"y":true},"z":1},"before":null,` +
		`"id":"01a2-fake","prev_hash":"ab","reason":"a <b> & \"c\"","seq":2,"target":"r1","tenant":"acme",` +
		`"time":"2026-03-10T12:00:01.5Z"}`
	if string(got) != want {
		t.Fatalf("Canonical =\n%s\nwant\n%s", got, want)
	}
	sum := sha256.Sum256([]byte(want))
	if h, _ := ComputeHash(ev); h != hex.EncodeToString(sum[:]) {
		t.Errorf("ComputeHash = %s, want the SHA-256 of the canonical form", h)
	}
	// Hash is not part of it; the time zone is not either.
	ev.Hash, ev.Time = "whatever", ev.Time.In(time.FixedZone("x", 3600))
	if again, _ := Canonical(ev); string(again) != want {
		t.Errorf("Canonical changed with Hash or the zone:\n%s", again)
	}
}

func TestLinkNormalises(t *testing.T) {
	type pair struct {
		B int `json:"b"`
		A int `json:"a"`
	}
	ev, err := Link(Head{Seq: 4, Hash: "h4"}, Entry{Actor: "a", Action: "x", Reason: "bad \xff",
		Before: map[string]any{"p": pair{B: 2, A: 1}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if ev.Seq != 5 || ev.PrevHash != "h4" || !ev.Time.Equal(t0) || ev.Reason != "bad \uFFFD" {
		t.Errorf("Link = %+v", ev)
	}
	rec, _ := Encode(ev)
	back, err := Decode(rec)
	if err != nil {
		t.Fatal(err)
	}
	if h, _ := ComputeHash(back); h != ev.Hash {
		t.Errorf("a decoded record hashes to %s, appended as %s", h, ev.Hash)
	}
	if !strings.Contains(string(rec), `"before":{"p":{"a":1,"b":2}}`) {
		t.Errorf("record %s", rec)
	}
}

func TestNewIDIncreases(t *testing.T) {
	prev := ""
	for i := range 10000 {
		now := t0
		if i%100 == 0 {
			now = t0.Add(-time.Hour) // a clock stepped back
		}
		id := NewID(now, prev)
		if id <= prev {
			t.Fatalf("id %d: %s not after %s", i, id, prev)
		}
		if ms, _, _, ok := parseID(id); !ok || ms < uint64(t0.Add(-time.Hour).UnixMilli()) {
			t.Fatalf("id %s does not parse as a UUIDv7 of %v", id, t0)
		}
		prev = id
	}
	// Carry: the random bits all ones move to the next millisecond.
	full := NewID(t0, "")[:14] + "7fff-bfff-ffffffffffff"
	ms, _, _, _ := parseID(full)
	if next := NewID(t0, full); next <= full {
		t.Fatalf("after %s came %s", full, next)
	} else if nms, _, _, _ := parseID(next); nms != ms+1 {
		t.Fatalf("carry gave ms %d, want %d", nms, ms+1)
	}
	if id := NewID(t0, ""); id[14] != '7' || !strings.ContainsRune("89ab", rune(id[19])) {
		t.Errorf("%s is not version 7, variant 10", id)
	}
}

// sliceLog is a Log over a slice, for Verify.
type sliceLog []Event

func (s sliceLog) Append(context.Context, Entry) (Event, error) { panic("read-only") }

func (s sliceLog) List(_ context.Context, q Query) ([]Event, uint64, error) {
	var out []Event
	for i := int(q.After); i < len(s); i++ {
		out = append(out, s[i])
		if len(out) == q.PageSize() && i+1 < len(s) {
			return out, uint64(i + 1), nil
		}
	}
	return out, 0, nil
}

func chain(n int) sliceLog {
	var (
		s sliceLog
		h Head
	)
	for i := range n {
		ev, err := Link(h, Entry{Actor: "a", Action: "x", Time: t0.Add(time.Duration(i) * time.Second)}, t0)
		if err != nil {
			panic(err)
		}
		s, h = append(s, ev), HeadOf(ev)
	}
	return s
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	r, err := Verify(ctx, chain(2500)) // three pages
	if err != nil || !r.OK() || r.Events != 2500 {
		t.Fatalf("Verify of a sound chain = %+v, %v", r, err)
	}
	tests := []struct {
		name    string
		edit    func(s sliceLog) sliceLog
		seq     uint64
		problem string
	}{
		{"Altered", func(s sliceLog) sliceLog { s[1500].Target = "x"; return s }, 1501, ProblemHash},
		{"Relinked", func(s sliceLog) sliceLog { s[9].PrevHash = s[7].Hash; return s }, 10, ProblemPrevHash},
		{"Missing", func(s sliceLog) sliceLog { return append(s[:4], s[5:]...) }, 5, ProblemSequence},
		{"Swapped", func(s sliceLog) sliceLog { s[2], s[3] = s[3], s[2]; return s }, 3, ProblemSequence},
	}
	for _, tc := range tests {
		r, err := Verify(ctx, tc.edit(chain(2500)))
		if err != nil || r.OK() || r.Broken.Seq != tc.seq || r.Broken.Problem != tc.problem {
			t.Errorf("%s: Verify = %+v %v, %v; want %s at %d", tc.name, r, r.Broken, err, tc.problem, tc.seq)
			continue
		}
		if r.Events != tc.seq-1 || r.Broken.String() == "" {
			t.Errorf("%s: %d sound events before the break at %d", tc.name, r.Events, tc.seq)
		}
	}
}

// headLog is a sliceLog that keeps its head apart, like the backends.
type headLog struct {
	sliceLog
	head Head
}

func (h headLog) Head(context.Context) (Head, error) { return h.head, nil }

func TestVerifyAgainstHead(t *testing.T) {
	ctx := context.Background()
	s := chain(1200)
	// Events appended after the head was read are left for the next run.
	r, err := Verify(ctx, headLog{s, HeadOf(s[1000])})
	if err != nil || !r.OK() || r.Events != 1001 || r.Head != s[1000].Hash {
		t.Fatalf("Verify with appends after the head = %+v %v, %v", r, r.Broken, err)
	}
	// Records cut off the end.
	r, err = Verify(ctx, headLog{s[:1100], HeadOf(s[1199])})
	if err != nil || r.OK() || r.Broken.Problem != ProblemHead || r.Events != 1100 {
		t.Fatalf("Verify of a cut chain = %+v %v, %v", r, r.Broken, err)
	}
	// An empty log with an empty head holds.
	if r, err := Verify(ctx, headLog{}); err != nil || !r.OK() || r.Events != 0 {
		t.Fatalf("Verify of an empty log = %+v, %v", r, err)
	}
}

func TestCheckRefusesWhatLinkRefusesAndNamesEachField(t *testing.T) {
	long := strings.Repeat("x", MaxFieldLen+1)
	e := Entry{Actor: long, Action: "", Tenant: long, Target: long, Reason: strings.Repeat("r", MaxReasonLen+1),
		Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), After: map[string]any{"f": func() {}}}
	err := Check(e)
	fe := fault.As(err)
	if fe == nil || fe.Code != fault.InvalidArgument {
		t.Fatalf("Check = %v, want InvalidArgument", err)
	}
	var got []string
	for _, f := range fe.Fields {
		got = append(got, f.Field)
	}
	want := []string{"action", "actor", "tenant", "target", "reason", "time", "after"}
	if !slices.Equal(got, want) {
		t.Errorf("Check names %v, want %v", got, want)
	}
	if _, linkErr := Link(Head{}, e, t0); linkErr == nil || linkErr.Error() != err.Error() {
		t.Errorf("Link = %v, want Check's error %v", linkErr, err)
	}
}

func TestCheckTakesWhatFitsTheBounds(t *testing.T) {
	e := Entry{Actor: strings.Repeat("a", MaxFieldLen), Action: "x", Tenant: strings.Repeat("t", MaxFieldLen),
		Target: strings.Repeat("g", MaxFieldLen), Reason: strings.Repeat("r", MaxReasonLen)}
	if err := Check(e); err != nil {
		t.Fatalf("Check of an entry at the bounds = %v", err)
	}
	if _, err := Link(Head{}, e, t0); err != nil {
		t.Fatalf("Link of an entry Check took = %v", err)
	}
}
