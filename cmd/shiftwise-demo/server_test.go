package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe to read while handlers write to it.
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

func (b *syncBuffer) lines() []string {
	s := strings.TrimRight(b.String(), "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

var fixedNow = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

func newTestServer(t *testing.T, cfg config) (*server, *syncBuffer, *syncBuffer) {
	t.Helper()
	var out, errOut syncBuffer
	s := newServer(cfg, &out, &errOut)
	s.now = func() time.Time { return fixedNow }
	return s, &out, &errOut
}

// do sends one request straight to the handler and returns the recorded response.
func do(t *testing.T, h http.Handler, method, target string) *httptest.ResponseRecorder {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, target, nil))
	return rec
}

func decode(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("body %q is not JSON: %v", rec.Body.String(), err)
	}
	return m
}

func TestHealthOKAndAccessLine(t *testing.T) {
	s, out, _ := newTestServer(t, config{Role: "api"})
	rec := do(t, s, "GET", "/health")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /health = %d, want 200", rec.Code)
	}
	if got, want := strings.TrimSpace(rec.Body.String()), `{"role":"api","status":"ok"}`; got != want {
		t.Errorf("body = %s, want %s", got, want)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	lines := out.lines()
	if len(lines) != 1 {
		t.Fatalf("want exactly one access line, got %q", lines)
	}
	// httptest.NewRequest comes from 192.0.2.1:1234; the clock is fixed, so 0.0ms.
	if want := "192.0.2.1 - GET /health 200 0.0ms"; lines[0] != want {
		t.Errorf("access line = %q, want %q", lines[0], want)
	}
}

func TestRootPerRole(t *testing.T) {
	for _, tc := range []struct{ role, ctype, contains string }{
		{"api", "application/json", `"service":"shiftwise-api"`},
		{"frontend", "text/html; charset=utf-8", "demo frontend"},
		{"nginx", "text/html; charset=utf-8", "demo nginx"},
	} {
		s, _, _ := newTestServer(t, config{Role: tc.role})
		rec := do(t, s, "GET", "/")
		if rec.Code != http.StatusOK {
			t.Errorf("%s: GET / = %d", tc.role, rec.Code)
		}
		if ct := rec.Header().Get("Content-Type"); ct != tc.ctype {
			t.Errorf("%s: Content-Type = %q, want %q", tc.role, ct, tc.ctype)
		}
		if !strings.Contains(rec.Body.String(), tc.contains) {
			t.Errorf("%s: body %q lacks %q", tc.role, rec.Body.String(), tc.contains)
		}
		if rec := do(t, s, "GET", "/nope"); rec.Code != http.StatusNotFound {
			t.Errorf("%s: GET /nope = %d, want 404", tc.role, rec.Code)
		}
	}
}

func TestModeSwitching(t *testing.T) {
	s, out, _ := newTestServer(t, config{Role: "frontend"})

	rec := do(t, s, "POST", "/control/health?mode=fail")
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /control/health?mode=fail = %d: %s", rec.Code, rec.Body)
	}
	if m := decode(t, rec); m["mode"] != "fail" || m["role"] != "frontend" {
		t.Errorf("state after fail = %v", m)
	}
	rec = do(t, s, "GET", "/health")
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("GET /health in fail mode = %d, want 500", rec.Code)
	}
	if m := decode(t, rec); m["status"] != "error" {
		t.Errorf("fail body = %v", m)
	}
	if rec := do(t, s, "GET", "/"); rec.Code != http.StatusInternalServerError {
		t.Errorf("GET / in fail mode = %d, want 500", rec.Code)
	}
	// Control endpoints keep working whatever the mode.
	if rec := do(t, s, "GET", "/control/state"); rec.Code != http.StatusOK || decode(t, rec)["mode"] != "fail" {
		t.Errorf("GET /control/state = %d %s", rec.Code, rec.Body)
	}
	if !strings.Contains(out.String(), "192.0.2.1 - GET /health 500 ") {
		t.Errorf("access log lacks the 500: %q", out.String())
	}

	if rec := do(t, s, "POST", "/control/health?mode=ok"); rec.Code != http.StatusOK {
		t.Fatalf("back to ok = %d", rec.Code)
	}
	if rec := do(t, s, "GET", "/health"); rec.Code != http.StatusOK {
		t.Errorf("GET /health after mode=ok = %d", rec.Code)
	}

	do(t, s, "POST", "/control/health?mode=slow&delay=7s")
	if mode, delay := s.state(); mode != modeSlow || delay != 7*time.Second {
		t.Errorf("state = %s %s, want slow 7s", mode, delay)
	}
	rec = do(t, s, "POST", "/control/reset")
	if rec.Code != http.StatusOK {
		t.Fatalf("reset = %d", rec.Code)
	}
	if mode, delay := s.state(); mode != modeOK || delay != defaultSlowDelay {
		t.Errorf("state after reset = %s %s", mode, delay)
	}
}

