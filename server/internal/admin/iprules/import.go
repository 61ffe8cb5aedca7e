package iprules

import (
	"errors"
	"fmt"
	"io"
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
	// importBatch is how many parsed entries are stored at a time.
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
func (s *Service) ImportIPList(stream grpc.ClientStreamingServer[pdpv1.ImportIPListRequest, pdpv1.ImportIPListResponse]) error {
	ctx := stream.Context()
	first, err := stream.Recv()
	if errors.Is(err, io.EOF) {
		return fault.Invalid(fault.FieldViolation{Field: "list", Description: "required: the stream sent no chunk"})
	}
	if err != nil {
		return err
	}
	tenant, list, feed := first.GetTenant(), first.GetList(), first.GetSource()
	var v fault.Violations
	checkScope(&v, tenant)
	if err := v.Err(); err != nil {
		return err
	}
	if err := authorize(ctx, tenant); err != nil {
		return err
	}
	if _, ok := ipset.ParseList(list); !ok {
		v.Add("list", "must be allow, deny or suspicious, not %q", list)
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
	// The record names the source as its target, and the feed in its
	// reason; both fit once the source does, and admitting the record
	// says so before the first entry is stored.
	s.admit(ctx, &v, ActionImport, tenant, source, importReason(feed, &pdpv1.ImportIPListResponse{}))
	if err := v.Err(); err != nil {
		return err
	}
	imp := importer{s: s, tenant: tenant, list: list, source: source, resp: &pdpv1.ImportIPListResponse{}}
	for chunk := first; ; {
		for _, line := range chunk.GetLines() {
			imp.line(line)
		}
		if len(imp.batch) >= importBatch {
			if err := imp.flush(stream); err != nil {
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
	if err := imp.flush(stream); err != nil {
		return err
	}
	r := imp.resp
	after := map[string]any{
		"list": list, "source": source, "added": r.GetAdded(), "duplicates": r.GetDuplicates(), "invalid": r.GetInvalid(),
	}
	if err := s.record(ctx, ActionImport, tenant, source, importReason(feed, r), nil, after); err != nil {
		return err
	}
	return stream.SendAndClose(r)
}

// importReason is the reason the audit record of an import gives.
func importReason(feed string, r *pdpv1.ImportIPListResponse) string {
	return fmt.Sprintf("import of %s: %d added, %d duplicates, %d invalid lines", feed, r.GetAdded(), r.GetDuplicates(), r.GetInvalid())
}

type importer struct {
	s                    *Service
	tenant, list, source string
	number               uint64
	batch                []rules.Rule
	resp                 *pdpv1.ImportIPListResponse
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

// flush stores the parsed entries and lists them locally.
func (imp *importer) flush(stream grpc.ClientStreamingServer[pdpv1.ImportIPListRequest, pdpv1.ImportIPListResponse]) error {
	if len(imp.batch) == 0 {
		return nil
	}
	now := imp.s.now().UTC()
	by := actor(stream.Context())
	for i := range imp.batch {
		imp.batch[i].CreatedAt, imp.batch[i].CreatedBy = now, by
	}
	added, dups, err := imp.s.store.Import(stream.Context(), imp.tenant, imp.list, imp.source, imp.batch)
	if err != nil {
		return err
	}
	imp.resp.Added += uint64(added)
	imp.resp.Duplicates += uint64(dups)
	if imp.s.applier != nil {
		for i := range imp.batch {
			imp.batch[i].Tenant, imp.batch[i].List, imp.batch[i].Source = imp.tenant, imp.list, imp.source
		}
		imp.s.applier.Imported(imp.batch)
	}
	imp.batch = imp.batch[:0]
	return nil
}
