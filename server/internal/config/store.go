package config

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// The kinds of store --store selects.
const (
	// StoreBolt is "bolt:PATH": one embedded, durable file; the default.
	StoreBolt = "bolt"
	// StoreMemory is "memory:": process memory, lost on exit.
	StoreMemory = "memory"
	// StoreRedis is "redis://HOST:PORT/DB" or "rediss://...": a Redis,
	// Redis Cluster or Valkey shared by every replica.
	StoreRedis = "redis"
)

// storeHelp is the --store flag's help.
const storeHelp = `state store: "bolt:PATH" (embedded file, the default), "memory:" (lost on exit), ` +
	`"redis://[:PASSWORD@]HOST:PORT/DB" or "rediss://..." (shared by replicas; Redis Cluster and Valkey too)`

// StoreSpec is a parsed --store value.
type StoreSpec struct {
	// Kind is StoreBolt, StoreMemory or StoreRedis.
	Kind string
	// Path is the file of a bolt store.
	Path string
	// URL is the whole value of a redis store.
	URL string
}

// ParseStore parses a --store value; its errors say what is wrong (never
// repeating a Redis password).
func ParseStore(v string) (StoreSpec, error) {
	scheme, rest, ok := strings.Cut(v, ":")
	if !ok {
		return StoreSpec{}, errors.New(`want "bolt:PATH", "memory:", "redis://HOST:PORT/DB" or "rediss://HOST:PORT/DB"`)
	}
	switch scheme {
	case StoreBolt:
		if rest == "" {
			return StoreSpec{}, errors.New(`"bolt:" needs a file path, such as bolt:./data/pdp.db`)
		}
		if st, err := os.Stat(rest); err == nil && st.IsDir() {
			return StoreSpec{}, fmt.Errorf("%s is a directory, want a file path such as %s/pdp.db", rest, strings.TrimSuffix(rest, "/"))
		}
		return StoreSpec{Kind: StoreBolt, Path: rest}, nil
	case StoreMemory:
		if rest != "" {
			return StoreSpec{}, errors.New(`"memory:" takes nothing after the colon`)
		}
		return StoreSpec{Kind: StoreMemory}, nil
	case "redis", "rediss":
		if _, err := ParseRedisURL(v); err != nil {
			return StoreSpec{}, err
		}
		return StoreSpec{Kind: StoreRedis, URL: v}, nil
	}
	return StoreSpec{}, fmt.Errorf(`unknown store %q: want "bolt:PATH", "memory:", "redis://..." or "rediss://..."`, scheme+":")
}

// storeForErrors is v without the user information of a Redis URL (which
// holds the password), for error messages.
func storeForErrors(v string) string {
	scheme, rest, ok := strings.Cut(v, "://")
	if !ok {
		return v
	}
	at := strings.LastIndexByte(rest, '@')
	if slash := strings.IndexByte(rest, '/'); at < 0 || slash >= 0 && slash < at {
		return v
	}
	return scheme + "://***@" + rest[at+1:]
}
