package bolt_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/audit/audittest"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
	"github.com/pdp-dev/pdp/server/internal/store/bolt/bolttest"
)

// expectDamaged checks err is the damaged-file error: it names the file,
// says it is damaged and what to do.
func expectDamaged(t *testing.T, err error, path string) {
	t.Helper()
	switch {
	case err == nil:
		t.Fatal("the damaged file was accepted")
	case !errors.Is(err, bolt.ErrDamaged):
		t.Fatalf("error %q is not ErrDamaged", err)
	case !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "restore the file from a backup"):
		t.Fatalf("error %q does not name %s and say what to do", err, path)
	}
}

func TestOpenRefusesEveryDamagedFileWithoutPanicking(t *testing.T) {
	t.Parallel()
	sound := bolttest.Fill(t, t.TempDir())
	bolttest.EachDamage(t, sound, func(t *testing.T, path string) {
		t.Parallel()
		s, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
		if err == nil {
			_ = s.Close()
		}
		expectDamaged(t, err, path)
		// The refused file is not left locked: a second Open gets
		// the same answer, not "in use".
		_, err = bolt.Open(path, bolt.Options{SweepInterval: -1})
		expectDamaged(t, err, path)
	})
}

func TestOpenStillCreatesAMissingFile(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/new/pdp.db"
	s, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatalf("reopening a new file: %v", err)
	}
	_ = s.Close()
}

func TestOpenUsesTheOlderMetaPageWhenTheNewerIsDamaged(t *testing.T) {
	t.Parallel()
	// bbolt writes the meta page last; a torn write of it leaves the
	// commit before, which bbolt opens. A file with one sound meta page is
	// not refused.
	path := bolttest.Copy(t, bolttest.Fill(t, t.TempDir()))
	bolttest.FlipNewerMeta(t, path)
	s, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatalf("Open with one sound meta page: %v", err)
	}
	defer s.Close()
	if _, _, err := s.AuditLog().List(context.Background(), audit.Query{}); err != nil {
		t.Fatalf("listing the audit log: %v", err)
	}
}

func TestReadingADamagedAuditLogIsAnErrorNotAPanic(t *testing.T) {
	t.Parallel()
	path := bolttest.Copy(t, bolttest.Fill(t, t.TempDir()))
	bolttest.DamageAudit(t, path)
	s, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatalf("Open reads no audit record, yet: %v", err)
	}
	defer s.Close()
	_, err = audit.Verify(context.Background(), s.AuditLog())
	expectDamaged(t, err, path)
	_, err = s.AuditLog().Append(context.Background(), audittest.Entry("acme", bolttest.AuditEvents))
	if !errors.Is(err, bolt.ErrDamaged) {
		t.Fatalf("Append to a damaged log: %v, want ErrDamaged", err)
	}
}

func TestOpenDoesNotCallADirectoryDamaged(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := bolt.Open(dir, bolt.Options{SweepInterval: -1})
	if err == nil || errors.Is(err, bolt.ErrDamaged) || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Open of a directory: %v", err)
	}
}
