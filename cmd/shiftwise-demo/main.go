// Command shiftwise-demo stands in for the ShiftWise services in the demo
// stack and in tests: one small static binary that plays the api, frontend
// or nginx role of the runbook's docker-compose project.
//
// Serving (the default):
//
//	shiftwise-demo [-role api|frontend|nginx] [-addr :3000] [-upstream URL]
//
// serves GET /health ({"status":"ok","role":"api"}) and GET /, and writes one
// access line per request to stdout ("127.0.0.1 - GET /health 200 0.4ms").
// It can be told to misbehave, through POST requests:
//
//	/control/health?mode=ok|fail|slow|hang&delay=5s
//	    fail: /health (and /) answer 500; slow: they sleep delay, then answer;
//	    hang: they never answer until the client gives up or the server stops.
//	/control/log?level=error&n=5&text=...&stream=stdout|stderr
//	    writes n lines "2026-11-27T12:00:00Z ERROR text".
//	/control/memory?mb=100   holds that much memory (up to 512 MB).
//	/control/reset           back to mode ok, no extra memory.
//
// The api with DATABASE_URL also serves GET /db: SELECT through one
// long-lived connection pool (200 with the server's start time and backend
// pid, 503 with the error), which reconnects by itself after a PostgreSQL
// restart.
//
// GET /control/state shows the current mode. The environment sets the
// starting state, so a container can start already failing: DEMO_ROLE,
// DEMO_ADDR, DEMO_UPSTREAM (flags win over them), DEMO_HEALTH_MODE and
// DEMO_HEALTH_DELAY. With an upstream (nginx role), requests other than
// /health and /control/ are proxied there. SIGTERM or SIGINT shut the server
// down within two seconds, releasing slow and hanging requests.
//
// Subcommands for images that have no shell or curl:
//
//	shiftwise-demo healthcheck [-url http://127.0.0.1:3000/health] [-timeout 3s]
//	    exits 0 when the URL answers 2xx, 1 otherwise (the Docker HEALTHCHECK).
//	shiftwise-demo dbtest [-timeout 5s]
//	    connects to $DATABASE_URL, runs SELECT 1, prints ok or the error and
//	    exits 0 or 1 (the runbook's `npm run db:test`).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// shutdownGrace bounds a graceful shutdown; connections still open after it are closed.
const shutdownGrace = 2 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr, nil))
}

// run dispatches to a subcommand and returns the exit code. ready, when not
// nil, is told the address the server listens on (for tests).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(addr string)) int {
	if len(args) > 0 {
		switch args[0] {
		case "healthcheck":
			return healthcheck(ctx, args[1:], getenv, stdout, stderr)
		case "dbtest":
			return dbtest(ctx, args[1:], getenv, stdout, stderr)
		case "serve":
			args = args[1:]
		}
	}
	return serve(ctx, args, getenv, stdout, stderr, ready)
}

