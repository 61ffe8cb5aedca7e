package decisionlog_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pdp-dev/pdp/server/internal/decision"
	"github.com/pdp-dev/pdp/server/internal/decisionlog"
	"github.com/pdp-dev/pdp/server/internal/fault"
	"github.com/pdp-dev/pdp/server/internal/fulldisk"
	"github.com/pdp-dev/pdp/server/internal/telemetry"
)

// countingDecider decides challenge, with a new decision id each time.
type countingDecider struct{ n atomic.Int64 }

func (c *countingDecider) Decide(context.Context, *decision.Request) (*decision.Decision, error) {
	d := challenge()
	d.ID = "dec-" + strconv.FormatInt(c.n.Add(1), 10)
	return d, nil
}

// answers decides through d and keeps the ids of the decisions returned.
type answers struct {
	d      decider
	mu     sync.Mutex
	ids    []string
	failed int
}

// decide asks for one decision; a call that fails must fail because the
// decision log could not record it.
func (a *answers) decide(t *testing.T) error {
	out, err := a.d.Decide(context.Background(), request())
	a.mu.Lock()
	defer a.mu.Unlock()
	if err != nil {
		a.failed++
		if fe := fault.As(err); fe.Code != fault.Unavailable || !strings.Contains(fe.Message, "decision log") {
			t.Errorf("a call failed with %v (%s), want UNAVAILABLE naming the decision log", err, fe.Code)
		}
		return err
	}
	a.ids = append(a.ids, out.ID)
	return nil
}

