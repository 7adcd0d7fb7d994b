// Command testapp is the tiny static program inside the test image that
// dockertest builds for tests against the real Docker Engine. It stands in
// for a ShiftWise service: it serves /health, writes log lines on request
// and exits on command, so that tests can drive a container through every
// state the bot reports.
//
//	testapp serve [-addr :3000] [-out LINE]... [-err LINE]...
//	    serve HTTP; print each -out line on stdout and each -err line on
//	    stderr at start. SIGTERM exits 0 at once.
//	    GET  /health                       200 "ok", or 500 when DEMO_HEALTH_MODE=fail
//	                                       or after /control/health?mode=fail
//	    POST /control/health?mode=ok|fail  switch what /health answers
//	    POST /control/log?stream=stdout|stderr&n=N&text=T[&level=L]
//	                                       write N lines "T" (or "L T" with a level)
//	testapp check URL
//	    exit 0 when GET URL answers 200 within 2 s, else 1 (a HEALTHCHECK)
//	testapp exit [-out LINE]... [-err LINE]... CODE
//	    print the lines and exit with CODE
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testapp serve|check|exit ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(serve(os.Args[2:]))
	case "check":
		os.Exit(check(os.Args[2:]))
	case "exit":
		os.Exit(exit(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "testapp: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

// lines is a repeatable flag.
type lines []string

func (l *lines) String() string     { return strings.Join(*l, "|") }
func (l *lines) Set(s string) error { *l = append(*l, s); return nil }

var mu sync.Mutex // keeps each written batch of lines together

func printLines(stdout, stderr []string) {
	mu.Lock()
	defer mu.Unlock()
	for _, s := range stdout {
		fmt.Fprintln(os.Stdout, s)
	}
	for _, s := range stderr {
		fmt.Fprintln(os.Stderr, s)
	}
}

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	addr := fs.String("addr", ":3000", "listen address")
	var out, errs lines
	fs.Var(&out, "out", "line to print on stdout at start (repeatable)")
	fs.Var(&errs, "err", "line to print on stderr at start (repeatable)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var failing atomic.Bool
	failing.Store(os.Getenv("DEMO_HEALTH_MODE") == "fail")

	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, "failing", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("POST /control/health", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("mode") {
		case "ok":
			failing.Store(false)
		case "fail":
			failing.Store(true)
		default:
			http.Error(w, "mode must be ok or fail", http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("POST /control/log", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		n := 1
		if s := q.Get("n"); s != "" {
			v, err := strconv.Atoi(s)
			if err != nil || v < 0 || v > 100000 {
				http.Error(w, "n must be 0..100000", http.StatusBadRequest)
				return
			}
			n = v
		}
		text := q.Get("text")
		if lvl := q.Get("level"); lvl != "" {
			text = strings.ToUpper(lvl) + " " + text
		}
		batch := make([]string, n)
		for i := range batch {
			batch[i] = text
		}
		switch q.Get("stream") {
		case "", "stdout":
			printLines(batch, nil)
		case "stderr":
			printLines(nil, batch)
		default:
			http.Error(w, "stream must be stdout or stderr", http.StatusBadRequest)
			return
		}
		fmt.Fprintln(w, "ok")
	})

	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	printLines(out, errs)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "testapp:", err)
		return 1
	}
	return 0
}

func check(args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: testapp check URL")
		return 2
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "check:", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "check:", resp.Status)
		return 1
	}
	return 0
}

func exit(args []string) int {
	fs := flag.NewFlagSet("exit", flag.ContinueOnError)
	var out, errs lines
	fs.Var(&out, "out", "line to print on stdout (repeatable)")
	fs.Var(&errs, "err", "line to print on stderr (repeatable)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		return 2
	}
	code, err := strconv.Atoi(fs.Arg(0))
	if err != nil {
		return 2
	}
	printLines(out, errs)
	return code
}
