package iplists

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/fault"
	rules "github.com/pdp-dev/pdp/server/internal/iprules"
)

// netset is a FireHOL-style list with comments, blank lines, inline
// comments, IPv6, a duplicate and bad lines.
const netset = `#
# firehol_level1
#
# Maintainer      : FireHOL
# Entries         : 6 subnets

0.0.0.0/8
1.10.16.0/20   # inline comment
103.2.0.0/16 ; SBL1234
2001:db8:dead::/48
192.0.2.55
1.10.16.0/20
not-an-ip
10.0.0.1-10.0.0.9
300.2.3.4/24
10.1.1.1 extra
::ffff:198.51.100.7
`

func TestImportFireHOLListWithBadLines(t *testing.T) {
	f := newFixture(t)
	lines := strings.Split(netset, "\n")
	stream := &importStream{ctx: adminCtx(), chunks: []*pdpv1.ImportIPListRequest{
		{Tenant: "acme", List: pdpv1.IPList_IP_LIST_DENY, Source: "firehol_level1", Lines: lines[:9]},
		{Tenant: "ignored", List: pdpv1.IPList_IP_LIST_ALLOW, Source: "ignored", Lines: lines[9:]},
	}}
	if err := f.svc.ImportIPList(stream); err != nil {
		t.Fatal(err)
	}
	r := stream.resp
	if r.GetAdded() != 6 || r.GetDuplicates() != 1 || r.GetInvalid() != 4 || len(r.GetInvalidLines()) != 4 {
		t.Fatalf("response %v", r)
	}
	wantLines := map[uint64]string{13: "not-an-ip", 14: "10.0.0.1-10.0.0.9", 15: "300.2.3.4/24", 16: "10.1.1.1 extra"}
	for _, l := range r.GetInvalidLines() {
		if wantLines[l.GetNumber()] != l.GetLine() || l.GetError() == "" {
			t.Errorf("invalid line %v", l)
		}
	}
	for _, addr := range []string{"1.10.20.1", "103.2.9.9", "2001:db8:dead::1", "192.0.2.55", "198.51.100.7"} {
		m := f.set.Lookup("acme", "", netip.MustParseAddr(addr), now).Deny
		if !m.Found() || m.Source != "import:firehol_level1" {
			t.Errorf("%s: %+v", addr, m)
		}
	}
	if m := f.set.Lookup("ignored", "", netip.MustParseAddr("1.10.20.1"), now); m.Allow.Found() || m.Deny.Found() {
		t.Error("a later chunk's tenant was used")
	}
	page, _, err := f.store.List(context.Background(), rules.Query{Tenant: "acme"})
	if err != nil || len(page) != 6 || page[0].Source != "import:firehol_level1" || page[0].CreatedBy != "root-key" {
		t.Fatalf("stored %v, %v", page, err)
	}
	entries := f.audit.all()
	if len(entries) != 1 || entries[0].Action != ActionImport || entries[0].Tenant != "acme" || entries[0].After["added"] != uint64(6) {
		t.Fatalf("audit %+v", entries)
	}

	// Importing again adds nothing.
	again := &importStream{ctx: adminCtx(), chunks: []*pdpv1.ImportIPListRequest{{Tenant: "acme", List: pdpv1.IPList_IP_LIST_DENY, Source: "firehol_level1", Lines: lines}}}
	if err := f.svc.ImportIPList(again); err != nil {
		t.Fatal(err)
	}
	if again.resp.GetAdded() != 0 || again.resp.GetDuplicates() != 7 {
		t.Fatalf("re-import %v", again.resp)
	}
}

func TestImportQuotesTheFirstHundredInvalidLines(t *testing.T) {
	f := newFixture(t)
	bad := make([]string, 150)
	for i := range bad {
		bad[i] = fmt.Sprintf("bad-%d", i)
	}
	stream := &importStream{ctx: adminCtx(), chunks: []*pdpv1.ImportIPListRequest{{List: pdpv1.IPList_IP_LIST_SUSPICIOUS, Source: "junk", Lines: bad}}}
	if err := f.svc.ImportIPList(stream); err != nil {
		t.Fatal(err)
	}
	if stream.resp.GetInvalid() != 150 || len(stream.resp.GetInvalidLines()) != MaxInvalidLines {
		t.Fatalf("invalid %d, quoted %d", stream.resp.GetInvalid(), len(stream.resp.GetInvalidLines()))
	}
}

func TestImportValidatesTheFirstChunk(t *testing.T) {
	f := newFixture(t)
	err := f.svc.ImportIPList(&importStream{ctx: adminCtx(), chunks: []*pdpv1.ImportIPListRequest{{List: pdpv1.IPList(9)}}})
	wantFault(t, err, fault.InvalidArgument, "list", "source")
	err = f.svc.ImportIPList(&importStream{ctx: adminCtx()})
	wantFault(t, err, fault.InvalidArgument, "list")
}

func TestImportAMillionLines(t *testing.T) {
	if testing.Short() {
		t.Skip("a million lines")
	}
	f := newFixture(t)
	const n, perChunk = 1_000_000, 10_000
	var chunks []*pdpv1.ImportIPListRequest
	for c := range n / perChunk {
		lines := make([]string, perChunk)
		for i := range lines {
			k := c*perChunk + i
			lines[i] = netip.AddrFrom4([4]byte{10, byte(k >> 16), byte(k >> 8), byte(k)}).String()
		}
		chunks = append(chunks, &pdpv1.ImportIPListRequest{List: pdpv1.IPList_IP_LIST_DENY, Source: "big", Lines: lines})
	}
	stream := &importStream{ctx: adminCtx(), chunks: chunks}
	start := time.Now()
	if err := f.svc.ImportIPList(stream); err != nil {
		t.Fatal(err)
	}
	t.Logf("imported %d lines (memory store, local lists) in %s", n, time.Since(start))
	if stream.resp.GetAdded() != n {
		t.Fatalf("added %d", stream.resp.GetAdded())
	}
	if m := f.set.Lookup("any", "", netip.MustParseAddr("10.15.66.63"), now).Deny; !m.Found() {
		t.Fatal("an imported address is not listed")
	}
}
