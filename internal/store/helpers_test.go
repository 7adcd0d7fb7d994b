package store

import (
	"context"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// ctxFor is a test's context with a deadline: nothing here may hang.
func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newDatabase is an empty database of the test's own, dropped when the
// test ends.
func newDatabase(t testing.TB) string {
	t.Helper()
	return testenv.NewDatabase(t)
}

// openStore opens a Store on dbURL, closed when the test ends (before the
// database is dropped: cleanups run last registered first).
func openStore(t testing.TB, dbURL string) *Store {
	t.Helper()
	s, err := Open(ctxFor(t), dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// newStore opens a Store on a fresh database of its own.
func newStore(t testing.TB) *Store {
	t.Helper()
	return openStore(t, newDatabase(t))
}

// exec runs raw SQL against the store's database: what a tamperer would do.
func exec(t *testing.T, s *Store, sql string, args ...any) {
	t.Helper()
	if _, err := s.pool.Exec(ctxFor(t), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}
