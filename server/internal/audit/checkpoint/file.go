package checkpoint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
)

// Destination is where a Checkpointer appends checkpoints.
type Destination interface {
	// Write appends one checkpoint durably before returning.
	Write(line []byte) error
	// Close releases the destination.
	Close() error
}

// File is a checkpoints file: one compact JWS per line, opened for
// appending only, each line fsynced before Write returns.
type File struct {
	path string
	mu   sync.Mutex
	f    *os.File
}

var _ Destination = (*File)(nil)

// OpenFile opens path for appending, creating it with mode 0600 (and
// syncing its directory, so that the new name survives a crash). When the
// file does not end with a newline, a write was cut short; a newline is
// added so that the torn line stays alone and the next checkpoint starts a
// line of its own.
func OpenFile(path string) (*File, error) {
	torn, err := tornTail(path)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(filepath.Dir(path)); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	if torn {
		if _, err := f.Write([]byte{'\n'}); err != nil {
			_ = f.Close()
			return nil, err
		}
	}
	return &File{path: path, f: f}, nil
}

// tornTail reports whether the file at path exists, is not empty and does
// not end with a newline.
func tornTail(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return false, err
	}
	if !st.Mode().IsRegular() {
		return false, fmt.Errorf("%s: not a regular file", path)
	}
	if st.Size() == 0 {
		return false, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], st.Size()-1); err != nil {
		return false, err
	}
	return last[0] != '\n', nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Write appends line and a newline in one write, then fsyncs.
func (f *File) Write(line []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return os.ErrClosed
	}
	buf := make([]byte, 0, len(line)+1)
	buf = append(append(buf, line...), '\n')
	if _, err := f.f.Write(buf); err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	if err := f.f.Sync(); err != nil {
		return fmt.Errorf("%s: %w", f.path, err)
	}
	return nil
}

// Close closes the file.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.f == nil {
		return nil
	}
	err := f.f.Close()
	f.f = nil
	return err
}

// Line is one line of a checkpoints file.
type Line struct {
	// N is the line number, from 1.
	N int
	// Checkpoint is what the line signs; when Err is set, only KeyID may
	// be known.
	Checkpoint Checkpoint
	// Err is why the line is not a checkpoint signed by one of the keys.
	Err error
}

// maxLine bounds one line: a checkpoint is a few hundred bytes.
const maxLine = 16 << 10

// ReadFile reads every line of the checkpoints file at path and verifies
// it with ks. Blank lines are skipped. A last line without a newline was
// cut short by a crash while being written when it does not verify; it is
// reported in torn and left out of the lines.
func ReadFile(path string, ks Keys) (lines []Line, torn *Line, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, maxLine)
	for n := 1; ; n++ {
		raw, err := r.ReadSlice('\n')
		long := false
		for errors.Is(err, bufio.ErrBufferFull) {
			long = true
			_, err = r.ReadSlice('\n')
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, nil, fmt.Errorf("%s: %w", path, err)
		}
		complete := err == nil
		if long {
			lines = append(lines, Line{N: n, Err: fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, maxLine)})
		} else if text := bytes.TrimSpace(raw); len(text) > 0 {
			cp, verr := ks.Verify(text)
			l := Line{N: n, Checkpoint: cp, Err: verr}
			if !complete && verr != nil {
				torn = &l
			} else {
				lines = append(lines, l)
			}
		}
		if !complete {
			return lines, torn, nil
		}
	}
}

// tailBytes is how much of the end of a checkpoints file Latest reads.
const tailBytes = 64 << 10

// Latest returns the last checkpoint of the file at path that ks verifies,
// reading only the file's end, so that it stays cheap however long the
// file grows. Its line number is 0 unless the whole file was read. ok is
// false when the end of the file holds none (or there is no file).
func Latest(path string, ks Keys) (l Line, ok bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return Line{}, false, nil
	}
	if err != nil {
		return Line{}, false, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Line{}, false, err
	}
	off := max(st.Size()-tailBytes, 0)
	buf := make([]byte, st.Size()-off)
	if _, err := f.ReadAt(buf, off); err != nil && !errors.Is(err, io.EOF) {
		return Line{}, false, fmt.Errorf("%s: %w", path, err)
	}
	lines := bytes.Split(buf, []byte{'\n'})
	if off > 0 {
		lines = lines[1:] // the first may be the end of a longer line
	}
	for i := len(lines) - 1; i >= 0; i-- {
		text := bytes.TrimSpace(lines[i])
		if len(text) == 0 {
			continue
		}
		if cp, err := ks.Verify(text); err == nil {
			n := 0
			if off == 0 {
				n = i + 1
			}
			return Line{N: n, Checkpoint: cp}, true, nil
		}
	}
	return Line{}, false, nil
}
