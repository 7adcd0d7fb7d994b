package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// ctxFor is a test's context with a deadline: nothing here may hang.
func ctxFor(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// newDatabase creates an empty database of its own for the test on the
// host's PostgreSQL (testenv.BotDB) and drops it, FORCE, when the test
// ends. It returns the database's URL.
func newDatabase(t testing.TB) string {
	t.Helper()
	admin := testenv.BotDB(t)
	ctx := ctxFor(t)
	b := make([]byte, 6)
	rand.Read(b)
	name := "store_test_" + hex.EncodeToString(b)
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		testenv.Missing(t, "host postgres (bot state)", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, admin)
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
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
