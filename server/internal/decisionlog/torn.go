package decisionlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// tornCutter is a writer that can cut a torn last line, left by a write
// that failed partway, off its end: a file from Open.
type tornCutter interface {
	cutTornLine() error
}

// lineWriter writes runs of whole lines and never lets a line be torn: when
// a write fails partway, the partial line is cut off the writer when it can
// be, and otherwise its rest is written before anything else.
type lineWriter struct {
	w    io.Writer
	cut  tornCutter // nil when w cannot be cut
	torn bool       // w may end in a partial line that cut must remove
	rest []byte     // the unwritten end of a partial line, when cut is nil
}

func newLineWriter(w io.Writer) *lineWriter {
	lw := &lineWriter{w: w}
	lw.cut, _ = w.(tornCutter)
	return lw
}

// write writes p, a run of whole lines, and returns how many bytes of p are
// whole lines in w. The error says why not all of p is.
func (lw *lineWriter) write(p []byte) (int, error) {
	if err := lw.mend(); err != nil {
		return 0, err
	}
	n, err := lw.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err == nil {
		return n, nil
	}
	whole := bytes.LastIndexByte(p[:n], '\n') + 1
	if whole < n {
		if lw.cut != nil {
			lw.torn = true
		} else {
			lw.rest = append(lw.rest[:0], p[n:n+bytes.IndexByte(p[n:], '\n')+1]...)
		}
		// Mend now so that a writer that recovers at once is whole at once;
		// what fails is retried before the next write.
		if merr := lw.mend(); merr != nil {
			err = errors.Join(err, merr)
		}
	}
	return whole, err
}

// mend removes or completes a partial line left by a failed write.
func (lw *lineWriter) mend() error {
	if lw.torn {
		if err := lw.cut.cutTornLine(); err != nil {
			return fmt.Errorf("cutting a partly written line: %w", err)
		}
		lw.torn = false
	}
	for len(lw.rest) > 0 {
		n, err := lw.w.Write(lw.rest)
		lw.rest = lw.rest[n:]
		if err == nil && n == 0 {
			err = io.ErrShortWrite
		}
		if err != nil {
			return fmt.Errorf("completing a partly written line: %w", err)
		}
	}
	return nil
}

// cutTornLine truncates the file at path after its last newline, so that it
// ends in a whole line (or is empty). A missing file has nothing to cut.
func cutTornLine(path string) (err error) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	buf := make([]byte, 4096)
	for end := size; end > 0; {
		n := min(end, int64(len(buf)))
		if _, err := f.ReadAt(buf[:n], end-n); err != nil {
			return err
		}
		if i := bytes.LastIndexByte(buf[:n], '\n'); i >= 0 {
			if keep := end - n + int64(i) + 1; keep < size {
				return f.Truncate(keep)
			}
			return nil
		}
		end -= n
	}
	if size > 0 {
		return f.Truncate(0)
	}
	return nil
}
