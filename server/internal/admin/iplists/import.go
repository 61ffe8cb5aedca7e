package iplists

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"strings"

	"google.golang.org/grpc"

	pdpv1 "github.com/pdp-dev/pdp/gen/pdp/v1"
	"github.com/pdp-dev/pdp/server/internal/audit"
	"github.com/pdp-dev/pdp/server/internal/fault"
	rules "github.com/pdp-dev/pdp/server/internal/iprules"
	"github.com/pdp-dev/pdp/server/internal/ipset"
)

// The bounds of an import.
const (
	// MaxInvalidLines is how many invalid lines a response quotes.
	MaxInvalidLines = 100
	// importBatch is how many parsed entries are staged (or stored) at a
	// time.
	importBatch = 100_000
	// MaxSourceLen bounds the source a list is imported under: the
	// import's audit record names "import:SOURCE" as its target, which
	// the log bounds at audit.MaxFieldLen.
	MaxSourceLen = audit.MaxFieldLen - len(rules.ImportPrefix)
	// maxQuotedLine bounds the length of a quoted invalid line.
	maxQuotedLine = 200
)

// ImportIPList imports a list streamed in chunks: plain lists of
// addresses, CIDRs and FireHOL netsets. Blank lines and comments ('#' or
// ';' to the end of the line) are skipped; every other line must be one
// address or CIDR, anything else (an address range, two fields) is counted
// as invalid and quoted (the first MaxInvalidLines), never fatal. The
// tenant, list and source are taken from the first chunk. Entries are
// stored with source "import:SOURCE"; entries already stored for that
// source count as duplicates.
//
// On a store that stages imports (rules.Stager) the import is atomic:
// entries are staged in batches as they arrive, unseen by readers, and
// made live in one audited change with the import's record, so that
// either the whole list is live and recorded or nothing of it is; an
// import that fails (a broken stream, a cancelled call, a record the log
// does not take) drops its staging. Other stores store the batches as
// they come and record the import after the last one.
func (s *Service) ImportIPList(stream grpc.ClientStreamingServer[pdpv1.ImportIPListRequest, pdpv1.ImportIPListResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return fault.Invalid(fault.FieldViolation{Field: "list", Description: "required: the stream sent no chunk"})
	}
	if err != nil {
		return err
	}
	tenant, feed := first.GetTenant(), first.GetSource()
	var v fault.Violations
	checkScope(&v, tenant)
	if err := v.Err(); err != nil {
		return err
	}
	if err := authorize(ctx, tenant); err != nil {
		return err
	}
	// The rules of a chunk's list leave it optional: only the first
	// chunk's is read.
	list := listName(first.GetList())
	if first.GetList() == pdpv1.IPList_IP_LIST_UNSPECIFIED {
		v.Add("list", "required")
	}
	switch {
	case feed == "":
		v.Add("source", "required")
	case len(feed) > MaxSourceLen:
		v.Add("source", "is longer than %d bytes", MaxSourceLen)
	case strings.ContainsAny(feed, " \t\r\n"):
		v.Add("source", "must not contain white space")
	}
	source := rules.ImportPrefix + feed
	// The record names the source as its target, and the feed and the
	// counts in its reason; admitting the longest reason the counts can
	// make says, before the first entry is stored, that the log takes it.
	s.admit(ctx, &v, ActionImport, tenant, source, importReason(feed, &pdpv1.ImportIPListResponse{
		Added: math.MaxUint64, Duplicates: math.MaxUint64, Invalid: math.MaxUint64,
	}))
	if err := refuse(first, &v); err != nil {
		return err
	}
	imp := importer{s: s, tenant: tenant, list: list, source: source, by: actor(ctx), resp: &pdpv1.ImportIPListResponse{}}
	if st, ok := s.store.(rules.Stager); ok {
		imp.stager, imp.id = st, rand.Text()
		defer imp.discard(ctx)
	}
	for chunk := first; ; {
		for _, line := range chunk.GetLines() {
			imp.line(line)
		}
		if len(imp.batch) >= s.batch {
			if err := imp.flush(ctx); err != nil {
				return err
			}
		}
		chunk, err = stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
	}
	if err := imp.flush(ctx); err != nil {
		return err
	}
	if imp.stager != nil {
		if err := imp.publish(ctx, feed); err != nil {
			return err
		}
		return stream.SendAndClose(imp.resp)
	}
	r := imp.resp
	if err := s.record(ctx, ActionImport, tenant, source, importReason(feed, r), nil, importAfter(list, source, r)); err != nil {
		return err
	}
	return stream.SendAndClose(r)
}

// importReason is the reason the audit record of an import gives.
func importReason(feed string, r *pdpv1.ImportIPListResponse) string {
	return fmt.Sprintf("import of %s: %d added, %d duplicates, %d invalid lines", feed, r.GetAdded(), r.GetDuplicates(), r.GetInvalid())
}

// importAfter is the After of an import's audit record.
func importAfter(list, source string, r *pdpv1.ImportIPListResponse) map[string]any {
	return map[string]any{
		"list": list, "source": source, "added": r.GetAdded(), "duplicates": r.GetDuplicates(), "invalid": r.GetInvalid(),
	}
}

