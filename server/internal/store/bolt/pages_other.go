//go:build !linux

package bolt

import bbolt "go.etcd.io/bbolt"

// releasePages does nothing here; see pages_linux.go.
func (s *Store) releasePages(*bbolt.Tx) {}
