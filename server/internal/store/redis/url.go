package redis

import "github.com/pdp-dev/pdp/server/internal/config"

// DefaultPrefix starts every key and the notification channel.
const DefaultPrefix = config.DefaultRedisPrefix

// Config is what a store URL says (config.RedisURL: the grammar is the
// --store flag's, so that the configuration checks it without this
// package).
type Config = config.RedisURL

// ParseURL parses and checks a store URL; its errors say what is wrong
// without repeating the password.
func ParseURL(raw string) (Config, error) { return config.ParseRedisURL(raw) }
