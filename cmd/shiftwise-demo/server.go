package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Health modes a server can be switched into.
const (
	modeOK   = "ok"   // answer 200
	modeFail = "fail" // answer 500
	modeSlow = "slow" // sleep delay, then answer 200
	modeHang = "hang" // never answer until the client gives up or the server stops
)

// defaultSlowDelay is how long "slow" sleeps when no delay is given.
const defaultSlowDelay = 5 * time.Second

// Bounds on what the control endpoints accept, so a typo cannot take the host down.
const (
	maxLogLines = 10000
	maxDelay    = 10 * time.Minute
	maxMemoryMB = 512
)

// config is what a server starts with.
type config struct {
	Role     string        // api, frontend or nginx
	Mode     string        // initial health mode (DEMO_HEALTH_MODE)
	Delay    time.Duration // initial slow delay (DEMO_HEALTH_DELAY)
	Upstream *url.URL      // nginx only: where non-health requests are proxied (optional)
	DB       *pgxpool.Pool // api with DATABASE_URL: serves GET /db (optional)
}

// server is the demo service: a few plain handlers and a mutable health mode.
type server struct {
	role string
	now  func() time.Time

	outMu  sync.Mutex // serialises whole lines on stdout and stderr
	stdout io.Writer
	stderr io.Writer

	mu      sync.Mutex
	mode    string
	delay   time.Duration
	ballast [][]byte // memory held by /control/memory

	stopOnce sync.Once
	stopping chan struct{} // closed on shutdown: releases slow and hanging requests

	mux   *http.ServeMux
	proxy http.Handler  // nil unless an upstream is configured
	db    *pgxpool.Pool // nil unless DATABASE_URL is set for the api
}

// newServer returns a server in the given initial state. The config must
// already be valid (see parseMode and validRole).
func newServer(cfg config, stdout, stderr io.Writer) *server {
	s := &server{
		role:     cfg.Role,
		now:      time.Now,
		stdout:   stdout,
		stderr:   stderr,
		mode:     cfg.Mode,
		delay:    cfg.Delay,
		stopping: make(chan struct{}),
		mux:      http.NewServeMux(),
		db:       cfg.DB,
	}
	if s.mode == "" {
		s.mode = modeOK
	}
	if s.delay <= 0 {
		s.delay = defaultSlowDelay
	}
	if cfg.Upstream != nil {
		rp := httputil.NewSingleHostReverseProxy(cfg.Upstream)
		rp.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
			s.logf("ERROR", "upstream %s: %v", cfg.Upstream, err)
			writeJSON(w, http.StatusBadGateway, map[string]string{"status": "error", "role": s.role, "error": "bad gateway"})
		}
		s.proxy = rp
	}
	s.mux.HandleFunc("GET /health", s.handleHealth)
	s.mux.HandleFunc("GET /{$}", s.handleRoot)
	if s.db != nil {
		s.mux.HandleFunc("GET /db", s.handleDB)
	}
	s.mux.HandleFunc("POST /control/health", s.handleControlHealth)
	s.mux.HandleFunc("POST /control/log", s.handleControlLog)
	s.mux.HandleFunc("POST /control/memory", s.handleControlMemory)
	s.mux.HandleFunc("POST /control/reset", s.handleControlReset)
	s.mux.HandleFunc("GET /control/state", s.handleControlState)
	// Anything else under /control/ is answered here, never proxied.
	s.mux.HandleFunc("/control/", func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/control/health", "/control/log", "/control/memory", "/control/reset", "/control/state":
			writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "method not allowed"})
		default:
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "unknown control endpoint"})
		}
	})
	if s.proxy != nil {
		s.mux.HandleFunc("/", s.handleProxy)
	}
	return s
}

// ServeHTTP logs one access line per request after it has been handled.
func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := s.now()
	rec := &statusRecorder{ResponseWriter: w}
	s.mux.ServeHTTP(rec, r)
	status := rec.status
	if status == 0 {
		if r.Context().Err() != nil {
			status = 499 // the client gave up before an answer (nginx's convention)
		} else {
			status = http.StatusOK
		}
	}
	elapsed := s.now().Sub(start)
	s.writeLine(false, fmt.Sprintf("%s - %s %s %d %s", clientIP(r), r.Method, r.URL.RequestURI(), status, formatDuration(elapsed)))
}

// stop releases every request that is sleeping or hanging. Safe to call twice.
func (s *server) stop() { s.stopOnce.Do(func() { close(s.stopping) }) }

// state returns the current mode and delay.
func (s *server) state() (string, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode, s.delay
}

// misbehave applies the current mode to a request. It reports whether the
// request was answered (fail, hang, or the server stopping during slow);
// false means the caller answers normally.
func (s *server) misbehave(w http.ResponseWriter, r *http.Request) bool {
	mode, delay := s.state()
	switch mode {
	case modeFail:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"status": "error", "role": s.role, "error": "forced failure (demo health mode fail)"})
		return true
	case modeSlow:
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
			return false
		case <-r.Context().Done():
			return true
		case <-s.stopping:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error", "role": s.role, "error": "shutting down"})
			return true
		}
	case modeHang:
		select {
		case <-r.Context().Done():
		case <-s.stopping:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "error", "role": s.role, "error": "shutting down"})
		}
		return true
	}
	return false
}