type importer struct {
	s                        *Service
	tenant, list, source, by string
	number                   uint64
	batch                    []rules.Rule
	resp                     *pdpv1.ImportIPListResponse

	// An atomic import stages under id, counts the entries repeated in
	// the list, and keeps the staged prefixes to list them locally once
	// they are live (a prefix is all an imported entry needs).
	stager    rules.Stager
	id        string
	repeats   uint64
	sent      uint64           // entries staged
	staged    [][]netip.Prefix // per batch
	published bool
}

// line parses one line of the list.
func (imp *importer) line(raw string) {
	imp.number++
	text := raw
	if i := strings.IndexAny(text, "#;"); i >= 0 {
		text = text[:i]
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return
	}
	if strings.ContainsAny(text, " \t") {
		imp.invalid(raw, "more than one field")
		return
	}
	if strings.Contains(text, "-") {
		imp.invalid(raw, "address ranges are not supported; list the CIDRs")
		return
	}
	p, err := ipset.ParsePrefix(text)
	if err != nil {
		imp.invalid(raw, err.Error())
		return
	}
	imp.batch = append(imp.batch, rules.Rule{Prefix: p})
}

func (imp *importer) invalid(line, why string) {
	imp.resp.Invalid++
	if len(imp.resp.InvalidLines) >= MaxInvalidLines {
		return
	}
	if len(line) > maxQuotedLine {
		line = line[:maxQuotedLine]
	}
	imp.resp.InvalidLines = append(imp.resp.InvalidLines, &pdpv1.InvalidLine{Number: imp.number, Line: line, Error: why})
}

// flush stages the parsed entries, or, on a store without staging, stores
// them and lists them locally.
func (imp *importer) flush(ctx context.Context) error {
	if len(imp.batch) == 0 {
		return nil
	}
	now := imp.s.now().UTC()
	for i := range imp.batch {
		imp.batch[i].CreatedAt, imp.batch[i].CreatedBy = now, imp.by
	}
	if imp.stager != nil {
		repeats, err := imp.stager.Stage(ctx, imp.id, imp.tenant, imp.list, imp.source, imp.batch)
		if err != nil {
			return err
		}
		imp.repeats += uint64(repeats)
		imp.sent += uint64(len(imp.batch))
		if imp.s.applier != nil {
			prefixes := make([]netip.Prefix, len(imp.batch))
			for i, r := range imp.batch {
				prefixes[i] = r.Prefix
			}
			imp.staged = append(imp.staged, prefixes)
		}
		imp.batch = imp.batch[:0]
		return nil
	}
	added, dups, err := imp.s.store.Import(ctx, imp.tenant, imp.list, imp.source, imp.batch)
	if err != nil {
		return err
	}
	imp.resp.Added += uint64(added)
	imp.resp.Duplicates += uint64(dups)
	imp.apply(imp.batch)
	imp.batch = imp.batch[:0]
	return nil
}

// publish makes the staged entries live with the import's record, in one
// audited change, then lists them locally.
func (imp *importer) publish(ctx context.Context, feed string) error {
	r := imp.resp
	err := imp.s.commit(ctx, ActionImport, imp.tenant, imp.source, importReason(feed, r), func(ctx context.Context, e *audit.Entry) error {
		added, dups, err := imp.stager.Publish(ctx, imp.id)
		if err != nil {
			return err
		}
		// Staging that vanished (expired between batches) must not go live
		// as a smaller import under a record of the whole.
		if found := uint64(added+dups) + imp.repeats; found != imp.sent {
			return fault.New(fault.Aborted, "the import's staged entries were lost before it was published (%d of %d found); nothing was imported: send the list again", found, imp.sent)
		}
		r.Added, r.Duplicates = uint64(added), imp.repeats+uint64(dups)
		e.Reason, e.After = importReason(feed, r), importAfter(imp.list, imp.source, r)
		return nil
	})
	if err != nil {
		return err
	}
	imp.published = true
	var batch []rules.Rule
	for i, prefixes := range imp.staged {
		batch = batch[:0]
		for _, p := range prefixes {
			batch = append(batch, rules.Rule{Prefix: p})
		}
		imp.apply(batch)
		imp.staged[i] = nil
	}
	imp.staged = nil
	return nil
}

// apply lists stored entries locally.
func (imp *importer) apply(batch []rules.Rule) {
	if imp.s.applier == nil {
		return
	}
	for i := range batch {
		batch[i].Tenant, batch[i].List, batch[i].Source = imp.tenant, imp.list, imp.source
	}
	imp.s.applier.Imported(batch)
}

// discard drops the staging of an import that was not published, even
// when the call was cancelled; what it cannot drop is dropped when the
// store is next opened.
func (imp *importer) discard(ctx context.Context) {
	if imp.published {
		return
	}
	if err := imp.stager.Discard(context.WithoutCancel(ctx), imp.id); err != nil {
		imp.s.logger.Warn("an abandoned IP list import stays staged", "tenant", imp.tenant, "source", imp.source, "error", err.Error())
	}
}
