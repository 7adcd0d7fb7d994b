package store

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestFirstDeliveryOnceAcrossStores(t *testing.T) {
	t.Parallel()
	dbURL := newDatabase(t)
	stores := []*Store{openStore(t, dbURL), openStore(t, dbURL), openStore(t, dbURL)}
	const keys = 5
	var firsts [keys]atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, s := range stores {
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for k := range keys {
					first, err := s.FirstDelivery(ctxFor(t), fmt.Sprintf("Ev%03d", k), time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if first {
						firsts[k].Add(1)
					}
				}
			}()
		}
	}
	close(start)
	wg.Wait()
	for k := range keys {
		if n := firsts[k].Load(); n != 1 {
			t.Errorf("key %d: first %d times out of 60, want once", k, n)
		}
	}
}

func TestFirstDeliveryAfterTTL(t *testing.T) {
	t.Parallel()
	s := newStore(t)
	ctx := ctxFor(t)
	for i, want := range []bool{true, false, false} {
		if got, err := s.FirstDelivery(ctx, "1700000000.000100/approve/A-7F3K9Q", time.Hour); err != nil || got != want {
			t.Fatalf("delivery %d: %v, %v; want %v", i, got, err, want)
		}
	}
	exec(t, s, `UPDATE deliveries SET seen_at = now() - interval '2 hours'`)
	if got, _ := s.FirstDelivery(ctx, "1700000000.000100/approve/A-7F3K9Q", time.Hour); !got {
		t.Error("a key older than ttl is not new again")
	}
	// The sweep deletes old keys.
	exec(t, s, `INSERT INTO deliveries (key, seen_at) VALUES ('old', now() - interval '2 hours')`)
	s.lastSweep.Store(0)
	if _, err := s.FirstDelivery(ctx, "other", time.Hour); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM deliveries WHERE key = 'old'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("old key after a sweep: %d rows, %v", n, err)
	}
}
