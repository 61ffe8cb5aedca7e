package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// DefaultRedisPrefix starts every key and the notification channel of a
// Redis store.
const DefaultRedisPrefix = "pdp"

// RedisURL is what a Redis store URL says:
//
//	redis://[[USER]:PASSWORD@]HOST:PORT[/DB][?addr=HOST:PORT&prefix=NAME]
//	rediss://...   the same over TLS
//
// DB defaults to 0 and must be 0 against a Redis Cluster. Extra addr
// parameters are more seed nodes of a cluster. prefix replaces "pdp" as
// the first part of every key, so that deployments can share one server.
type RedisURL struct {
	// Addrs are the seed addresses, host:port, at least one.
	Addrs []string
	// DB is the logical database selected on connect.
	DB int
	// Username and Password authenticate with AUTH; empty when not given.
	Username, Password string
	// TLS is true for rediss://.
	TLS bool
	// ServerName is the host the TLS certificate must name.
	ServerName string
	// Prefix starts every key; DefaultRedisPrefix when the URL names none.
	Prefix string
}

// ParseRedisURL parses and checks a Redis store URL; its errors say what is
// wrong without repeating the password.
func ParseRedisURL(raw string) (RedisURL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // url.Error repeats the whole URL, password included
		}
		return RedisURL{}, fmt.Errorf("bad URL: %v", err)
	}
	var c RedisURL
	switch u.Scheme {
	case "redis":
	case "rediss":
		c.TLS = true
	default:
		return RedisURL{}, fmt.Errorf("scheme %q: want redis:// or rediss://", u.Scheme)
	}
	if u.Opaque != "" {
		return RedisURL{}, errors.New("bad URL: want redis://HOST:PORT/DB")
	}
	host, port, err := splitRedisHostPort(u.Host)
	if err != nil {
		return RedisURL{}, err
	}
	c.ServerName = host
	c.Addrs = []string{net.JoinHostPort(host, port)}
	if u.User != nil {
		c.Username = u.User.Username()
		c.Password, _ = u.User.Password()
	}
	switch p := strings.TrimPrefix(u.Path, "/"); {
	case p == "":
	case strings.Contains(p, "/"):
		return RedisURL{}, fmt.Errorf("path %q: want /DB, a database number", u.Path)
	default:
		db, err := strconv.Atoi(p)
		if err != nil || db < 0 {
			return RedisURL{}, fmt.Errorf("database number %q: want an integer of 0 or more", p)
		}
		c.DB = db
	}
	q := u.Query()
	for name := range q {
		if name != "addr" && name != "prefix" {
			return RedisURL{}, fmt.Errorf("unknown parameter %q: want addr or prefix", name)
		}
	}
	for _, a := range q["addr"] {
		h, p, err := splitRedisHostPort(a)
		if err != nil {
			return RedisURL{}, fmt.Errorf("addr %q: %v", a, err)
		}
		c.Addrs = append(c.Addrs, net.JoinHostPort(h, p))
	}
	c.Prefix = DefaultRedisPrefix
	if q.Has("prefix") {
		c.Prefix = q.Get("prefix")
		if err := checkRedisPrefix(c.Prefix); err != nil {
			return RedisURL{}, err
		}
	}
	return c, nil
}

func splitRedisHostPort(hostport string) (host, port string, err error) {
	if hostport == "" {
		return "", "", errors.New("missing host: want HOST:PORT")
	}
	host, port, err = net.SplitHostPort(hostport)
	if err != nil {
		// A host without a port: Redis's default port.
		host, port = strings.Trim(hostport, "[]"), "6379"
		if strings.ContainsAny(host, "[]") || strings.Count(host, ":") == 1 {
			return "", "", fmt.Errorf("bad address %q: want HOST:PORT", hostport)
		}
	}
	if host == "" {
		return "", "", fmt.Errorf("bad address %q: missing host", hostport)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", "", fmt.Errorf("bad port %q: want 1-65535", port)
	}
	return host, port, nil
}

func checkRedisPrefix(p string) error {
	if p == "" || len(p) > 64 || strings.ContainsAny(p, "{}*?[]\\ \t\r\n") {
		return fmt.Errorf("prefix %q: want 1-64 characters without braces, glob characters or spaces", p)
	}
	return nil
}
