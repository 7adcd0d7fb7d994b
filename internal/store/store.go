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
	"net"
	"sync"
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

// ErrNotAnswering is wrapped by Open's error when the database did not
// answer in time: it accepts connections and never answers (hung), or
// its address swallows them, rather than refusing them.
var ErrNotAnswering = errors.New("the bot database did not answer in time")

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
	if answered, ok := ctx.Value(answeredKey{}).(func()); ok && answered != nil {
		dial := cfg.ConnConfig.DialFunc
		cfg.ConnConfig.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := dial(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return &answerConn{Conn: c, answered: answered}, nil
		}
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
		var ne net.Error
		switch {
		case errors.Is(err, ErrSchemaTooNew):
			kind = ErrSchemaTooNew
		case errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()):
			kind = ErrNotAnswering
		}
		return nil, &openError{
			msg:  fmt.Sprintf("open bot database %s: %s", redact.URL(url), redact.Scrub(err.Error(), url)),
			kind: kind,
		}
	}
	return s, nil
}

type answeredKey struct{}

// WithAnswered returns ctx carrying f, which Open (given that ctx) calls
// when the database first sends a byte on a connection: it is alive,
// answering, if perhaps slowly (migrating), as opposed to accepting
// connections and never answering.
func WithAnswered(ctx context.Context, f func()) context.Context {
	return context.WithValue(ctx, answeredKey{}, f)
}

// answerConn calls answered on the first byte read.
type answerConn struct {
	net.Conn
	answered func()
	once     sync.Once
}

func (c *answerConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.once.Do(c.answered)
	}
	return n, err
}

// Close closes the pool's connections.
func (s *Store) Close() { s.pool.Close() }
