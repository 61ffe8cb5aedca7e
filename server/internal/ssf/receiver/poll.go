package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MaxPollEvents is how many SETs one poll asks for.
const MaxPollEvents = 64

// maxPollBody bounds a poll response.
const maxPollBody = MaxPollEvents*MaxSETBytes + 64<<10

// pollRequest is the body of an RFC 8936 poll (section 2.1).
type pollRequest struct {
	MaxEvents         int                 `json:"maxEvents"`
	ReturnImmediately bool                `json:"returnImmediately"`
	Ack               []string            `json:"ack,omitempty"`
	SetErrs           map[string]setError `json:"setErrs,omitempty"`
}

type setError struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// pollResponse is the body of its answer (section 2.2).
type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// poller polls one stream until it is stopped.
type poller struct {
	cfg    Stream
	cancel context.CancelFunc
	done   chan struct{}
}

// StartPolling starts a poll client for every poll stream in force, and
// for those later loads add, until ctx ends; a stream a load removes or
// changes has its client stopped (and restarted with the new settings).
func (r *Receiver) StartPolling(ctx context.Context) {
	r.pollMu.Lock()
	r.pollCtx = ctx
	r.pollMu.Unlock()
	r.syncPollers()
	context.AfterFunc(ctx, func() { r.StopPolling() })
}

// StopPolling stops every poll client and waits for them: each sends its
// pending acknowledgements first.
func (r *Receiver) StopPolling() {
	r.pollMu.Lock()
	r.pollCtx = nil
	ps := r.pollers
	r.pollers = map[string]*poller{}
	r.pollMu.Unlock()
	for _, p := range ps {
		p.cancel()
		<-p.done
	}
}

// syncPollers makes the running poll clients those of the poll streams in
// force.
func (r *Receiver) syncPollers() {
	r.pollMu.Lock()
	defer r.pollMu.Unlock()
	if r.pollCtx == nil {
		return
	}
	cur := r.current.Load()
	for name, p := range r.pollers {
		if st := cur.byName[name]; st == nil || !sameStream(st.cfg, p.cfg) {
			p.cancel()
			<-p.done
			delete(r.pollers, name)
		}
	}
	for name, st := range cur.byName {
		if st.cfg.Delivery != "poll" || r.pollers[name] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(r.pollCtx)
		p := &poller{cfg: st.cfg, cancel: cancel, done: make(chan struct{})}
		r.pollers[name] = p
		go func() {
			defer close(p.done)
			r.poll(ctx, p.cfg)
		}()
	}
}

// poll runs one stream's RFC 8936 client: it asks for up to MaxPollEvents
// SETs, applies each, and acknowledges in its next request those applied
// (or applied before: a jti already known) and reports those refused in
// setErrs; a SET the store could not take is neither, so the transmitter
// delivers it again. Nothing is acknowledged before it is stored, and a
// SET delivered twice (after a restart that lost the acknowledgements) is
// recognised by its jti, so a restart neither loses nor doubles an event.
// After an empty answer or a failure it waits PollInterval; when the
// transmitter says more is available it asks again at once. When ctx ends
// it sends what it still has to acknowledge, once.
func (r *Receiver) poll(ctx context.Context, cfg Stream) {
	var ack []string
	errs := map[string]setError{}
	for {
		if ctx.Err() != nil {
			if len(ack)+len(errs) > 0 {
				fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				_, _ = r.pollOnce(fctx, cfg, pollRequest{MaxEvents: 0, ReturnImmediately: true, Ack: ack, SetErrs: errs})
				cancel()
			}
			return
		}
		resp, err := r.pollOnce(ctx, cfg, pollRequest{MaxEvents: MaxPollEvents, ReturnImmediately: true, Ack: ack, SetErrs: errs})
		if err != nil {
			if ctx.Err() == nil {
				r.logger.Warn("SSF poll failed; trying again", "stream", cfg.Name, "error", err.Error())
			}
			sleep(ctx, cfg.PollInterval)
			continue
		}
		ack, errs = nil, map[string]setError{}
		for jti, set := range resp.Sets {
			err := r.Receive(ctx, cfg.Name, []byte(set))
			var se *SETError
			switch {
			case err == nil:
				ack = append(ack, jti)
			case errors.As(err, &se) && se.Replay:
				ack = append(ack, jti)
			case errors.As(err, &se):
				errs[jti] = setError{Err: se.Code, Description: se.Description}
			}
		}
		if !resp.MoreAvailable && len(resp.Sets) == 0 {
			sleep(ctx, cfg.PollInterval)
		}
	}
}

// pollOnce sends one poll request and reads the answer.
func (r *Receiver) pollOnce(ctx context.Context, cfg Stream, body pollRequest) (*pollResponse, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.PollURL, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if cfg.PollTokenFile != "" {
		tok, err := readLimited(cfg.PollTokenFile, 16<<10)
		if err != nil {
			return nil, fmt.Errorf("poll_token_file: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxPollBody))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: HTTP %d", cfg.PollURL, resp.StatusCode)
	}
	var out pollResponse
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("POST %s: the answer is not a poll response: %w", cfg.PollURL, err)
	}
	return &out, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
