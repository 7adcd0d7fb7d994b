package audittrail

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// switchable is a TCP proxy to a real PostgreSQL that can be made to
// refuse: "down" closes every connection it carries and every new one,
// which is what the bot sees of a database that went away. The shared
// server itself is never touched.
type switchable struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  map[net.Conn]bool
}

func newSwitchable(t *testing.T, target string) *switchable {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &switchable{ln: ln, target: target, conns: map[net.Conn]bool{}}
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c)
		}
	}()
	return p
}

func (p *switchable) serve(c net.Conn) {
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
	go func() { _, _ = io.Copy(up, c); up.Close() }()
	_, _ = io.Copy(c, up)
	c.Close()
}

func (p *switchable) setDown(down bool) {
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

// via returns dbURL with its host replaced by the proxy's address.
func (p *switchable) via(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.ln.Addr().String()
	return u.String()
}

func hostOf(t *testing.T, dbURL string) string {
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func quietLog() logrus.FieldLogger {
	l := logrus.New()
	l.Out = io.Discard
	return l
}

func newTrail(t testing.TB, dir string, st func() *store.Store) (*Trail, *spool.Spool) {
	t.Helper()
	sp, err := spool.Open(filepath.Join(dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	tr, err := New(Options{Store: st, Spool: sp, DigestPath: filepath.Join(dir, DigestFile), Log: quietLog(),
		Timeout: 2 * time.Second, Retry: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return tr, sp
}

func entryN(i int) bot.AuditEntry {
	return bot.AuditEntry{Subject: "console:alice", Channel: "console", Command: "health",
		Args: fmt.Sprintf("health #%d", i), Decision: "ran", Result: "ok", Duration: time.Millisecond}
}

// results returns the Args of every entry in the log, oldest first.
func results(t *testing.T, st *store.Store) []string {
	t.Helper()
	es, err := st.Entries(ctxFor(t), store.Filter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		out = append(out, es[i].Args)
	}
	return out
}

func TestEntriesSpooledWhileDownAreWrittenInOrderOnceWhenBack(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	proxy := newSwitchable(t, hostOf(t, dbURL))
	st, err := store.Open(ctxFor(t), proxy.via(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	dir := t.TempDir()
	tr, sp := newTrail(t, dir, func() *store.Store { return st })
	ctx := ctxFor(t)
	var want []string
	add := func(i int) {
		t.Helper()
		if err := tr.Append(ctx, entryN(i)); err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		want = append(want, entryN(i).Args)
	}
	for i := 0; i < 3; i++ {
		add(i)
	}
	// Every entry goes through the spool; the replayer (here Flush) writes it.
	if n, err := tr.Flush(ctx); err != nil || n != 3 || sp.Len() != 0 {
		t.Fatalf("Flush while up = %d, %v; %d left in the spool", n, err, sp.Len())
	}

	proxy.setDown(true)
	for i := 3; i < 8; i++ {
		add(i)
	}
	if sp.Len() != 5 {
		t.Fatalf("spooled %d entries while down, want 5", sp.Len())
	}
	if n, err := tr.Flush(ctx); err == nil || n != 0 {
		t.Fatalf("Flush while down = %d, %v; want an error", n, err)
	}
	if sp.Len() != 5 {
		t.Fatalf("a failed replay lost entries: %d left", sp.Len())
	}

	proxy.setDown(false)
	// Entries keep their order: while some wait, a new one waits behind them.
	add(8)
	if sp.Len() != 6 {
		t.Fatalf("the entry after the outage jumped the queue: spool holds %d", sp.Len())
	}
	n, err := tr.Flush(ctx)
	if err != nil || n != 6 {
		t.Fatalf("Flush after the outage = %d, %v; want 6", n, err)
	}
	got := results(t, st)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log holds %q, want %q", got, want)
	}
	v, err := st.Verify(ctx, "")
	if err != nil || !v.OK() {
		t.Fatalf("chain after the replay: %+v %v", v, err)
	}
	d, err := ReadDigest(filepath.Join(dir, DigestFile))
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != v.LastID || d.Hash != v.Head {
		t.Fatalf("digest outside the database %+v, log head %d %s", d, v.LastID, v.Head)
	}
	// The spooled entries remember when they happened, before they joined the chain.
	es, _ := st.Entries(ctx, store.Filter{Limit: 9})
	for _, e := range es[:6] {
		if e.Occurred.IsZero() || e.Occurred.After(e.At) || e.Key == "" {
			t.Errorf("spooled entry %d: occurred %v, at %v, key %q", e.ID, e.Occurred, e.At, e.Key)
		}
	}
}

// TestReplayAfterACrashBetweenWriteAndForgetWritesOnce: the entry reached
// the database but the process died before the spool forgot it; after a
// restart the replay offers it again and the database's unique key
// absorbs it.
func TestReplayAfterACrashBetweenWriteAndForgetWritesOnce(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	st, err := store.Open(ctxFor(t), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	dir := t.TempDir()
	var up *store.Store // down at first
	tr, sp := newTrail(t, dir, func() *store.Store { return up })
	ctx := ctxFor(t)
	for i := 0; i < 3; i++ {
		if err := tr.Append(ctx, entryN(i)); err != nil {
			t.Fatal(err)
		}
	}
	// The first record is written to the database, and the process "dies"
	// before the spool forgets it.
	crash := errors.New("killed between the database write and the forget")
	write := tr.deliver(st)
	if _, err := sp.Replay(ctx, func(ctx context.Context, r spool.Record) error {
		if err := write(ctx, r); err != nil {
			return err
		}
		return crash
	}); !errors.Is(err, crash) {
		t.Fatalf("Replay: %v", err)
	}
	sp.Close()
	// Restart: a new spool on the same directory, the database up.
	up = st
	tr2, sp2 := newTrail(t, dir, func() *store.Store { return up })
	if sp2.Len() != 3 {
		t.Fatalf("after the restart the spool holds %d, want 3 (the first not yet forgotten)", sp2.Len())
	}
	if n, err := tr2.Flush(ctx); err != nil || n != 3 {
		t.Fatalf("Flush = %d, %v", n, err)
	}
	got := results(t, st)
	want := []string{entryN(0).Args, entryN(1).Args, entryN(2).Args}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log holds %q, want each entry once: %q", got, want)
	}
	if v, err := st.Verify(ctx, ""); err != nil || !v.OK() {
		t.Fatalf("chain: %+v %v", v, err)
	}
}

// TestDatabaseDownAtStart: the bot starts with its database unreachable;
// approvals say so and audit entries are spooled; when it answers the
// store switches on by itself and the running replayer writes them.
func TestDatabaseDownAtStart(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	proxy := newSwitchable(t, hostOf(t, dbURL))
	proxy.setDown(true)
	ctx := ctxFor(t)
	lazy := botstore.Connect(ctx, func(ctx context.Context) (*store.Store, error) {
		return store.Open(ctx, proxy.via(t, dbURL))
	}, 20*time.Millisecond, 2*time.Second, 2*time.Second, quietLog(), func(s string) string { return s }, nil)
	t.Cleanup(lazy.Close)
	if lazy.Store() != nil {
		t.Fatal("connected through a proxy that refuses")
	}
	approvals := botstore.LazyApprovals{L: lazy}
	_, err := approvals.Create(ctx, bot.Approval{Command: "restart", Text: "restart postgres", Requester: "console:alice", CreatedAt: time.Now()}, time.Minute)
	if !errors.Is(err, bot.ErrStoreUnavailable) {
		t.Fatalf("Create while down: %v, want ErrStoreUnavailable", err)
	}
	if exp, err := approvals.Expire(ctx, time.Now()); err != nil || len(exp) != 0 {
		t.Fatalf("Expire while down: %v %v", exp, err)
	}
	tr, sp := newTrail(t, t.TempDir(), lazy.Store)
	for i := 0; i < 4; i++ {
		if err := tr.Append(ctx, entryN(i)); err != nil {
			t.Fatal(err)
		}
	}
	if sp.Len() != 4 {
		t.Fatalf("spooled %d, want 4", sp.Len())
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); tr.Run(rctx) }()
	defer func() { stop(); <-done }()

	proxy.setDown(false)
	select {
	case <-lazy.Ready():
	case <-ctx.Done():
		t.Fatal("the store never switched on after the database came back")
	}
	if _, err := approvals.Create(ctx, bot.Approval{Command: "restart", Text: "restart postgres", Requester: "console:alice", CreatedAt: time.Now()}, time.Minute); err != nil {
		t.Fatalf("Create once the database answers: %v", err)
	}
	// The running replayer writes the spooled entries (bounded wait for a
	// condition, not a timing assertion).
	for sp.Len() > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("%d entries still spooled", sp.Len())
		case <-time.After(10 * time.Millisecond):
		}
	}
	got := results(t, lazy.Store())
	want := []string{entryN(0).Args, entryN(1).Args, entryN(2).Args, entryN(3).Args}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log holds %q, want %q", got, want)
	}
	// Spooled without a direct attempt: the spool record's ID is the key.
	es, _ := lazy.Store().Entries(ctx, store.Filter{})
	for _, e := range es {
		if inst, _, ok := strings.Cut(e.Key, "-"); !ok || len(inst) != 16 {
			t.Errorf("entry %d has key %q, not a spool record ID", e.ID, e.Key)
		}
	}
}

func TestDigestFileRoundTripAndRefusesGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d", DigestFile)
	if _, err := ReadDigest(path); !errors.Is(err, ErrNoDigest) {
		t.Fatalf("ReadDigest of nothing: %v", err)
	}
	d := store.Digest{ID: 42, Hash: "ab" + fmt.Sprintf("%062d", 7)}
	if err := WriteDigest(path, d); err != nil {
		t.Fatal(err)
	}
	got, err := ReadDigest(path)
	if err != nil || got != d {
		t.Fatalf("ReadDigest = %+v, %v; want %+v", got, err, d)
	}
	if err := os.WriteFile(path, []byte("42 nothex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDigest(path); err == nil || errors.Is(err, ErrNoDigest) {
		t.Fatalf("ReadDigest of garbage: %v", err)
	}
}

type notes struct {
	mu   sync.Mutex
	sent []string
}

func (n *notes) Notify(_ context.Context, text string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.sent = append(n.sent, text)
	return nil
}

func (n *notes) all() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.sent...)
}

// TestDigestPostedToTheNotifier: a running trail posts the latest digest
// once the log has grown, and not again while it has not.
func TestDigestPostedToTheNotifier(t *testing.T) {
	st, err := store.Open(ctxFor(t), testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	sp, err := spool.Open(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	n := &notes{}
	tr, err := New(Options{Store: func() *store.Store { return st }, Spool: sp, DigestPath: filepath.Join(t.TempDir(), DigestFile),
		Log: quietLog(), Notifier: n, NotifyEvery: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx := ctxFor(t)
	for i := 0; i < 3; i++ {
		if err := tr.Append(ctx, entryN(i)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tr.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	v, err := st.Verify(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); tr.Run(rctx) }()
	for len(n.all()) == 0 {
		select {
		case <-ctx.Done():
			t.Fatal("no digest posted")
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Several more ticks pass; the log did not grow, so nothing more is posted.
	time.Sleep(50 * time.Millisecond)
	stop()
	<-done
	got := n.all()
	want := DigestText(store.Digest{ID: v.LastID, Hash: v.Head})
	if len(got) != 1 || got[0] != want {
		t.Fatalf("posted %q, want once %q", got, want)
	}
}
