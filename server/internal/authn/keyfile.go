package authn

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pdp-dev/pdp/server/internal/filewatch"
)

// Keys is the key file of a running server: the last good KeySet read
// from path, replaced when the file changes. A file that fails to read or
// parse is logged (never its contents) and the previous keys stay.
type Keys struct {
	path   string
	logger *slog.Logger
	set    atomic.Pointer[KeySet]

	mu  sync.Mutex // serialises reloads
	sum [sha256.Size]byte
}

// OpenKeys reads the key file at path, or returns why it cannot. logger
// (nil: discard) hears about reloads.
func OpenKeys(path string, logger *slog.Logger) (*Keys, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	k := &Keys{path: path, logger: logger}
	if _, err := k.Reload(); err != nil {
		return nil, err
	}
	return k, nil
}

// NewStaticKeys serves set for good, without a file.
func NewStaticKeys(set *KeySet) *Keys {
	k := &Keys{logger: slog.New(slog.DiscardHandler)}
	k.set.Store(set)
	return k
}

// Set is the KeySet in force.
func (k *Keys) Set() *KeySet { return k.set.Load() }

// Lookup finds the entry of a presented key in the KeySet in force.
func (k *Keys) Lookup(key string) (Entry, bool) { return k.set.Load().Lookup(key) }

// Reload reads the file again. changed is false when its contents are the
// same as last time; on error the previous keys stay.
func (k *Keys) Reload() (changed bool, err error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.path == "" {
		return false, nil
	}
	data, err := readLimited(k.path)
	if err != nil {
		return false, err
	}
	sum := sha256.Sum256(data)
	if k.set.Load() != nil && sum == k.sum {
		return false, nil
	}
	set, err := ParseKeys(data)
	if err != nil {
		return false, fmt.Errorf("%s: %w", k.path, err)
	}
	k.set.Store(set)
	k.sum = sum
	return true, nil
}

// Watch reloads the key file whenever it changes on disk, until ctx ends.
func (k *Keys) Watch(ctx context.Context, debounce time.Duration) error {
	if k.path == "" {
		<-ctx.Done()
		return nil
	}
	return filewatch.Watch(ctx, []string{k.path}, debounce, k.logger, func() {
		changed, err := k.Reload()
		switch {
		case err != nil:
			k.logger.Error("API key file rejected; the previous keys stay in force", "error", err.Error())
		case changed:
			k.logger.Info("API keys reloaded", "file", k.path, "keys", k.Set().Len())
		}
	})
}

// readLimited reads a file of at most MaxKeysFileSize bytes.
func readLimited(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading API key file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxKeysFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading API key file %s: %w", path, err)
	}
	if len(data) > MaxKeysFileSize {
		return nil, fmt.Errorf("API key file %s is larger than %d bytes", path, MaxKeysFileSize)
	}
	return data, nil
}
