package cli

import (
	"context"
	"encoding/binary"
	"path/filepath"
	"strings"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/audittest"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/redis"
	"github.com/pdp-dev/pdp/server/internal/store/redis/redistest"
)

func TestAuditVerify(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pdp.db")
	st, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	var last audit.Event
	for i := range 4 {
		last = audittest.MustAppend(t, st.AuditLog(), audittest.Entry("acme", i))
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	r := runPDP(t, nil, "audit", "verify", "--store", "bolt:"+path)
	want := "audit chain verified: 4 events, head " + last.Hash + "\n"
	if r.code != ExitOK || r.stdout != want {
		t.Fatalf("verify of a sound log: code %d, stdout %q, stderr %q; want %q", r.code, r.stdout, r.stderr, want)
	}
	// The store comes from $PDP_STORE too.
	if r := runPDP(t, map[string]string{"PDP_STORE": "bolt:" + path}, "audit", "verify"); r.code != ExitOK {
		t.Fatalf("verify with PDP_STORE: code %d, %s", r.code, r.stderr)
	}

	// Rewrite the reason of seq 2 in the file, keeping its hash.
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket([]byte("audit"))
		key := binary.BigEndian.AppendUint64(nil, 2)
		ev, err := audit.Decode(b.Get(key))
		if err != nil {
			return err
		}
		ev.Reason = "nothing happened"
		rec, err := audit.Encode(ev)
		if err != nil {
			return err
		}
		return b.Put(key, rec)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	r = runPDP(t, nil, "audit", "verify", "--store", "bolt:"+path)
	if r.code != ExitError || !strings.HasPrefix(r.stdout, "audit chain broken at seq 2: ") ||
		!strings.Contains(r.stdout, "1 events verified before the break") {
		t.Fatalf("verify of a tampered log: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}

func TestAuditVerifyUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"audit"}, ExitUsage, "usage: pdp audit verify"},
		{[]string{"audit", "check"}, ExitUsage, "usage: pdp audit verify"},
		{[]string{"audit", "verify", "--store", "memory:"}, ExitUsage, "nothing to verify"},
		{[]string{"audit", "verify", "--store", "nope"}, ExitUsage, "--store"},
		{[]string{"audit", "verify", "--store", "bolt:" + filepath.Join(dir, "missing.db")}, ExitError, "no such file"},
		{[]string{"audit", "verify", "extra", "--store", "memory:"}, ExitUsage, "unexpected arguments"},
	}
	for _, tc := range tests {
		r := runPDP(t, nil, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr, tc.msg) {
			t.Errorf("pdp %s: code %d, stderr %q; want %d and %q", strings.Join(tc.args, " "), r.code, r.stderr, tc.code, tc.msg)
		}
	}
}

func TestAuditVerifyRedis(t *testing.T) {
	srv := redistest.Start(t)
	u := srv.URL(0) + "?prefix=clitest"
	st, err := redis.Open(context.Background(), u, redis.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var last audit.Event
	for i := range 3 {
		last = audittest.MustAppend(t, st.AuditLog(), audittest.Entry("acme", i))
	}
	r := runPDP(t, map[string]string{"PDP_STORE": u}, "audit", "verify")
	if want := "audit chain verified: 3 events, head " + last.Hash + "\n"; r.code != ExitOK || r.stdout != want {
		t.Fatalf("verify of a Redis log: code %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
}
