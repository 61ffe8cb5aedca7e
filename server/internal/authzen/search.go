package authzen

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"maps"
	"slices"

	"github.com/pdp-dev/pdp/server/internal/fault"
)

// Directory lists what a search may return: the subjects, resources and
// actions the PDP knows for a tenant environment. Every candidate is then
// decided like an evaluation, with every control; only the permitted ones
// are returned.
type Directory interface {
	Candidates(ctx context.Context, tenant, environment string) (*Candidates, error)
}

// Candidates are the entities a search considers.
type Candidates struct {
	// Subjects and Resources are typed entities; a search considers those
	// of the type it asks for.
	Subjects  []Entity
	Resources []Entity
	// Actions are action names.
	Actions []string
}

// Entity is a subject or a resource a directory knows.
type Entity struct {
	Type       string
	ID         string
	Properties map[string]any
}

// Paging limits.
const (
	// DefaultPageLimit is the page size of a search that gives no
	// page.limit (or 0).
	DefaultPageLimit = 50
	// MaxPageLimit is the largest page; a larger page.limit is lowered.
	MaxPageLimit = 1000
	// MaxCandidates is the most candidates one search considers; the
	// rest are not decided (page.properties.candidates_truncated).
	MaxCandidates = 10000
)

type pageRequest struct {
	Token      string         `json:"token"`
	Limit      *float64       `json:"limit"`
	Properties map[string]any `json:"properties"`
}

type searchRequest struct {
	evaluation
	Page *pageRequest `json:"page"`
}

// Page is the page object of a search response.
type Page struct {
	NextToken  string         `json:"next_token"`
	Count      int            `json:"count"`
	Total      *int           `json:"total,omitempty"`
	Properties map[string]any `json:"properties,omitempty"`
}

// SearchResponse is a search answer; the page comes first, as the
// specification recommends.
type SearchResponse struct {
	Page    Page  `json:"page"`
	Results []any `json:"results"`
}

type subjectResult struct {
	Type    string         `json:"type"`
	ID      string         `json:"id"`
	Context map[string]any `json:"context,omitempty"`
}

type actionResult struct {
	Name    string         `json:"name"`
	Context map[string]any `json:"context,omitempty"`
}

// cursor is what a page token holds: where the next page starts among the
// candidates, how many were permitted before it, and a digest of the
// request, so that a token sent with another request is refused.
type cursor struct {
	Offset    int    `json:"o"`
	Permitted int    `json:"p"`
	Digest    string `json:"d"`
}

func (c cursor) token() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errToken = fault.Invalid(fault.FieldViolation{Field: "page.token", Description: "not a token of this search: send the request of the previous page unchanged with its next_token"})

func parseToken(s, digest string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Offset < 0 || c.Permitted < 0 || c.Digest != digest {
		return cursor{}, errToken
	}
	return c, nil
}

// digestOf identifies a search request apart from its page token: the
// entities, the context and the page limit and properties must stay the
// same from page to page.
func digestOf(kind string, in searchRequest, limit int) string {
	b, _ := json.Marshal(struct {
		Kind       string
		Evaluation evaluation
		Limit      int
		Props      map[string]any
	}{kind, in.evaluation, limit, pageProps(in.Page)})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:8])
}

func pageProps(p *pageRequest) map[string]any {
	if p == nil {
		return nil
	}
	return p.Properties
}

// searchKind is one of the three searches.
type searchKind struct {
	name string
	opt  optional
	// candidates returns what to decide, sorted.
	candidates func(c *Candidates, base evaluation) []evaluation
	// result is what the response lists for a permitted candidate.
	result func(e evaluation, ctx map[string]any) any
}

var (
	subjectSearch = searchKind{
		name: "subject",
		opt:  optional{subjectID: true},
		candidates: func(c *Candidates, base evaluation) []evaluation {
			return entities(c.Subjects, base.Subject.Type, func(e Entity) evaluation {
				out := base
				out.Subject = &Subject{Type: e.Type, ID: e.ID, Properties: merged(base.Subject.Properties, e.Properties)}
				return out
			})
		},
		result: func(e evaluation, ctx map[string]any) any {
			return subjectResult{Type: e.Subject.Type, ID: e.Subject.ID, Context: ctx}
		},
	}
	resourceSearch = searchKind{
		name: "resource",
		opt:  optional{resourceID: true},
		candidates: func(c *Candidates, base evaluation) []evaluation {
			return entities(c.Resources, base.Resource.Type, func(e Entity) evaluation {
				out := base
				out.Resource = &Resource{Type: e.Type, ID: e.ID, Properties: merged(base.Resource.Properties, e.Properties)}
				return out
			})
		},
		result: func(e evaluation, ctx map[string]any) any {
			return subjectResult{Type: e.Resource.Type, ID: e.Resource.ID, Context: ctx}
		},
	}
	actionSearch = searchKind{
		name: "action",
		opt:  optional{action: true},
		candidates: func(c *Candidates, base evaluation) []evaluation {
			names := slices.Clone(c.Actions)
			slices.Sort(names)
			names = slices.Compact(names)
			out := make([]evaluation, 0, len(names))
			for _, n := range names {
				if n == "" {
					continue
				}
				e := base
				e.Action = &Action{Name: n}
				out = append(out, e)
			}
			return out
		},
		result: func(e evaluation, ctx map[string]any) any {
			return actionResult{Name: e.Action.Name, Context: ctx}
		},
	}
)

