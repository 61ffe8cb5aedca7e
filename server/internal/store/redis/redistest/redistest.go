// Package redistest starts a real redis-server for tests: on a free
// loopback port, with a temporary directory, no persistence, and a cleanup
// that kills it. Tests of the Redis backend never skip: without
// redis-server on PATH they fail with InstallHint, in CI (CI=true,
// PDP_REQUIRE_REDIS=1) and on a developer's machine alike.
package redistest

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// InstallHint is how a test that needs redis-server fails without it.
const InstallHint = "redis-server is not on PATH: install redis-server (apt-get install -y redis-server)"

// startTimeout bounds how long a server may take to answer PING.
const startTimeout = 15 * time.Second

// Options change how Start runs the server.
type Options struct {
	// TLSCertFile and TLSKeyFile, when set, make the server listen with
	// TLS only (clients are not asked for certificates).
	TLSCertFile, TLSKeyFile string
	// Cluster runs a one-node Redis Cluster owning every slot: clients
	// take the cluster path (slot routing, CROSSSLOT checks) as against a
	// real cluster.
	Cluster bool
}

// Server is a running redis-server owned by one test.
type Server struct {
	t    testing.TB
	bin  string
	dir  string
	opts Options
	port int

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{}
	log  *syncBuffer
}

// Start starts a plain redis-server and registers its cleanup.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith starts a redis-server configured by opts and registers its
// cleanup.
func StartWith(t testing.TB, opts Options) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal(InstallHint)
	}
	s := &Server{t: t, bin: bin, dir: t.TempDir(), opts: opts}
	t.Cleanup(s.Stop)
	var last error
	for range 5 { // another process may take the free port first
		if s.port, err = freePort(); err != nil {
			t.Fatalf("redistest: %v", err)
		}
		if last = s.start(); last == nil {
			return s
		}
	}
	t.Fatalf("redistest: %v", last)
	return nil
}

// Addr is the server's host:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// URL is the store URL of database db: redis:// or, with TLS, rediss://.
func (s *Server) URL(db int) string {
	scheme := "redis"
	if s.opts.TLSCertFile != "" {
		scheme = "rediss"
	}
	return fmt.Sprintf("%s://%s/%d", scheme, s.Addr(), db)
}

// Restart stops the server and starts a new one on the same port; the data
// is gone, as after a crash without persistence. Clients must reconnect.
func (s *Server) Restart() {
	s.t.Helper()
	s.Stop()
	var err error
	deadline := time.Now().Add(startTimeout)
	for {
		if err = s.start(); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // the old socket may linger briefly
	}
	if err != nil {
		s.t.Fatalf("redistest: restart: %v", err)
	}
}

// Stop kills the server and waits for it to exit. It is safe to call more
// than once.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.exit
	s.cmd = nil
}

func (s *Server) start() error {
	args := []string{"--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", s.dir,
		"--daemonize", "no", "--loglevel", "warning"}
	if s.opts.TLSCertFile != "" {
		args = append(args, "--port", "0", "--tls-port", strconv.Itoa(s.port),
			"--tls-cert-file", s.opts.TLSCertFile, "--tls-key-file", s.opts.TLSKeyFile, "--tls-auth-clients", "no")
	} else {
		args = append(args, "--port", strconv.Itoa(s.port))
	}
	if s.opts.Cluster {
		args = append(args, "--cluster-enabled", "yes", "--cluster-config-file", "nodes-"+strconv.Itoa(s.port)+".conf")
	}
	cmd := exec.Command(s.bin, args...)
	log := new(syncBuffer)
	cmd.Stdout, cmd.Stderr = log, log
	dieWithParent(cmd)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", s.bin, err)
	}
	exit := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exit)
	}()
	deadline := time.Now().Add(startTimeout)
	for {
		err := s.ping()
		if err == nil {
			break
		}
		select {
		case <-exit:
			return fmt.Errorf("redis-server on port %d exited: %s", s.port, strings.TrimSpace(log.String()))
		default:
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exit
			return fmt.Errorf("redis-server on port %d did not answer PING within %s (%v): %s", s.port, startTimeout, err, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.opts.Cluster {
		if err := s.claimSlots(); err != nil {
			_ = cmd.Process.Kill()
			<-exit
			return err
		}
	}
	s.mu.Lock()
	s.cmd, s.exit, s.log = cmd, exit, log
	s.mu.Unlock()
	return nil
}

// claimSlots gives the one node every slot and waits for the cluster to
// report itself ok.
func (s *Server) claimSlots() error {
	if reply, err := s.command("CLUSTER ADDSLOTSRANGE 0 16383"); err != nil || reply != "+OK" && !strings.Contains(reply, "already busy") {
		return fmt.Errorf("CLUSTER ADDSLOTSRANGE: %q, %v", reply, err)
	}
	deadline := time.Now().Add(startTimeout)
	for {
		reply, err := s.command("CLUSTER INFO")
		if err == nil && strings.Contains(reply, "cluster_state:ok") {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cluster not ok within %s: %q, %v", startTimeout, reply, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping sends PING and expects PONG.
func (s *Server) ping() error {
	reply, err := s.command("PING")
	if err != nil {
		return err
	}
	if reply != "+PONG" {
		return fmt.Errorf("PING answered %q", reply)
	}
	return nil
}

// command sends one command in the inline protocol on a new connection
// and returns the reply: a status, error or integer line as sent, or the
// contents of a bulk string.
func (s *Server) command(line string) (string, error) {
	conn, err := net.DialTimeout("tcp", s.Addr(), time.Second)
	if err != nil {
		return "", err
	}
	if s.opts.TLSCertFile != "" {
		conn = tls.Client(conn, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // a probe of a test server
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte(line + "\r\n")); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	head, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	head = strings.TrimSuffix(head, "\r\n")
	if !strings.HasPrefix(head, "$") {
		return head, nil
	}
	n, err := strconv.Atoi(head[1:])
	if err != nil || n < 0 {
		return head, nil
	}
	body := make([]byte, n+2)
	if _, err := io.ReadFull(r, body); err != nil {
		return "", err
	}
	return string(body[:n]), nil
}

// Log returns what the server printed so far.
func (s *Server) Log() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.log == nil {
		return ""
	}
	return s.log.String()
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer is a bytes.Buffer safe for the process's writers and readers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
