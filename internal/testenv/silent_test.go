package testenv_test

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

func TestSilent(t *testing.T) {
	s := testenv.NewSilent(t)
	if n := s.Accepted(); n != 0 {
		t.Fatalf("Accepted = %d before any dial, want 0", n)
	}
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("hello?")); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	if n, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read from a silent server = %d, %v; want nothing until the deadline", n, err)
	}
	waitAccepted(t, s, 1)
	select {
	case <-s.HungUp():
		t.Fatal("HungUp received while the client still holds its connection")
	default:
	}
	c.Close()
	select {
	case <-s.HungUp():
	case <-time.After(5 * time.Second):
		t.Fatal("HungUp did not receive after the client closed")
	}
}

func TestSilentClosesItsConnectionsInCleanup(t *testing.T) {
	var c net.Conn
	t.Run("server", func(t *testing.T) {
		s := testenv.NewSilent(t)
		var err error
		if c, err = net.DialTimeout("tcp", s.Addr, 5*time.Second); err != nil {
			t.Fatal(err)
		}
		waitAccepted(t, s, 1)
	})
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("Read after the server's cleanup = %v, want EOF", err)
	}
}

func TestRefusedAddr(t *testing.T) {
	c, err := net.DialTimeout("tcp", testenv.RefusedAddr(t), 5*time.Second)
	if err == nil {
		c.Close()
		t.Fatal("dial to RefusedAddr succeeded")
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial to RefusedAddr = %v, want connection refused", err)
	}
}

// waitAccepted waits for the server to have accepted n connections: a
// dial can return before the server's Accept does.
func waitAccepted(t *testing.T, s *testenv.Silent, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.Accepted() < n && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := s.Accepted(); got != n {
		t.Fatalf("Accepted = %d, want %d", got, n)
	}
}
