package decisionlog

import (
	"errors"
	"fmt"
	"io"
	"os"

	"gopkg.in/natefinch/lumberjack.v2"

	"github.com/pdp-dev/pdp/server/internal/config"
)

// Stdout is the destination that writes to standard output.
const Stdout = config.DecisionLogStdout

// Rotation is when a log file is rotated and how many old files stay.
type Rotation struct {
	// MaxSizeMB rotates the file when it reaches this many megabytes.
	MaxSizeMB int
	// MaxBackups is how many rotated files are kept; 0 keeps all.
	MaxBackups int
	// MaxAgeDays removes rotated files older than this; 0 keeps them.
	MaxAgeDays int
	// Compress gzips rotated files.
	Compress bool
}

// Open returns the writer of a destination: Stdout, or a file path,
// created with mode 0600 when missing and rotated as rot says. A partial
// last line, left by a crash or a full disk, is cut off the file first.
// Closing the returned writer leaves standard output open.
func Open(dest string, rot Rotation) (io.WriteCloser, error) {
	switch dest {
	case "":
		return nil, errors.New("decisionlog: no destination")
	case Stdout:
		return nopCloser{os.Stdout}, nil
	}
	// Create the file up front so that a bad path fails at start, with the
	// permissions a log of personal data needs; lumberjack keeps them.
	f, err := os.OpenFile(dest, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	if err := cutTornLine(dest); err != nil {
		return nil, fmt.Errorf("decisionlog: repairing the last line of %s: %w", dest, err)
	}
	return &file{&lumberjack.Logger{
		Filename:   dest,
		MaxSize:    rot.MaxSizeMB,
		MaxBackups: rot.MaxBackups,
		MaxAge:     rot.MaxAgeDays,
		Compress:   rot.Compress,
		LocalTime:  false,
	}}, nil
}

// file is a rotated log file whose partial last line can be cut off.
type file struct {
	*lumberjack.Logger
}

// cutTornLine cuts a line that a failed write left partial off the current
// file; lumberjack writes only there, appending.
func (f *file) cutTornLine() error { return cutTornLine(f.Filename) }

// nopCloser is a writer whose Close does nothing.
type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
