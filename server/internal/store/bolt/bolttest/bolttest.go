// Package bolttest damages bolt store files the ways a full disk, a
// careless copy or a failing drive can, for the tests of everything that
// opens one (the store itself, pdp serve, pdp audit verify):
//
//	path := bolttest.Fill(t, dir)
//	bolttest.EachDamage(t, path, func(t *testing.T, damaged string) {
//		// open damaged; expect bolt.ErrDamaged, never a panic
//	})
package bolttest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/pdp-dev/pdp/server/internal/audit/audittest"
	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/store"
	"github.com/pdp-dev/pdp/server/internal/store/bolt"
)

// Users and AuditEvents are what Fill writes: enough profiles that their
// bucket has pages of its own, and an audit log of several pages.
const (
	Users       = 300
	AuditEvents = 100
)

// Fill writes a store file in dir (Users profiles, AuditEvents audit
// events) and returns its path, closed.
func Fill(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "pdp.db")
	s, err := bolt.Open(path, bolt.Options{SweepInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC)
	for i := range Users {
		e := &decision.Event{Tenant: "acme", Kind: decision.EventLoginSucceeded, Time: at}
		e.Subject.ID = fmt.Sprintf("user-%04d", i)
		e.Network.IP = netip.AddrFrom4([4]byte{198, 51, 100, byte(i)})
		e.Device.ID = "d-" + e.Subject.ID
		if _, err := s.ApplyEvent(context.Background(), e, store.Settings{}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range AuditEvents {
		audittest.MustAppend(t, s.AuditLog(), audittest.Entry("acme", i))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Copy copies the file at path into a new temporary directory, for one
// damage each.
func Copy(t testing.TB, path string) string {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(dst, src, 0o600); err != nil {
		t.Fatal(err)
	}
	return dst
}

// Layout is where things are in a sound file.
type Layout struct {
	PageSize int64
	Size     int64 // of the file
	InUse    int64 // pages in use (bbolt's high water mark)
	Freelist int64 // the freelist's page
	Profiles int64 // the profiles bucket's root page
	Audit    int64 // the audit bucket's root page
}

// LayoutOf reads the layout of the sound file at path.
func LayoutOf(t testing.TB, path string) Layout {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	db, err := bbolt.Open(path, 0, &bbolt.Options{ReadOnly: true, PreLoadFreelist: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l := Layout{PageSize: int64(db.Info().PageSize), Size: info.Size()}
	err = db.View(func(tx *bbolt.Tx) error {
		l.InUse = tx.Size() / l.PageSize
		for id := 2; int64(id) < l.InUse; id++ {
			if p, err := tx.Page(id); err == nil && p != nil && p.Type == "freelist" {
				l.Freelist = int64(id)
			}
		}
		l.Profiles = int64(tx.Bucket([]byte("profiles")).Root())
		l.Audit = int64(tx.Bucket([]byte("audit")).Root())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if l.Freelist == 0 || l.Profiles == 0 || l.Audit == 0 {
		t.Fatalf("layout of %s: %+v; the freelist and both buckets need pages of their own", path, l)
	}
	return l
}

// Damage is one way a file gets damaged.
type Damage struct {
	Name  string
	Apply func(t testing.TB, path string)
}

// Damages are the damages Open refuses (each applied to a file Fill
// wrote): the file cut at several lengths, both meta pages overwritten, a
// page of records overwritten, a page pointer past the end of the file,
// and a file that is not a bbolt file at all.
func Damages() []Damage {
	cut := func(at func(Layout) int64) func(testing.TB, string) {
		return func(t testing.TB, path string) {
			t.Helper()
			if err := os.Truncate(path, at(LayoutOf(t, path))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return []Damage{
		{"cut to 0 bytes", cut(func(Layout) int64 { return 0 })},
		{"cut inside the first meta page", cut(func(Layout) int64 { return 100 })},
		{"cut inside the second meta page", cut(func(l Layout) int64 { return l.PageSize + 100 })},
		{"cut inside the freelist", cut(func(l Layout) int64 { return l.Freelist*l.PageSize + 10 })},
		{"cut mid-data", cut(func(l Layout) int64 { return l.InUse / 2 * l.PageSize })},
		{"cut inside the last page in use", cut(func(l Layout) int64 { return l.InUse*l.PageSize - l.PageSize/2 })},
		{"one byte short", cut(func(l Layout) int64 { return l.Size - 1 })},
		{"both meta pages overwritten", func(t testing.TB, path string) {
			l := LayoutOf(t, path)
			Overwrite(t, path, 40, []byte{0xde, 0xad})
			Overwrite(t, path, l.PageSize+40, []byte{0xde, 0xad})
		}},
		{"a page of profiles overwritten", func(t testing.TB, path string) {
			l := LayoutOf(t, path)
			Overwrite(t, path, l.Profiles*l.PageSize, bytes.Repeat([]byte{0xa5}, int(l.PageSize)))
		}},
		{"the profiles bucket points past the end of the file", func(t testing.TB, path string) {
			// The bucket's header (its root page) follows its name in
			// the root bucket's leaf; every copy of the leaf is changed.
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			name := []byte("profiles")
			for i := bytes.Index(b, name); i >= 0; {
				binary.LittleEndian.PutUint64(b[i+len(name):], 1<<40)
				j := bytes.Index(b[i+1:], name)
				if j < 0 {
					break
				}
				i += 1 + j
			}
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"not a bbolt file", func(t testing.TB, path string) {
			junk := bytes.Repeat([]byte("this is not a bbolt file\n"), 4096)
			if err := os.WriteFile(path, junk, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	}
}

// EachDamage runs test in a subtest of t for each of Damages, on a copy
// of the sound file at path with that damage applied.
func EachDamage(t *testing.T, path string, test func(t *testing.T, damaged string)) {
	t.Helper()
	for _, d := range Damages() {
		t.Run(d.Name, func(t *testing.T) {
			damaged := Copy(t, path)
			d.Apply(t, damaged)
			test(t, damaged)
		})
	}
}

// DamageAudit overwrites the audit bucket's root page, which Open does
// not read (records are read when the log is), so the file opens and
// reading the log fails.
func DamageAudit(t testing.TB, path string) {
	t.Helper()
	l := LayoutOf(t, path)
	Overwrite(t, path, l.Audit*l.PageSize, bytes.Repeat([]byte{0xa5}, int(l.PageSize)))
}

// FlipNewerMeta overwrites bytes of the newer meta page only: bbolt
// then opens the file as of the commit before, as after a torn write of
// the meta page.
func FlipNewerMeta(t testing.TB, path string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	l := LayoutOf(t, path)
	// A meta page: a 16-byte page header, then magic, version, page
	// size, flags (4 bytes each), root bucket (16), freelist, high water
	// mark and txid (8 each).
	txid := func(page int64) uint64 {
		b := make([]byte, 8)
		if _, err := f.ReadAt(b, page*l.PageSize+16+16+16+8+8); err != nil && err != io.EOF {
			t.Fatal(err)
		}
		return binary.LittleEndian.Uint64(b)
	}
	newer := int64(0)
	if txid(1) > txid(0) {
		newer = 1
	}
	Overwrite(t, path, newer*l.PageSize+40, []byte{0xde, 0xad})
}

// Overwrite writes b into the file at path at offset off.
func Overwrite(t testing.TB, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}