// entities turns the entities of type typ into candidates, sorted by id,
// each id once.
func entities(list []Entity, typ string, candidate func(Entity) evaluation) []evaluation {
	var of []Entity
	for _, e := range list {
		if e.Type == typ && e.ID != "" {
			of = append(of, e)
		}
	}
	slices.SortStableFunc(of, func(a, b Entity) int { return cmp.Compare(a.ID, b.ID) })
	of = slices.CompactFunc(of, func(a, b Entity) bool { return a.ID == b.ID })
	out := make([]evaluation, len(of))
	for i, e := range of {
		out[i] = candidate(e)
	}
	return out
}

// merged is the request's properties with the directory's on top.
func merged(request, known map[string]any) map[string]any {
	if len(request) == 0 {
		return known
	}
	out := maps.Clone(request)
	maps.Copy(out, known)
	return out
}

func (h *Handler) searchSubjects(ctx context.Context, m mapping, body []byte) (any, error) {
	return h.runSearch(ctx, m, body, subjectSearch)
}

func (h *Handler) searchResources(ctx context.Context, m mapping, body []byte) (any, error) {
	return h.runSearch(ctx, m, body, resourceSearch)
}

func (h *Handler) searchActions(ctx context.Context, m mapping, body []byte) (any, error) {
	return h.runSearch(ctx, m, body, actionSearch)
}

// runSearch answers one search: the directory's candidates of the
// searched kind, in a stable order, are decided one by one from the page
// token's position until the page is full; the permitted ones are the
// results. The id being searched for is ignored.
func (h *Handler) runSearch(ctx context.Context, m mapping, body []byte, kind searchKind) (any, error) {
	var in searchRequest
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	switch kind.name {
	case "subject":
		if in.Subject != nil {
			in.Subject = &Subject{Type: in.Subject.Type, Properties: in.Subject.Properties}
		}
	case "resource":
		if in.Resource != nil {
			in.Resource = &Resource{Type: in.Resource.Type, Properties: in.Resource.Properties}
		}
	case "action":
		in.Action = nil
	}
	base, _, err := m.request(in.evaluation, kind.opt)
	if err != nil {
		return nil, err
	}
	limit := DefaultPageLimit
	if in.Page != nil && in.Page.Limit != nil {
		l := *in.Page.Limit
		switch {
		case l < 0 || l != float64(int64(l)):
			return nil, fault.Invalid(fault.FieldViolation{Field: "page.limit", Description: "must be a non-negative integer"})
		case l > MaxPageLimit:
			limit = MaxPageLimit
		case l > 0:
			limit = int(l)
		}
	}
	digest := digestOf(kind.name, in, limit)
	var at cursor
	if in.Page != nil && in.Page.Token != "" {
		if at, err = parseToken(in.Page.Token, digest); err != nil {
			return nil, err
		}
	}

	known, err := h.opts.Directory.Candidates(ctx, m.tenant, base.Environment)
	if err != nil {
		return nil, err
	}
	if known == nil {
		known = &Candidates{}
	}
	all := kind.candidates(known, in.evaluation)
	var props map[string]any
	if len(all) > MaxCandidates {
		all = all[:MaxCandidates]
		props = map[string]any{"candidates_truncated": true}
	}
	if at.Offset > len(all) {
		return nil, errToken
	}

	resp := SearchResponse{Results: []any{}}
	i := at.Offset
	for ; i < len(all) && len(resp.Results) < limit; i++ {
		if ctx.Err() != nil {
			if len(resp.Results) == 0 {
				return nil, fault.New(fault.DeadlineExceeded, "deadline exceeded")
			}
			break
		}
		e := all[i]
		req, supported, err := m.request(e, optional{})
		if err != nil {
			// A directory entry the API cannot express (too long an
			// id) is not a result.
			continue
		}
		d, err := h.search.Check(ctx, req)
		if err != nil {
			if ctx.Err() != nil && len(resp.Results) > 0 {
				break
			}
			return nil, err
		}
		if d == nil {
			return nil, errors.New("the decision service returned neither a decision nor an error")
		}
		a := answer(req, d, supported, h.opts.ACR)
		if !a.Decision {
			continue
		}
		var rctx map[string]any
		if ob, ok := a.Context["obligations"]; ok {
			rctx = map[string]any{"obligations": ob}
		}
		resp.Results = append(resp.Results, kind.result(e, rctx))
	}
	resp.Page = Page{Count: len(resp.Results), Properties: props}
	permitted := at.Permitted + len(resp.Results)
	if i < len(all) {
		resp.Page.NextToken = cursor{Offset: i, Permitted: permitted, Digest: digest}.token()
	} else {
		resp.Page.Total = &permitted
	}
	return resp, nil
}
