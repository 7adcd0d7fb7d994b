// Package store is the bot's own state in PostgreSQL: the tamper-evident
// audit log, approvals waiting for a second person, and the keys of Slack
// deliveries already handled.
//
// It is a different database from the operated ShiftWise one, so that the
// bot keeps its records while ShiftWise's database is the thing that is
// down. Every decision that must happen once — an approval, an execution,
// a delivery — is one conditional change in PostgreSQL, never an in-process
// lock, so several bot processes may share one database.
//
// The schema is versioned: the migrations under migrations/ are embedded
// and applied in order by Open (see Migrate).
package store

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shiftwise/shiftwise-bot/internal/pgpool"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

const (
	maxConns        = 8
	connectTimeout  = 5 * time.Second
	applicationName = "shiftwise-bot"
)

// Store is the bot's state in one PostgreSQL database. It is safe for
// concurrent use, and several processes may each hold one on the same
// database.
type Store struct {
	pool      *pgxpool.Pool
	lastSweep atomic.Int64 // unix nanoseconds of the last deliveries sweep
}

// openError is an error of Open whose message was stripped of secrets. It
// wraps only one of this package's sentinels (never a driver error, whose
// value may keep the raw connection string), so that errors.Is still works.
type openError struct {
	msg  string
	kind error
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.kind }

// Open prepares a small connection pool for url (lazily: no connection is
// made until one is needed) and applies the pending migrations. No error
// it returns shows the password of url.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg, err := pgpool.Config(url, "bot database", maxConns, connectTimeout, applicationName)
	if err != nil {
		return nil, err
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &redact.SafeError{Msg: fmt.Sprintf("open bot database pool for %s: %s",
			redact.URL(url), redact.Scrub(err.Error(), url))}
	}
	s := &Store{pool: pool}
	if err := s.Migrate(ctx); err != nil {
		pool.Close()
		var kind error
		if errors.Is(err, ErrSchemaTooNew) {
			kind = ErrSchemaTooNew
		}
		return nil, &openError{
			msg:  fmt.Sprintf("open bot database %s: %s", redact.URL(url), redact.Scrub(err.Error(), url)),
			kind: kind,
		}
	}
	return s, nil
}

// Close closes the pool's connections.
func (s *Store) Close() { s.pool.Close() }
