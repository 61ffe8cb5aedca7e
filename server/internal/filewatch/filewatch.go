// Package filewatch calls a function when files change on disk. It watches
// the directories that hold the files rather than the files themselves, so
// that atomic replacements (write a temporary file, rename it over the old
// one) and Kubernetes secret and config map updates (a "..data" symlink
// swapped to a new directory) are seen as well as in-place writes.
package filewatch

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long changes must settle before onChange runs
// when Watch is given no debounce.
const DefaultDebounce = 200 * time.Millisecond

// Watch calls onChange once the files have stopped changing for debounce,
// after every burst of changes, until ctx ends; it returns nil then. It
// returns an error only when the watch cannot be set up. onChange runs on
// Watch's goroutine, one call at a time.
//
// A change is any event, other than a bare permission change, on a path in
// a watched directory whose name is one of the files' names or begins with
// ".." (the Kubernetes atomic writer's names).
func Watch(ctx context.Context, files []string, debounce time.Duration, logger *slog.Logger, onChange func()) error {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("filewatch: %w", err)
	}
	defer w.Close()
	var dirs, names []string
	for _, f := range files {
		dir, name := filepath.Split(filepath.Clean(f))
		if dir == "" {
			dir = "."
		}
		if !slices.Contains(dirs, dir) {
			dirs = append(dirs, dir)
		}
		names = append(names, name)
	}
	for _, d := range dirs {
		if err := w.Add(d); err != nil {
			return fmt.Errorf("filewatch: watching %s: %w", d, err)
		}
	}
	relevant := func(ev fsnotify.Event) bool {
		if ev.Op == fsnotify.Chmod {
			return false
		}
		base := filepath.Base(ev.Name)
		return slices.Contains(names, base) || strings.HasPrefix(base, "..")
	}

	timer := time.NewTimer(debounce)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if relevant(ev) {
				timer.Reset(debounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			logger.Warn("file watcher error", "error", err.Error())
		case <-timer.C:
			onChange()
		}
	}
}