func (s *server) handleHealth(w http.ResponseWriter, r *http.Request) {
	if s.misbehave(w, r) {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok", "role": s.role})
}

func (s *server) handleRoot(w http.ResponseWriter, r *http.Request) {
	if s.proxy != nil {
		s.handleProxy(w, r)
		return
	}
	if s.misbehave(w, r) {
		return
	}
	switch s.role {
	case "api":
		writeJSON(w, http.StatusOK, map[string]string{"service": "shiftwise-api", "role": s.role, "status": "ok"})
	default:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "<!doctype html>\n<html><head><title>ShiftWise</title></head>\n<body><h1>ShiftWise</h1><p>demo %s</p></body></html>\n", s.role)
	}
}

func (s *server) handleProxy(w http.ResponseWriter, r *http.Request) {
	if s.misbehave(w, r) {
		return
	}
	s.proxy.ServeHTTP(w, r)
}

func (s *server) handleControlHealth(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	mode, err := parseMode(q.Get("mode"))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
		return
	}
	var delay time.Duration
	if d := q.Get("delay"); d != "" {
		delay, err = parseDelay(d)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
	}
	s.mu.Lock()
	s.mode = mode
	if delay > 0 {
		s.delay = delay
	}
	s.mu.Unlock()
	s.logf("INFO", "health mode set to %s", mode)
	s.handleControlState(w, r)
}

func (s *server) handleControlLog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	level := strings.ToUpper(q.Get("level"))
	if level == "" {
		level = "ERROR"
	}
	if !validLevel(level) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "level must be debug, info, warn, error or fatal"})
		return
	}
	n := 1
	if v := q.Get("n"); v != "" {
		var err error
		n, err = strconv.Atoi(v)
		if err != nil || n < 0 || n > maxLogLines {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("n must be an integer from 0 to %d", maxLogLines)})
			return
		}
	}
	text := q.Get("text")
	if text == "" {
		text = "demo log line"
	}
	// One line per entry even if the caller put newlines in the text.
	text = strings.NewReplacer("\r", " ", "\n", " ").Replace(text)
	var toStderr bool
	switch q.Get("stream") {
	case "", "stdout":
	case "stderr":
		toStderr = true
	default:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "stream must be stdout or stderr"})
		return
	}
	for i := 0; i < n; i++ {
		s.writeLine(toStderr, s.now().UTC().Format(time.RFC3339)+" "+level+" "+text)
	}
	writeJSON(w, http.StatusOK, map[string]any{"written": n, "level": level})
}

func (s *server) handleControlMemory(w http.ResponseWriter, r *http.Request) {
	mb, err := strconv.Atoi(r.URL.Query().Get("mb"))
	if err != nil || mb < 0 || mb > maxMemoryMB {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": fmt.Sprintf("mb must be an integer from 0 to %d", maxMemoryMB)})
		return
	}
	ballast := make([][]byte, mb)
	for i := range ballast {
		b := make([]byte, 1<<20)
		for j := 0; j < len(b); j += 4096 {
			b[j] = 1 // touch every page so it counts as resident
		}
		ballast[i] = b
	}
	s.mu.Lock()
	s.ballast = ballast
	s.mu.Unlock()
	s.logf("INFO", "holding %d MB of memory", mb)
	s.handleControlState(w, r)
}

func (s *server) handleControlReset(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.mode = modeOK
	s.delay = defaultSlowDelay
	s.ballast = nil
	s.mu.Unlock()
	s.logf("INFO", "control state reset")
	s.handleControlState(w, r)
}

func (s *server) handleControlState(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	st := map[string]any{"role": s.role, "mode": s.mode, "delay": s.delay.String(), "memory_mb": len(s.ballast)}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, st)
}

// logf writes one application log line: "2026-11-27T12:00:00Z LEVEL text".
func (s *server) logf(level, format string, args ...any) {
	s.writeLine(false, s.now().UTC().Format(time.RFC3339)+" "+level+" "+fmt.Sprintf(format, args...))
}

func (s *server) writeLine(toStderr bool, line string) {
	w := s.stdout
	if toStderr {
		w = s.stderr
	}
	s.outMu.Lock()
	defer s.outMu.Unlock()
	_, _ = io.WriteString(w, line+"\n")
}

// statusRecorder remembers the status code a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// Flush keeps streaming through the reverse proxy working.
func (r *statusRecorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// formatDuration prints request times the way access logs usually do: 0.4ms, 12.3ms, 5012.0ms.
func formatDuration(d time.Duration) string {
	return strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', 1, 64) + "ms"
}

func parseMode(m string) (string, error) {
	switch m {
	case modeOK, modeFail, modeSlow, modeHang:
		return m, nil
	}
	return "", fmt.Errorf("mode must be ok, fail, slow or hang, not %q", m)
}

func parseDelay(v string) (time.Duration, error) {
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 || d > maxDelay {
		return 0, fmt.Errorf("delay must be a positive duration up to %s, like 5s, not %q", maxDelay, v)
	}
	return d, nil
}

func validRole(role string) bool {
	return role == "api" || role == "frontend" || role == "nginx"
}

func validLevel(level string) bool {
	switch level {
	case "DEBUG", "INFO", "WARN", "ERROR", "FATAL":
		return true
	}
	return false
}
