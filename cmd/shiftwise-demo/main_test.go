package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func mustURL(t *testing.T, raw string) *url.URL {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// startServe runs the serve subcommand in the background and returns its
// address, a cancel (the SIGTERM of the test) and the channel of its exit code.
func startServe(t *testing.T, env map[string]string, args ...string) (string, context.CancelFunc, <-chan int, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	addrc := make(chan string, 1)
	code := make(chan int, 1)
	go func() {
		code <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), envMap(env), &out, &errOut, func(a string) { addrc <- a })
	}()
	select {
	case a := <-addrc:
		return "http://" + a, cancel, code, &out
	case c := <-code:
		cancel()
		t.Fatalf("serve exited with %d before listening: %s", c, errOut.String())
	case <-time.After(5 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return "", nil, nil, nil
}

func TestServeStartsFailingFromEnvAndShutsDownWhileHanging(t *testing.T) {
	base, cancel, code, out := startServe(t, map[string]string{"DEMO_HEALTH_MODE": "fail"}, "-role", "frontend")
	defer cancel()

	if c, body := get(t, base+"/health"); c != 500 || !strings.Contains(body, `"role":"frontend"`) {
		t.Fatalf("GET /health with DEMO_HEALTH_MODE=fail = %d %q", c, body)
	}
	post(t, base+"/control/health?mode=hang")

	// A request that would hang forever must not hold up the shutdown.
	hung := make(chan int, 1)
	go func() {
		resp, err := http.Get(base + "/health")
		if err != nil {
			hung <- -1
			return
		}
		resp.Body.Close()
		hung <- resp.StatusCode
	}()
	time.Sleep(100 * time.Millisecond)

	start := time.Now()
	cancel()
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit code = %d, want 0", c)
		}
	case <-time.After(shutdownGrace + time.Second):
		t.Fatal("serve did not stop within the grace period")
	}
	if took := time.Since(start); took > shutdownGrace {
		t.Errorf("shutdown took %s, want under %s", took, shutdownGrace)
	}
	if c := <-hung; c != http.StatusServiceUnavailable {
		t.Errorf("hanging request ended with %d, want 503", c)
	}
	for _, want := range []string{"INFO shiftwise-demo frontend listening on 127.0.0.1:", "(health mode fail)", "INFO shutting down", "INFO stopped"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("stdout lacks %q:\n%s", want, out.String())
		}
	}
}

func TestServeRejectsBadSettings(t *testing.T) {
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"role":     {nil, []string{"-role", "database"}},
		"mode":     {map[string]string{"DEMO_HEALTH_MODE": "sideways"}, nil},
		"delay":    {map[string]string{"DEMO_HEALTH_DELAY": "later"}, nil},
		"upstream": {nil, []string{"-upstream", "frontend:3001"}},
		"extra":    {nil, []string{"now"}},
		"flag":     {nil, []string{"-bogus"}},
		"database": {map[string]string{"DATABASE_URL": "postgres://a:secret@[::1"}, nil},
	} {
		var out, errOut syncBuffer
		c := run(context.Background(), tc.args, envMap(tc.env), &out, &errOut, nil)
		if c != 2 {
			t.Errorf("%s: exit code = %d, want 2 (stderr %q)", name, c, errOut.String())
		}
		if strings.Contains(errOut.String(), "secret") {
			t.Errorf("%s: the password leaked: %q", name, errOut.String())
		}
	}
}

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	bad := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	defer bad.Close()
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()

	for _, tc := range []struct {
		args []string
		want int
	}{
		{[]string{"-url", ok.URL + "/health"}, 0},
		{[]string{"-url", bad.URL + "/health"}, 1},
		{[]string{"-url", hang.URL + "/health", "-timeout", "200ms"}, 1},
		{[]string{"-url", "http://127.0.0.1:1/health"}, 1},
		{[]string{"-nope"}, 2},
	} {
		var out, errOut syncBuffer
		start := time.Now()
		if got := run(context.Background(), append([]string{"healthcheck"}, tc.args...), envMap(nil), &out, &errOut, nil); got != tc.want {
			t.Errorf("healthcheck %v = %d, want %d (stderr %q)", tc.args, got, tc.want, errOut.String())
		}
		if time.Since(start) > 2*time.Second {
			t.Errorf("healthcheck %v took %s", tc.args, time.Since(start))
		}
	}
}

func TestHealthURLDefaults(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{nil, "http://127.0.0.1:3000/health"},
		{map[string]string{"DEMO_ROLE": "frontend"}, "http://127.0.0.1:3001/health"},
		{map[string]string{"DEMO_ROLE": "nginx"}, "http://127.0.0.1:8080/health"},
		{map[string]string{"DEMO_ROLE": "nginx", "DEMO_ADDR": ":9000"}, "http://127.0.0.1:9000/health"},
		{map[string]string{"DEMO_HEALTH_URL": "http://x:1/h"}, "http://x:1/h"},
	} {
		if got := healthURL(envMap(tc.env)); got != tc.want {
			t.Errorf("healthURL(%v) = %q, want %q", tc.env, got, tc.want)
		}
	}
}

func TestDBTestFailures(t *testing.T) {
	for name, env := range map[string]map[string]string{
		"unset":       nil,
		"garbage":     {"DATABASE_URL": "postgres://a:secret@[::1"},
		"unreachable": {"DATABASE_URL": "postgres://shiftwise:secret@127.0.0.1:1/shiftwise?sslmode=disable&connect_timeout=2"},
	} {
		var out, errOut syncBuffer
		if got := run(context.Background(), []string{"dbtest"}, envMap(env), &out, &errOut, nil); got != 1 {
			t.Errorf("%s: dbtest = %d, want 1", name, got)
		}
		if !strings.HasPrefix(errOut.String(), "error: ") {
			t.Errorf("%s: stderr = %q, want an error line", name, errOut.String())
		}
		if strings.Contains(errOut.String(), "secret") {
			t.Errorf("%s: the password leaked: %q", name, errOut.String())
		}
	}
}

func TestDBTestAgainstDemoPostgres(t *testing.T) {
	dsn := testenv.TargetDB(t)
	var out, errOut syncBuffer
	if got := run(context.Background(), []string{"dbtest"}, envMap(map[string]string{"DATABASE_URL": dsn}), &out, &errOut, nil); got != 0 {
		t.Fatalf("dbtest against %s = %d: %s", testenv.Get("SHIFTWISE_TEST_TARGET_DB_URL"), got, errOut.String())
	}
	if !strings.HasPrefix(out.String(), "ok: database ") {
		t.Errorf("stdout = %q", out.String())
	}
}