// loggedIDs reads a decision log file; every line must be whole JSON.
func loggedIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) > 0 && data[len(data)-1] != '\n' {
		t.Errorf("the log ends in a partial line: %q", data[max(0, len(data)-80):])
	}
	var ids []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var line struct {
			DecisionID string `json:"decision_id"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil || line.DecisionID == "" {
			t.Fatalf("line %q is not a whole decision line: %v", sc.Text(), err)
		}
		ids = append(ids, line.DecisionID)
	}
	return ids
}

// logOnSmallDisk opens a decision log file on a small file system of its
// own, for fulldisk.Fill to fill.
func logOnSmallDisk(t *testing.T) (dir, path string, w io.WriteCloser) {
	t.Helper()
	dir = fulldisk.Mount(t, 256<<10)
	path = filepath.Join(dir, "decisions.log")
	w, err := decisionlog.Open(path, decisionlog.Rotation{MaxSizeMB: 1})
	if err != nil {
		t.Fatal(err)
	}
	return dir, path, w
}

// sameIDs fails unless got and want hold the same ids, in any order.
func sameIDs(t *testing.T, what string, got, want []string) {
	t.Helper()
	got, want = slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("%s: %d ids, want %d\ngot  %v\nwant %v", what, len(got), len(want), got, want)
	}
}

func TestBlockModeOnAFullDiskFailsTheCallsItCannotLogAndResumes(t *testing.T) {
	t.Parallel()
	dir, path, w := logOnSmallDisk(t)
	l := decisionlog.New(decisionlog.Options{Writer: w, Mode: decisionlog.ModeBlock})
	a := &answers{d: logged(l, &countingDecider{})}
	for range 3 {
		if err := a.decide(t); err != nil {
			t.Fatalf("with room on disk: %v", err)
		}
	}

	free := fulldisk.Fill(t, dir)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 50 {
				_ = a.decide(t)
			}
		})
	}
	wg.Wait()
	if a.failed == 0 {
		t.Fatal("every call was answered although the disk was full")
	}

	free()
	for range 20 {
		if err := a.decide(t); err != nil {
			t.Fatalf("writing did not resume by itself once space returned: %v", err)
		}
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	sameIDs(t, "logged decisions against answered ones", loggedIDs(t, path), a.ids)
	if got := l.Failed(); got != uint64(a.failed) {
		t.Errorf("Failed() = %d, want the %d failed calls", got, a.failed)
	}
	if l.Dropped() != 0 {
		t.Errorf("block mode dropped %d lines", l.Dropped())
	}
}

// counter reads a counter from the exposition of m.
func counter(t *testing.T, m *telemetry.Metrics, name string) int {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	match := regexp.MustCompile(`(?m)^` + name + ` (\d+)$`).FindStringSubmatch(rec.Body.String())
	if match == nil {
		t.Fatalf("/metrics lacks %s:\n%s", name, rec.Body.String())
	}
	n, _ := strconv.Atoi(match[1])
	return n
}

func TestDropModeOnAFullDiskCountsEveryLostLineAndResumes(t *testing.T) {
	t.Parallel()
	dir, path, w := logOnSmallDisk(t)
	m, err := telemetry.NewMetrics(telemetry.MetricsOptions{WithoutRuntimeMetrics: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown(context.Background()) })
	if n := counter(t, m, "pdp_decision_log_dropped_total"); n != 0 {
		t.Fatalf("dropped counter starts at %d", n)
	}
	l := decisionlog.New(decisionlog.Options{Writer: w, OnDrop: m.RecordDecisionLogDropped})
	a := &answers{d: logged(l, &countingDecider{})}
	settled := func(n int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for l.Written()+l.Dropped() < uint64(n) {
			if time.Now().After(deadline) {
				t.Fatalf("the writer settled %d of %d lines", l.Written()+l.Dropped(), n)
			}
			time.Sleep(time.Millisecond)
		}
	}

	free := fulldisk.Fill(t, dir)
	for range 200 {
		if err := a.decide(t); err != nil {
			t.Fatalf("drop mode failed a call: %v", err)
		}
	}
	settled(200)
	lost := l.Dropped()
	if lost == 0 {
		t.Fatal("no line was counted lost although the disk was full")
	}

	free()
	for range 20 {
		_ = a.decide(t)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	logged := loggedIDs(t, path)
	if len(logged)+int(l.Dropped()) != len(a.ids) {
		t.Errorf("%d lines written and %d counted lost, want the %d decisions answered", len(logged), l.Dropped(), len(a.ids))
	}
	if n := counter(t, m, "pdp_decision_log_dropped_total"); n != int(l.Dropped()) {
		t.Errorf("pdp_decision_log_dropped_total = %d, want %d", n, l.Dropped())
	}
	if l.Dropped() != lost {
		t.Errorf("%d more lines lost after space returned; writing did not resume", l.Dropped()-lost)
	}
	if !slices.Equal(logged[len(logged)-20:], a.ids[len(a.ids)-20:]) {
		t.Errorf("the lines after space returned are not all in the log: %v", logged[max(0, len(logged)-20):])
	}
}

// fullWriter is a disk with room for a number of bytes: a write beyond
// them writes what fits and fails with ENOSPC.
type fullWriter struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	room int
}

func (w *fullWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := min(len(p), w.room)
	w.buf.Write(p[:n])
	w.room -= n
	if n < len(p) {
		return n, &os.PathError{Op: "write", Path: "decisions.log", Err: syscall.ENOSPC}
	}
	return n, nil
}

func (w *fullWriter) setRoom(n int) { w.mu.Lock(); w.room = n; w.mu.Unlock() }

func (w *fullWriter) lines(t *testing.T) []string {
	t.Helper()
	w.mu.Lock()
	data := append([]byte(nil), w.buf.Bytes()...)
	w.mu.Unlock()
	path := filepath.Join(t.TempDir(), "out.log")
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return loggedIDs(t, path)
}

func TestAWriteThatFailsPartwayLeavesNoTornLine(t *testing.T) {
	t.Parallel()
	for _, mode := range []decisionlog.Mode{decisionlog.ModeBlock, decisionlog.ModeDrop} {
		t.Run(string(mode), func(t *testing.T) {
			t.Parallel()
			w := &fullWriter{room: 1 << 20}
			l := decisionlog.New(decisionlog.Options{Writer: w, Mode: mode})
			a := &answers{d: logged(l, &countingDecider{})}
			wait := func(n uint64) {
				t.Helper()
				for deadline := time.Now().Add(10 * time.Second); l.Written()+l.Dropped()+l.Failed() < n; time.Sleep(time.Millisecond) {
					if time.Now().After(deadline) {
						t.Fatalf("the writer settled %d of %d lines", l.Written()+l.Dropped()+l.Failed(), n)
					}
				}
			}
			if err := a.decide(t); err != nil {
				t.Fatal(err)
			}
			wait(1)
			w.mu.Lock()
			lineLen := w.buf.Len()
			w.mu.Unlock()

			w.setRoom(lineLen / 2) // the next line stops halfway
			for range 3 {
				_ = a.decide(t)
				wait(uint64(len(a.ids) + a.failed))
			}
			w.setRoom(1 << 20)
			for range 3 {
				if err := a.decide(t); err != nil {
					t.Fatalf("writing did not resume once there was room: %v", err)
				}
			}
			if err := l.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			logged := w.lines(t) // fails on a torn line
			for _, id := range a.ids {
				if mode == decisionlog.ModeBlock && !slices.Contains(logged, id) {
					t.Errorf("decision %s was answered but its line is not in the log %v", id, logged)
				}
			}
			if mode == decisionlog.ModeBlock && (a.failed != 3 || l.Failed() != 3) {
				t.Errorf("%d calls failed (Failed() = %d), want the 3 made without room", a.failed, l.Failed())
			}
			if mode == decisionlog.ModeDrop && int(l.Dropped()) < len(a.ids)-len(logged) {
				t.Errorf("%d lines counted lost, but %d of %d are missing", l.Dropped(), len(a.ids)-len(logged), len(a.ids))
			}
			if !slices.Equal(logged[len(logged)-3:], a.ids[len(a.ids)-3:]) {
				t.Errorf("the lines written after room returned are not the last of the log: %v", logged)
			}
		})
	}
}

func TestOpenCutsAPartialLastLineLeftByACrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "decisions.log")
	whole := `{"decision_id":"dec-0"}` + "\n"
	if err := os.WriteFile(path, []byte(whole+`{"decision_id":"dec-1","ti`), 0o600); err != nil {
		t.Fatal(err)
	}
	w, err := decisionlog.Open(path, decisionlog.Rotation{MaxSizeMB: 1})
	if err != nil {
		t.Fatal(err)
	}
	l := decisionlog.New(decisionlog.Options{Writer: w})
	l.Log(decisionlog.NewEntry(context.Background(), request(), challenge(), time.Now(), 0))
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := loggedIDs(t, path), []string{"dec-0", "dec-123"}; !slices.Equal(got, want) {
		t.Fatalf("logged %v, want %v", got, want)
	}
}