func TestControlRejectsBadInput(t *testing.T) {
	s, _, _ := newTestServer(t, config{Role: "api"})
	for _, tc := range []struct {
		method, target string
		want           int
	}{
		{"POST", "/control/health?mode=explode", http.StatusBadRequest},
		{"POST", "/control/health", http.StatusBadRequest},
		{"POST", "/control/health?mode=slow&delay=soon", http.StatusBadRequest},
		{"POST", "/control/health?mode=slow&delay=-1s", http.StatusBadRequest},
		{"POST", "/control/log?n=-1", http.StatusBadRequest},
		{"POST", "/control/log?n=many", http.StatusBadRequest},
		{"POST", "/control/log?n=100001", http.StatusBadRequest},
		{"POST", "/control/log?level=loud", http.StatusBadRequest},
		{"POST", "/control/log?stream=file", http.StatusBadRequest},
		{"POST", "/control/memory?mb=100000", http.StatusBadRequest},
		{"GET", "/control/health?mode=fail", http.StatusMethodNotAllowed},
		{"GET", "/control/reset", http.StatusMethodNotAllowed},
		{"POST", "/control/explode", http.StatusNotFound},
		{"POST", "/health", http.StatusMethodNotAllowed},
	} {
		if rec := do(t, s, tc.method, tc.target); rec.Code != tc.want {
			t.Errorf("%s %s = %d, want %d (%s)", tc.method, tc.target, rec.Code, tc.want, strings.TrimSpace(rec.Body.String()))
		}
	}
	if mode, _ := s.state(); mode != modeOK {
		t.Errorf("rejected requests changed the mode to %s", mode)
	}
}

func TestControlLogWritesLines(t *testing.T) {
	s, out, errOut := newTestServer(t, config{Role: "api"})

	rec := do(t, s, "POST", "/control/log?level=error&n=3&text=database+connection+refused")
	if rec.Code != http.StatusOK {
		t.Fatalf("POST /control/log = %d: %s", rec.Code, rec.Body)
	}
	if m := decode(t, rec); m["written"] != float64(3) {
		t.Errorf("written = %v, want 3", m["written"])
	}
	var logged []string
	for _, l := range out.lines() {
		if !strings.Contains(l, " - POST ") { // skip the access line
			logged = append(logged, l)
		}
	}
	want := "2026-11-27T12:00:00Z ERROR database connection refused"
	if len(logged) != 3 {
		t.Fatalf("stdout log lines = %q, want 3", logged)
	}
	for _, l := range logged {
		if l != want {
			t.Errorf("line = %q, want %q", l, want)
		}
	}
	if errOut.String() != "" {
		t.Errorf("stderr got %q, want nothing", errOut.String())
	}

	do(t, s, "POST", "/control/log?level=warn&n=2&stream=stderr&text=a%0Ab")
	if got := errOut.lines(); len(got) != 2 || got[0] != "2026-11-27T12:00:00Z WARN a b" {
		t.Errorf("stderr lines = %q, want 2 x WARN a b (newline flattened)", got)
	}

	do(t, s, "POST", "/control/log")
	if l := out.lines(); !contains(l, "2026-11-27T12:00:00Z ERROR demo log line") {
		t.Errorf("default log line missing in %q", l)
	}
}

func contains(lines []string, want string) bool {
	for _, l := range lines {
		if l == want {
			return true
		}
	}
	return false
}

func TestStartsInConfiguredMode(t *testing.T) {
	s, _, _ := newTestServer(t, config{Role: "api", Mode: modeFail})
	if rec := do(t, s, "GET", "/health"); rec.Code != http.StatusInternalServerError {
		t.Errorf("GET /health with Mode fail = %d, want 500", rec.Code)
	}
}

