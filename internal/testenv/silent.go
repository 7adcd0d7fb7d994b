package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// Silent is a TCP listener on 127.0.0.1 that accepts connections and never
// writes a byte: a server that is up but does not answer. It reads and
// drops whatever a client sends, so a client's writes never block.
type Silent struct {
	// Addr is the listener's host:port.
	Addr string

	mu     sync.Mutex
	conns  []net.Conn
	hungUp chan struct{}
}

// NewSilent starts a Silent server. The listener and every connection it
// accepted are closed in t.Cleanup, which waits for its goroutines to end.
func NewSilent(t testing.TB) *Silent {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: silent server: %v", err)
	}
	s := &Silent{Addr: l.Addr().String(), hungUp: make(chan struct{}, 64)}
	done := make(chan struct{}) // closed in cleanup: hang-ups stop counting
	var readers sync.WaitGroup
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns = append(s.conns, c)
			s.mu.Unlock()
			readers.Add(1)
			go func() {
				defer readers.Done()
				io.Copy(io.Discard, c) // until the client hangs up (or cleanup)
				select {
				case <-done: // closed by cleanup, not by the client
					return
				default:
				}
				select {
				case s.hungUp <- struct{}{}:
				case <-done:
				}
			}()
		}
	}()
	t.Cleanup(func() {
		close(done)
		l.Close()
		<-acceptDone // no connection is accepted after this
		s.mu.Lock()
		for _, c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		readers.Wait()
	})
	return s
}

// Accepted returns how many connections the server has accepted so far.
func (s *Silent) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// HungUp receives once for each connection that the client closed.
func (s *Silent) HungUp() <-chan struct{} { return s.hungUp }

// RefusedAddr returns a 127.0.0.1:port where nothing listens: a connection
// to it is refused at once.
func RefusedAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: refused address: %v", err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// Within runs f and fails the test if f is still running after guard: a
// hang guard for calls that must end by their own deadline, not a timing
// assertion.
func Within[T any](t testing.TB, what string, guard time.Duration, f func() (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(guard):
		t.Fatalf("%s still running after %v: it hangs", what, guard)
		panic("unreachable")
	}
}
