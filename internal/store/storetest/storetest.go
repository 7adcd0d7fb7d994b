// Package storetest gives tests outside internal/store a throwaway bot
// database on the host's PostgreSQL (testenv.BotDB).
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// NewDatabase is testenv.NewDatabase: an empty database of the test's
// own, dropped when the test ends.
func NewDatabase(t testing.TB) string {
	t.Helper()
	return testenv.NewDatabase(t)
}

// Open opens a Store on dbURL, closed when the test ends (before the
// database is dropped: cleanups run last registered first).
func Open(t testing.TB, dbURL string) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// OpenTest opens a Store on a fresh database of its own and returns it
// with the database's URL (to open more Stores on it, as other processes
// would).
func OpenTest(t testing.TB) (*store.Store, string) {
	t.Helper()
	u := NewDatabase(t)
	return Open(t, u), u
}
