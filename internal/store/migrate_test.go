package store

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMigrationsEmbedded(t *testing.T) {
	all, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(all) < 3 {
		t.Fatalf("got %d migrations, want at least 3", len(all))
	}
	// Versions rise; a gap is a version reserved by work in progress on
	// another branch (Migrate applies whichever the database lacks).
	for i, m := range all {
		if i > 0 && m.version <= all[i-1].version || i == 0 && m.version != 1 {
			t.Errorf("migration %d is %s (version %d): versions must rise from 1", i, m.name, m.version)
		}
		if strings.TrimSpace(m.sql) == "" {
			t.Errorf("migration %s is empty", m.name)
		}
	}
}

type appliedVersion struct {
	version int
	at      time.Time
}

func applied(t *testing.T, s *Store) []appliedVersion {
	t.Helper()
	rows, err := s.pool.Query(ctxFor(t), `SELECT version, applied_at FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []appliedVersion
	for rows.Next() {
		var v appliedVersion
		if err := rows.Scan(&v.version, &v.at); err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrateIdempotent(t *testing.T) {
	t.Parallel()
	dbURL := newDatabase(t)
	s := openStore(t, dbURL)
	all, _ := migrations()
	first := applied(t, s)
	if len(first) != len(all) {
		t.Fatalf("applied %v, want %d versions", first, len(all))
	}
	for i := 0; i < 2; i++ {
		if err := s.Migrate(ctxFor(t)); err != nil {
			t.Fatalf("Migrate again: %v", err)
		}
	}
	s2 := openStore(t, dbURL) // a second start of the bot
	again := applied(t, s2)
	if len(again) != len(first) {
		t.Fatalf("after re-running: %v, want %v", again, first)
	}
	for i := range first {
		if !again[i].at.Equal(first[i].at) {
			t.Errorf("version %d re-applied: applied_at %v, then %v", first[i].version, first[i].at, again[i].at)
		}
	}
}

// Bots starting at once on an empty database: each migration is applied
// once (a second CREATE TABLE would fail, and so would the second row in
// schema_migrations), and every one of them starts.
func TestMigrateConcurrent(t *testing.T) {
	t.Parallel()
	dbURL := newDatabase(t)
	const n = 6
	var wg sync.WaitGroup
	stores := make([]*Store, n)
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			stores[i], errs[i] = Open(ctxFor(t), dbURL) // each with its own pool
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("store %d: Open: %v", i, err)
			continue
		}
		t.Cleanup(stores[i].Close)
	}
	if t.Failed() {
		return
	}
	all, _ := migrations()
	got := applied(t, stores[0])
	if len(got) != len(all) {
		t.Fatalf("schema_migrations holds %v, want versions 1..%d once each", got, len(all))
	}
	for i, v := range got {
		if v.version != all[i].version {
			t.Errorf("row %d is version %d, want %d", i, v.version, all[i].version)
		}
	}
	// The schema works from every store.
	for i, s := range stores {
		if _, err := s.Append(ctxFor(t), Entry{Subject: "console:alice", Command: "health"}); err != nil {
			t.Errorf("store %d: Append: %v", i, err)
		}
	}
}

func TestMigrateRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	dbURL := newDatabase(t)
	s := openStore(t, dbURL)
	exec(t, s, `INSERT INTO schema_migrations (version) VALUES (9999)`)
	err := s.Migrate(ctxFor(t))
	if !errors.Is(err, ErrSchemaTooNew) {
		t.Fatalf("Migrate on a newer schema: %v, want ErrSchemaTooNew", err)
	}
	if !strings.Contains(err.Error(), "9999") {
		t.Errorf("error %q does not name the database's version", err)
	}
	s2, err := Open(ctxFor(t), dbURL)
	if err == nil {
		s2.Close()
		t.Fatal("Open on a newer schema succeeded")
	}
	if !errors.Is(err, ErrSchemaTooNew) || !strings.Contains(err.Error(), "9999") {
		t.Errorf("Open on a newer schema: %v, want ErrSchemaTooNew naming 9999", err)
	}
	if strings.Contains(err.Error(), "shiftwise_test:shiftwise_test@") {
		t.Errorf("Open's error shows the password: %v", err)
	}
}

func TestOpenWrongPasswordHidesIt(t *testing.T) {
	t.Parallel()
	dbURL := newDatabase(t)
	const secret = "Wr0ng-S3cret%2Fpw"
	bad := strings.Replace(dbURL, "shiftwise_test:shiftwise_test@", "shiftwise_test:"+secret+"@", 1)
	if bad == dbURL {
		t.Skipf("test database URL %q has no shiftwise_test password to replace", dbURL)
	}
	s, err := Open(ctxFor(t), bad)
	if err == nil {
		s.Close()
		t.Fatal("Open with a wrong password succeeded")
	}
	msg := err.Error()
	for _, leak := range []string{secret, "Wr0ng-S3cret/pw"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error shows the password %q: %s", leak, msg)
		}
	}
	if !strings.Contains(msg, "password authentication failed") {
		t.Errorf("error does not say why: %s", msg)
	}
	t.Logf("error: %s", msg)

	// A URL that does not parse is reported masked too.
	_, err = Open(ctxFor(t), "postgres://u:"+secret+"@127.0.0.1:notaport/db")
	if err == nil || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "Wr0ng-S3cret/pw") {
		t.Errorf("malformed URL: %v", err)
	}
}
