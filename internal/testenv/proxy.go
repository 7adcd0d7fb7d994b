package testenv

import (
	"net"
	"net/url"
	"sync"
	"testing"
	"time"
)

// Proxy is a TCP proxy on 127.0.0.1 in front of a real server (the bot's
// PostgreSQL) that a test can cut in two ways, never touching the server:
// Down closes every connection it carries and refuses new ones (a database
// that went away); Hang keeps every connection open and stops passing
// bytes either way, accepting new connections that hear nothing (a
// database that accepts connections and never answers). Undoing a hang
// passes on what was held, in order.
type Proxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	down  bool
	hung  bool
	wake  chan struct{} // closed when a hang ends
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewProxy starts a proxy to target (host:port); it is closed in t.Cleanup.
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]bool{}, wake: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(c) }()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		p.Hang(false)
		p.Down(true)
		p.wg.Wait()
	})
	return p
}

// URL returns rawURL with its host replaced by the proxy's address.
func (p *Proxy) URL(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatalf("testenv: proxy URL: %v", err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

// Down closes every connection and refuses new ones (true), or lets them
// through again (false).
func (p *Proxy) Down(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for c := range p.conns {
			c.Close()
		}
		p.conns = map[net.Conn]bool{}
	}
}

// Hang stops passing bytes on every connection, old and new (true), or
// passes them on again (false).
func (p *Proxy) Hang(hung bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if hung == p.hung {
		return
	}
	p.hung = hung
	if !hung {
		close(p.wake)
		p.wake = make(chan struct{})
	}
}

// gate blocks while the proxy hangs; false when the connection was closed
// meanwhile (by Down or cleanup).
func (p *Proxy) gate(c net.Conn) bool {
	for {
		p.mu.Lock()
		hung, wake, open := p.hung, p.wake, p.conns[c]
		p.mu.Unlock()
		if !open {
			return false
		}
		if !hung {
			return true
		}
		select {
		case <-wake:
		case <-time.After(50 * time.Millisecond): // notice a Down while hung
		}
	}
}

func (p *Proxy) serve(c net.Conn) {
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.mu.Unlock()
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.down {
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.pipe(up, c); close(done) }()
	p.pipe(c, up)
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// pipe copies src to dst, holding each chunk while the proxy hangs.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer dst.Close()
	defer src.Close()
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.gate(src) || !p.gate(dst) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}
