// Package storetest gives tests outside internal/store a throwaway bot
// database on the host's PostgreSQL (testenv.BotDB).
package storetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// NewDatabase creates an empty database of the test's own and drops it,
// FORCE, when the test ends. It returns the database's URL. Without the
// host PostgreSQL the test is skipped (failed under CI=true).
func NewDatabase(t testing.TB) string {
	t.Helper()
	admin := testenv.BotDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	b := make([]byte, 6)
	rand.Read(b)
	name := "storetest_" + hex.EncodeToString(b)
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
