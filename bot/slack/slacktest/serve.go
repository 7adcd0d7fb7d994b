package slacktest

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Running is a transport that Serve started.
type Running struct {
	cancel  context.CancelFunc
	wait    time.Duration
	done    chan struct{} // closed when run has returned
	err     error         // what run returned, once done is closed
	once    sync.Once
	stopErr error // what Stop said
}

// Serve runs run — a transport's Run, or a whole bot's main loop — against
// the fake for the rest of the test, and returns once the fake has conns
// connections open (the test fails when it has not within wait, or when
// run returns first). When the test ends, run's context is cancelled and
// run must return nil within wait, or the test fails. A test that stops
// it earlier calls Stop.
func (s *Server) Serve(t testing.TB, conns int, wait time.Duration, run func(ctx context.Context) error) *Running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &Running{cancel: cancel, wait: wait, done: make(chan struct{})}
	go func() {
		r.err = run(ctx)
		close(r.done)
	}()
	t.Cleanup(func() {
		if err := r.Stop(); err != nil {
			t.Error(err)
		}
	})
	connected := make(chan error, 1)
	go func() { connected <- s.WaitConnected(conns, wait) }()
	select {
	case err := <-connected:
		if err != nil {
			t.Fatalf("slacktest: %v", err)
		}
	case <-r.done:
		t.Fatalf("slacktest: the transport returned before %d connection(s) were open: %v", conns, r.err)
	}
	return r
}

// Stop cancels the transport's context and returns what it returned, or
// an error when it did not return within Serve's wait. Later calls
// return the same.
func (r *Running) Stop() error {
	var err error
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
			if r.err != nil {
				err = fmt.Errorf("slacktest: the transport stopped with: %w", r.err)
			}
		case <-time.After(r.wait):
			err = fmt.Errorf("slacktest: the transport did not return within %s of being stopped", r.wait)
		}
		r.stopErr = err
	})
	return r.stopErr
}

// Texts returns every "text" string in a message's blocks, decoded, one
// a line: what a test searches for what a person would read.
func Texts(m Message) string {
	var v any
	_ = json.Unmarshal(m.Blocks, &v)
	var out []string
	var walk func(any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				if s, ok := e.(string); ok && k == "text" {
					out = append(out, s)
				}
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(v)
	return strings.Join(out, "\n")
}
