package httpprobe_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/integrations/httpprobe"
)

func server(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// probe runs Probe with a deadline and fails the test if it has not
// returned well after it: a hang guard, not a timing assertion.
func probe(t *testing.T, client *http.Client, url string, timeout time.Duration) (httpprobe.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	type out struct {
		res httpprobe.Result
		err error
	}
	done := make(chan out, 1)
	go func() {
		res, err := httpprobe.Probe(ctx, client, url)
		done <- out{res, err}
	}()
	select {
	case o := <-done:
		return o.res, o.err
	case <-time.After(timeout + 2*time.Second):
		t.Fatalf("Probe(%s) did not return within its %s deadline (+2s)", url, timeout)
		return httpprobe.Result{}, nil
	}
}

func TestOK(t *testing.T) {
	t.Parallel()
	seen := make(chan string, 10)
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Method + " " + r.URL.Path
		fmt.Fprintln(w, "ok")
	})
	res, err := probe(t, nil, srv.URL+"/health", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if path := <-seen; path != "GET /health" || len(seen) != 0 {
		t.Errorf("server saw %q (+%d more), want one GET /health", path, len(seen))
	}
	if res.StatusCode != 200 || res.URL != srv.URL+"/health" || res.Duration <= 0 {
		t.Fatalf("result %+v, want 200 for %s/health with a duration", res, srv.URL)
	}
}

func TestServerErrorIsAResultNotAnError(t *testing.T) {
	t.Parallel()
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "db down", http.StatusInternalServerError)
	})
	res, err := probe(t, srv.Client(), srv.URL+"/health", 5*time.Second)
	if err != nil {
		t.Fatalf("err = %v, want nil: judging the status is the caller's", err)
	}
	if res.StatusCode != 500 {
		t.Fatalf("status %d, want 500", res.StatusCode)
	}
}

func TestServerThatNeverAnswers(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	_, err := probe(t, nil, srv.URL+"/health", 300*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if !strings.Contains(err.Error(), srv.URL+"/health") {
		t.Errorf("err = %v, want it to name the URL", err)
	}
}

func TestBodyThatNeverEnds(t *testing.T) {
	t.Parallel()
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				return // the probe hung up
			}
		}
	})
	res, err := probe(t, nil, srv.URL, 5*time.Second)
	// Reading it all would run into the deadline and fail.
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("result %+v, err %v: want 200 after reading a bounded part of the body", res, err)
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/health"
	ln.Close()
	_, err = probe(t, nil, url, 10*time.Second)
	if err == nil {
		t.Fatal("want an error from a refused connection")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v: waited for the deadline instead of failing on the refusal", err)
	}
	if strings.Count(err.Error(), url) != 1 {
		t.Errorf("err = %v, want it to name %s once", err, url)
	}
}

func TestSlowServerTakesAtLeastItsDelay(t *testing.T) {
	t.Parallel()
	const delay = 200 * time.Millisecond
	for name, h := range map[string]http.HandlerFunc{
		"slow headers": func(w http.ResponseWriter, r *http.Request) {
			time.Sleep(delay)
			fmt.Fprintln(w, "ok")
		},
		"slow body": func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			time.Sleep(delay)
			fmt.Fprintln(w, "ok")
		},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := server(t, h)
			res, err := probe(t, nil, srv.URL, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || res.Duration < delay {
				t.Fatalf("result %+v, want 200 taking at least %s", res, delay)
			}
		})
	}
}

func TestRedirects(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/moved":
			http.Redirect(w, r, "/health", http.StatusFound)
		case "/health":
			fmt.Fprintln(w, "ok")
		default: // /loop: forever
			http.Redirect(w, r, "/loop", http.StatusFound)
		}
	})
	res, err := probe(t, nil, srv.URL+"/moved", 5*time.Second)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("one redirect: result %+v, err %v, want it followed to 200", res, err)
	}

	hits.Store(0)
	res, err = probe(t, nil, srv.URL+"/loop", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusFound {
		t.Errorf("redirect loop: status %d, want the last 302", res.StatusCode)
	}
	if n := hits.Load(); n != httpprobe.MaxRedirects+1 {
		t.Errorf("redirect loop: %d requests, want %d (the first and %d redirects)", n, httpprobe.MaxRedirects+1, httpprobe.MaxRedirects)
	}
}

func TestPasswordNeverInErrors(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	for _, raw := range []string{
		"http://ops:s3cret@" + addr + "/health", // refused
		"http://ops:s3cret@exa mple.com/health", // does not parse
		"ftp://ops:s3cret@" + addr + "/health",  // not HTTP
	} {
		res, err := probe(t, nil, raw, 5*time.Second)
		if err == nil {
			t.Fatalf("%s: want an error", res.URL)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(res.URL, "s3cret") {
			t.Errorf("the password leaked: err %q, URL %q", err, res.URL)
		}
	}
	_, err = probe(t, nil, "http://ops:s3cret@"+addr+"/health", 5*time.Second)
	if want := "http://ops:xxxxx@" + addr + "/health"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to name %s", err, want)
	}
}

func TestLeavesTheCallersClientAlone(t *testing.T) {
	t.Parallel()
	srv := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/elsewhere" {
			fmt.Fprintln(w, "ok")
			return
		}
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	})
	client := &http.Client{}
	if _, err := probe(t, client, srv.URL, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if client.CheckRedirect != nil {
		t.Fatal("Probe changed the caller's client")
	}
	// The caller's own redirect policy still applies.
	stop := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := probe(t, stop, srv.URL, 5*time.Second)
	if err != nil || res.StatusCode != http.StatusFound {
		t.Fatalf("result %+v, err %v, want the first 302 under the caller's policy", res, err)
	}
}
