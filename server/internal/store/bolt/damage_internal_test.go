package bolt

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/iprules/iprulestest"
)

func TestAPanicOutsideBboltIsNotCalledDamage(t *testing.T) {
	t.Parallel()
	s := open(t, filepath.Join(t.TempDir(), "pdp.db"), Options{})
	defer s.Close()
	defer func() {
		if r := recover(); r != "a bug" {
			t.Fatalf("recovered %v, want the callback's own panic", r)
		}
	}()
	_ = s.view(func(*bbolt.Tx) error { panic("a bug") })
	t.Fatal("the panic was swallowed")
}

func TestReadingDamagedIPRulesIsAnErrorNotAPanic(t *testing.T) {
	t.Parallel()
	// Open does not read the IP rules; the server reads them right after.
	path := filepath.Join(t.TempDir(), "pdp.db")
	s := open(t, path, Options{})
	if _, _, err := s.IPRules().Import(context.Background(), "acme", "suspicious", "import:feed", iprulestest.FeedRules(2000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var root, pageSize int64
	err = db.View(func(tx *bbolt.Tx) error {
		root, pageSize = int64(tx.Bucket(bucketIPRules).Bucket(scopeName("acme")).Root()), int64(db.Info().PageSize)
		return nil
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil || root == 0 {
		t.Fatalf("root page of the scope: %d, %v", root, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.WriteAt(bytes.Repeat([]byte{0xa5}, int(pageSize)), root*pageSize)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	s = open(t, path, Options{})
	defer s.Close()
	if _, err := s.IPRules().All(context.Background()); !errors.Is(err, ErrDamaged) {
		t.Fatalf("All over a damaged page: %v, want ErrDamaged", err)
	}
}
