package authn

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"

	yaml "go.yaml.in/yaml/v3"
)

// Role is what a key may do.
type Role string

// The roles.
const (
	// RoleAdmin may call everything.
	RoleAdmin Role = "admin"
	// RoleTenantAdmin may call the admin RPCs for its own tenants.
	RoleTenantAdmin Role = "tenant-admin"
	// RolePEP may ask for decisions and report events.
	RolePEP Role = "pep"
	// RoleTransmitter may push Shared Signals events to its streams
	// (POST /ssf/streams/{name}/events), and nothing else.
	RoleTransmitter Role = "transmitter"
)

// Roles lists every role.
var Roles = []Role{RoleAdmin, RoleTenantAdmin, RolePEP, RoleTransmitter}

// KeyPrefix begins every key GenerateKey makes, so that a leaked key is
// easy to recognise in code and by secret scanners.
const KeyPrefix = "pdp_"

// MaxKeysFileSize is the largest key file ParseKeys accepts, in bytes.
const MaxKeysFileSize = 1 << 20

// Entry is one key of the key file.
type Entry struct {
	// Name identifies the key in logs and to policy (input.caller.name);
	// unique within the file.
	Name string `yaml:"name"`
	// KeySHA256 is the hex SHA-256 of the whole key, prefix included.
	KeySHA256 string `yaml:"key_sha256"`
	// Role is admin, tenant-admin or pep.
	Role Role `yaml:"role"`
	// Tenants are the tenants a tenant-admin administers (required) or a
	// pep asks and reports for (optional: without them a pep serves every
	// tenant); refused for admin.
	Tenants []string `yaml:"tenants,omitempty"`
	// Streams are the Shared Signals streams a transmitter pushes to
	// (required); refused for the other roles.
	Streams []string `yaml:"streams,omitempty"`
}

// KeySet is a parsed, checked key file. It is immutable.
type KeySet struct {
	entries []Entry
	hashes  [][sha256.Size]byte
}

// Len is the number of keys.
func (s *KeySet) Len() int { return len(s.entries) }

// ParseKeys decodes and checks a key file. Every problem is reported, each
// naming the entry by position and name, never a hash.
func ParseKeys(data []byte) (*KeySet, error) {
	if len(data) > MaxKeysFileSize {
		return nil, fmt.Errorf("key file is larger than %d bytes", MaxKeysFileSize)
	}
	var entries []Entry
	if len(bytes.TrimSpace(data)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		if err := dec.Decode(&entries); err != nil {
			return nil, fmt.Errorf("key file: %w", err)
		}
	}
	set := &KeySet{}
	var errs []error
	names := map[string]bool{}
	seen := map[[sha256.Size]byte]bool{}
	for i, e := range entries {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("key %d (%q): %s", i+1, e.Name, fmt.Sprintf(format, args...)))
		}
		if e.Name == "" {
			bad("name is required")
		} else if names[e.Name] {
			bad("name is used by an earlier key")
		}
		names[e.Name] = true
		var h [sha256.Size]byte
		raw, err := hex.DecodeString(strings.TrimSpace(e.KeySHA256))
		switch {
		case err != nil || len(raw) != sha256.Size:
			bad("key_sha256 must be 64 hexadecimal digits (the SHA-256 of the key, as pdp keygen prints it)")
		default:
			copy(h[:], raw)
			if seen[h] {
				bad("key_sha256 repeats an earlier key's")
			}
			seen[h] = true
		}
		if len(e.Streams) > 0 && e.Role != RoleTransmitter {
			bad("streams apply to the transmitter role only")
		}
		switch e.Role {
		case RoleAdmin:
			if len(e.Tenants) > 0 {
				bad("tenants apply to the tenant-admin and pep roles only")
			}
		case RoleTransmitter:
			if len(e.Tenants) > 0 {
				bad("tenants apply to the tenant-admin and pep roles only; a transmitter names its streams")
			}
			if len(e.Streams) == 0 {
				bad("a transmitter needs at least one stream")
			}
			if slices.Contains(e.Streams, "") {
				bad("streams must not be empty")
			}
		case RoleTenantAdmin, RolePEP:
			if e.Role == RoleTenantAdmin && len(e.Tenants) == 0 {
				bad("a tenant-admin needs at least one tenant")
			}
			if slices.Contains(e.Tenants, "") {
				bad("tenants must not be empty")
			}
		default:
			bad("role %q: must be admin, tenant-admin or pep (clients), or transmitter (Shared Signals push)", e.Role)
		}
		e.KeySHA256 = hex.EncodeToString(h[:])
		e.Tenants = slices.Clone(e.Tenants)
		e.Streams = slices.Clone(e.Streams)
		set.entries = append(set.entries, e)
		set.hashes = append(set.hashes, h)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// Lookup finds the entry of a presented key. The key is hashed and its
// hash compared with every entry's in constant time; the loop never stops
// early, so its duration does not tell which entry, if any, matched.
func (s *KeySet) Lookup(key string) (Entry, bool) {
	if s == nil {
		return Entry{}, false
	}
	h := sha256.Sum256([]byte(key))
	match := -1
	for i := range s.hashes {
		eq := subtle.ConstantTimeCompare(h[:], s.hashes[i][:])
		match = subtle.ConstantTimeSelect(eq, i, match)
	}
	if match < 0 {
		return Entry{}, false
	}
	e := s.entries[match]
	e.Tenants = slices.Clone(e.Tenants)
	e.Streams = slices.Clone(e.Streams)
	return e, true
}

// HashKey is the hex SHA-256 of key, the key_sha256 of its entry.
func HashKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return hex.EncodeToString(h[:])
}

// GenerateKey returns a new key: KeyPrefix followed by 32 random bytes in
// unpadded base64url.
func GenerateKey() (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("generating key: %w", err)
	}
	return KeyPrefix + base64.RawURLEncoding.EncodeToString(b[:]), nil
}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	r := Role(s)
	if slices.Contains(Roles, r) {
		return r, nil
	}
	return "", fmt.Errorf("role %q: must be admin, tenant-admin or pep (clients), or transmitter (Shared Signals push)", s)
}
