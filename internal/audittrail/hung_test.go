package audittrail

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// TestAppendNeverWaitsOnAHungDatabase: the store is connected, then its
// database accepts bytes and never answers. Append must still return at
// once with the entry durable in the spool — it is in the path of every
// reply — and the replayer, stuck on the hung database meanwhile, writes
// every entry once, in order, when the database answers again. The write
// timeout is an hour, so an Append that waited for the database would
// hang the test (caught by the guard, not timed).
func TestAppendNeverWaitsOnAHungDatabase(t *testing.T) {
	dbURL := testenv.NewDatabase(t)
	proxy := testenv.NewProxy(t, hostOf(t, dbURL))
	ctx := ctxFor(t)
	st, err := store.Open(ctx, proxy.URL(t, dbURL))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	dir := t.TempDir()
	sp, err := spool.Open(filepath.Join(dir, "spool"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sp.Close() })
	tr, err := New(Options{Store: func() *store.Store { return st }, Spool: sp, DigestPath: filepath.Join(dir, DigestFile),
		Log: quietLog(), Timeout: time.Hour, Retry: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	rctx, stop := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() { defer close(ran); tr.Run(rctx) }()
	t.Cleanup(func() { stop(); <-ran })

	// Up: the replayer writes what Append spooled.
	if err := tr.Append(ctx, entryN(0)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the first entry written", func() bool { return sp.Len() == 0 })

	proxy.Hang(true)
	var want []string
	want = append(want, entryN(0).Args)
	for i := 1; i <= 5; i++ {
		_, err := testenv.Within(t, "Append with the database hung", 30*time.Second, func() (struct{}, error) {
			return struct{}{}, tr.Append(ctx, entryN(i))
		})
		if err != nil {
			t.Fatalf("Append %d while hung: %v", i, err)
		}
		want = append(want, entryN(i).Args)
		// Durable before Append returned; the database has not answered.
		if got := tr.Pending(); got < 1 {
			t.Fatalf("after Append %d with the database hung, %d entries wait in the spool", i, got)
		}
	}
	proxy.Hang(false)
	waitFor(t, "the spooled entries written after the hang", func() bool { return sp.Len() == 0 })
	if got := results(t, st); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("log holds %q, want each once in order %q", got, want)
	}
	if v, err := st.Verify(ctx, ""); err != nil || !v.OK() {
		t.Fatalf("chain: %+v %v", v, err)
	}
}

// waitFor polls cond until it holds (a bounded wait for a condition, not
// a timing assertion).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never happened", what)
		}
	}
}