// defaultAddr is the listen address of a role: the runbook's ports.
func defaultAddr(role string) string {
	switch role {
	case "frontend":
		return ":3001"
	case "nginx":
		return ":8080"
	}
	return ":3000"
}

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, ready func(string)) int {
	fs := flag.NewFlagSet("shiftwise-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	role := fs.String("role", envOr(getenv, "DEMO_ROLE", "api"), "role to play: api, frontend or nginx (env DEMO_ROLE)")
	addr := fs.String("addr", getenv("DEMO_ADDR"), "listen address (env DEMO_ADDR; default :3000 api, :3001 frontend, :8080 nginx)")
	upstream := fs.String("upstream", getenv("DEMO_UPSTREAM"), "proxy requests other than /health and /control/ to this base URL (env DEMO_UPSTREAM)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "shiftwise-demo: unexpected argument %q (subcommands: healthcheck, dbtest)\n", fs.Arg(0))
		return 2
	}
	if !validRole(*role) {
		fmt.Fprintf(stderr, "shiftwise-demo: -role must be api, frontend or nginx, not %q\n", *role)
		return 2
	}
	if *addr == "" {
		*addr = defaultAddr(*role)
	}
	cfg := config{Role: *role}
	var err error
	if m := getenv("DEMO_HEALTH_MODE"); m != "" {
		if cfg.Mode, err = parseMode(m); err != nil {
			fmt.Fprintf(stderr, "shiftwise-demo: DEMO_HEALTH_MODE: %v\n", err)
			return 2
		}
	}
	if d := getenv("DEMO_HEALTH_DELAY"); d != "" {
		if cfg.Delay, err = parseDelay(d); err != nil {
			fmt.Fprintf(stderr, "shiftwise-demo: DEMO_HEALTH_DELAY: %v\n", err)
			return 2
		}
	}
	if *upstream != "" {
		u, err := url.Parse(*upstream)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fmt.Fprintf(stderr, "shiftwise-demo: -upstream must be an http(s) URL, not %q\n", *upstream)
			return 2
		}
		cfg.Upstream = u
	}
	if dsn := getenv("DATABASE_URL"); dsn != "" && *role == "api" {
		pool, err := openPool(dsn)
		if err != nil {
			// pgx's parse errors may quote the URL; say only what is wrong.
			fmt.Fprintln(stderr, "shiftwise-demo: DATABASE_URL cannot be parsed as a PostgreSQL connection string")
			return 2
		}
		defer pool.Close()
		cfg.DB = pool
	}

	s := newServer(cfg, stdout, stderr)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		s.logf("FATAL", "listen on %s: %v", *addr, err)
		return 1
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	mode, _ := s.state()
	s.logf("INFO", "shiftwise-demo %s listening on %s (health mode %s)", *role, ln.Addr(), mode)
	if ready != nil {
		ready(ln.Addr().String())
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		s.logf("FATAL", "serve: %v", err)
		return 1
	case <-ctx.Done():
	}

	s.logf("INFO", "shutting down")
	s.stop() // slow and hanging requests answer 503 now
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		s.logf("WARN", "graceful shutdown: %v; closing remaining connections", err)
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		s.logf("ERROR", "serve: %v", err)
		return 1
	}
	s.logf("INFO", "stopped")
	return 0
}

// healthURL is where the healthcheck subcommand looks by default: the
// address the server in the same container listens on.
func healthURL(getenv func(string) string) string {
	if u := getenv("DEMO_HEALTH_URL"); u != "" {
		return u
	}
	addr := envOr(getenv, "DEMO_ADDR", defaultAddr(envOr(getenv, "DEMO_ROLE", "api")))
	_, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" {
		port = strings.TrimPrefix(addr, ":")
	}
	return "http://127.0.0.1:" + port + "/health"
}

func healthcheck(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shiftwise-demo healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	target := fs.String("url", healthURL(getenv), "health URL to check (default from DEMO_HEALTH_URL, DEMO_ADDR or DEMO_ROLE)")
	timeout := fs.Duration("timeout", 3*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "error: %v\n", err)
		return 1
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "error: GET %s: %v\n", *target, err)
		return 1
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		fmt.Fprintf(stderr, "error: GET %s: %s\n", *target, resp.Status)
		return 1
	}
	fmt.Fprintf(stdout, "ok: GET %s: %s\n", *target, resp.Status)
	return 0
}

func dbtest(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("shiftwise-demo dbtest", flag.ContinueOnError)
	fs.SetOutput(stderr)
	timeout := fs.Duration("timeout", 5*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dsn := getenv("DATABASE_URL")
	if dsn == "" {
		fmt.Fprintln(stderr, "error: DATABASE_URL is not set")
		return 1
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's parse errors may quote the URL; say only what is wrong.
		fmt.Fprintln(stderr, "error: DATABASE_URL cannot be parsed as a PostgreSQL connection string")
		return 1
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "error: connect: %v\n", err)
		return 1
	}
	defer conn.Close(context.Background())
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		fmt.Fprintf(stderr, "error: SELECT 1: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "ok: database %s on %s:%d answered SELECT 1\n", cfg.Database, cfg.Host, cfg.Port)
	return 0
}
