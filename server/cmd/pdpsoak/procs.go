package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// redisServer is a redis-server the soak owns: one port and one data
// directory for its whole life, with the append-only file fsynced before
// every reply, so that what it acknowledged survives a kill.
type redisServer struct {
	bin, dir string
	port     int
	log      *os.File

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{}
}

func startRedis(dir string) (*redisServer, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, fmt.Errorf("redis-server is not on PATH: install redis-server (apt-get install -y redis-server)")
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	log, err := os.Create(dir + "/redis.log")
	if err != nil {
		return nil, err
	}
	r := &redisServer{bin: bin, dir: dir, port: port, log: log}
	return r, r.start()
}

func (r *redisServer) url() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", r.port) }

func (r *redisServer) start() error {
	cmd := exec.Command(r.bin, "--bind", "127.0.0.1", "--port", strconv.Itoa(r.port), "--dir", r.dir,
		"--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no", "--loglevel", "warning")
	cmd.Stdout, cmd.Stderr = r.log, r.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	exit := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exit) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := r.ping(); err == nil {
			break
		} else if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exit
			return fmt.Errorf("redis-server on port %d did not answer PING: %v", r.port, err)
		}
		select {
		case <-exit:
			return fmt.Errorf("redis-server on port %d exited at start (see %s)", r.port, r.log.Name())
		case <-time.After(20 * time.Millisecond):
		}
	}
	r.mu.Lock()
	r.cmd, r.exit = cmd, exit
	r.mu.Unlock()
	return nil
}

// stop ends the server with sig (SIGTERM: a clean shutdown; SIGKILL: a
// crash) and waits for it to exit.
func (r *redisServer) stop(sig syscall.Signal) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(sig)
	select {
	case <-r.exit:
	case <-time.After(20 * time.Second):
		_ = r.cmd.Process.Kill()
		<-r.exit
	}
	r.cmd = nil
}

// restart starts the server again on the same port and data directory,
// retrying while the old socket lingers.
func (r *redisServer) restart() error {
	var err error
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if err = r.start(); err == nil {
			return nil
		}
	}
	return err
}

// ping sends an inline PING on a new connection.
func (r *redisServer) ping() error {
	conn, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)), time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

// pdpServer is the `pdp serve` child process.
type pdpServer struct {
	cmd      *exec.Cmd
	exit     chan struct{}
	grpcAddr string
	httpURL  string
	logPath  string
}

func startPDP(bin string, args []string, grpcAddr, httpAddr, logPath string) (*pdpServer, error) {
	log, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start pdp serve: %w", err)
	}
	p := &pdpServer{cmd: cmd, exit: make(chan struct{}), grpcAddr: grpcAddr, httpURL: "http://" + httpAddr, logPath: logPath}
	go func() { _ = cmd.Wait(); _ = log.Close(); close(p.exit) }()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.httpURL+"/readyz", nil)
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return p, nil
			}
		}
		select {
		case <-p.exit:
			return nil, fmt.Errorf("pdp serve exited at start: %s", tailFile(logPath))
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.stop()
			return nil, fmt.Errorf("pdp serve not ready within 2m: %s", tailFile(logPath))
		}
	}
}

// exited reports whether the server has exited.
func (p *pdpServer) exited() bool {
	select {
	case <-p.exit:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM and returns the exit error, nil for a clean exit.
func (p *pdpServer) stop() error {
	if p.exited() {
		return fmt.Errorf("pdp serve had already exited: %v", p.cmd.ProcessState)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exit:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exit
		return fmt.Errorf("pdp serve did not stop within 30s of SIGTERM")
	}
	if !p.cmd.ProcessState.Success() {
		return fmt.Errorf("pdp serve exited with %v", p.cmd.ProcessState)
	}
	return nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tailFile returns the last lines of a log for an error message.
func tailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := bytes.Split(bytes.TrimSpace(b), []byte("\n"))
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