func TestBlockModeFailsCallsAfterClose(t *testing.T) {
	t.Parallel()
	var buf buffer
	l := decisionlog.New(decisionlog.Options{Writer: &buf, Mode: decisionlog.ModeBlock})
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, err := logged(l, fixedDecider{challenge()}).Decide(context.Background(), request())
	if !errors.Is(err, fault.ErrUnavailable) || !errors.Is(err, decisionlog.ErrNotRecorded) {
		t.Fatalf("Decide after Close = %v, want UNAVAILABLE: the line cannot be written", err)
	}
	if l.Failed() != 1 || len(buf.lines(t)) != 0 {
		t.Fatalf("Failed() = %d, lines %d", l.Failed(), len(buf.lines(t)))
	}
}

func TestBlockModeCallerGivesUpWithItsContext(t *testing.T) {
	t.Parallel()
	g := newGate()
	l := decisionlog.New(decisionlog.Options{Writer: g, Mode: decisionlog.ModeBlock})
	defer func() {
		close(g.open)
		if err := l.Close(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := logged(l, fixedDecider{challenge()}).Decide(ctx, request())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Decide with a stuck writer = %v, want the caller's deadline", err)
	}
	if l.Failed() != 0 {
		t.Errorf("a deadline counted as a log failure: %d", l.Failed())
	}
}

func TestRotationKeepsWholeLinesInBlockMode(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "decisions.log")
	w, err := decisionlog.Open(path, decisionlog.Rotation{MaxSizeMB: 1, MaxBackups: 5})
	if err != nil {
		t.Fatal(err)
	}
	l := decisionlog.New(decisionlog.Options{Writer: w, Mode: decisionlog.ModeBlock})
	a := &answers{d: logged(l, &countingDecider{})}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 700 { // about 1.6 MB in all: one rotation at least
				if err := a.decide(t); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(dir, "decisions*.log"))
	if err != nil || len(files) < 2 {
		t.Fatalf("log files %v, %v; want the file and a rotated one", files, err)
	}
	var logged []string
	for _, f := range files {
		logged = append(logged, loggedIDs(t, f)...)
	}
	sameIDs(t, "lines across the rotated files against answered decisions", logged, a.ids)
}