func TestSlowMode(t *testing.T) {
	s, _, _ := newTestServer(t, config{Role: "api"})
	ts := httptest.NewServer(s)
	defer ts.Close()
	post(t, ts.URL+"/control/health?mode=slow&delay=150ms")

	start := time.Now()
	resp, err := http.Get(ts.URL + "/health")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("slow /health took %s, want >= 150ms", took)
	}
	if resp.StatusCode != http.StatusOK {
		t.Errorf("slow /health = %d, want 200", resp.StatusCode)
	}
}

func TestHangModeUntilClientGivesUp(t *testing.T) {
	s, out, _ := newTestServer(t, config{Role: "api", Mode: modeHang})
	s.now = time.Now
	ts := httptest.NewServer(s)
	defer ts.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", ts.URL+"/health", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("hanging /health answered %d", resp.StatusCode)
	}
	// The handler notices the client left and logs 499.
	waitFor(t, func() bool { return strings.Contains(out.String(), "GET /health 499 ") }, "access line with 499 in "+out.String())
}

func TestStopReleasesHangingRequests(t *testing.T) {
	s, _, _ := newTestServer(t, config{Role: "api", Mode: modeHang})
	ts := httptest.NewServer(s)
	defer ts.Close()

	done := make(chan int, 1)
	go func() {
		resp, err := http.Get(ts.URL + "/health")
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)
	select {
	case code := <-done:
		t.Fatalf("hanging request answered %d before stop", code)
	default:
	}
	s.stop()
	s.stop() // twice is fine
	select {
	case code := <-done:
		if code != http.StatusServiceUnavailable {
			t.Errorf("released request = %d, want 503", code)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("stop did not release the hanging request")
	}
}

func TestMemoryBallast(t *testing.T) {
	s, _, _ := newTestServer(t, config{Role: "api"})
	rec := do(t, s, "POST", "/control/memory?mb=2")
	if rec.Code != http.StatusOK || decode(t, rec)["memory_mb"] != float64(2) {
		t.Fatalf("memory = %d %s", rec.Code, rec.Body)
	}
	do(t, s, "POST", "/control/reset")
	if rec := do(t, s, "GET", "/control/state"); decode(t, rec)["memory_mb"] != float64(0) {
		t.Errorf("reset kept memory: %s", rec.Body)
	}
}

func TestNginxProxiesToUpstream(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "upstream saw "+r.URL.Path)
	}))
	defer up.Close()
	s, _, _ := newTestServer(t, config{Role: "nginx", Upstream: mustURL(t, up.URL)})
	ts := httptest.NewServer(s)
	defer ts.Close()

	for path, want := range map[string]string{"/": "upstream saw /", "/app/x": "upstream saw /app/x"} {
		if code, body := get(t, ts.URL+path); code != 200 || body != want {
			t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, want)
		}
	}
	if code, body := get(t, ts.URL+"/health"); code != 200 || !strings.Contains(body, `"role":"nginx"`) {
		t.Errorf("nginx /health must be its own: %d %q", code, body)
	}
	if code, _ := get(t, ts.URL+"/control/state"); code != 200 {
		t.Errorf("control not served locally: %d", code)
	}

	up.Close()
	if code, _ := get(t, ts.URL+"/"); code != http.StatusBadGateway {
		t.Errorf("GET / with upstream down = %d, want 502", code)
	}
}

func TestFormatDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		400 * time.Microsecond:   "0.4ms",
		12345 * time.Microsecond: "12.3ms",
		5 * time.Second:          "5000.0ms",
	} {
		if got := formatDuration(d); got != want {
			t.Errorf("formatDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

var accessLine = regexp.MustCompile(`^127\.0\.0\.1 - GET /health 200 \d+\.\dms$`)

func TestAccessLineFormatOverTheWire(t *testing.T) {
	var out, errOut syncBuffer
	s := newServer(config{Role: "api"}, &out, &errOut)
	ts := httptest.NewServer(s)
	defer ts.Close()
	get(t, ts.URL+"/health")
	waitFor(t, func() bool { return len(out.lines()) == 1 }, "one access line")
	if l := out.lines()[0]; !accessLine.MatchString(l) {
		t.Errorf("access line %q does not match %s", l, accessLine)
	}
}

func post(t *testing.T, url string) {
	t.Helper()
	resp, err := http.Post(url, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST %s = %d", url, resp.StatusCode)
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
