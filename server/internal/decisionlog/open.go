package decisionlog

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

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

// Files are the files of a decision log destination, the current one
// first and then its rotated backups (plain or gzipped), newest first;
// nil for Stdout. The current file is listed whether or not it exists.
func Files(dest string) ([]string, error) {
	if dest == "" || dest == Stdout {
		return nil, nil
	}
	dir, base := filepath.Split(dest)
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(base, ext) + "-"
	entries, err := os.ReadDir(filepath.Clean(dir + "."))
	if err != nil {
		return nil, err
	}
	var backups []string
	for _, e := range entries {
		// lumberjack names a backup name-<UTC time>.ext, gzipped .ext.gz.
		n := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(n, prefix) ||
			!(strings.HasSuffix(n, ext) || strings.HasSuffix(n, ext+".gz")) {
			continue
		}
		if _, err := time.Parse(backupTimeFormat, strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(n, prefix), ".gz"), ext)); err != nil {
			continue
		}
		backups = append(backups, filepath.Join(dir, n))
	}
	slices.Sort(backups)
	slices.Reverse(backups)
	return append([]string{dest}, backups...), nil
}

// backupTimeFormat is the time in the name of a rotated file.
const backupTimeFormat = "2006-01-02T15-04-05.000"
