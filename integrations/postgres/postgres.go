// Package postgres reads the health of the operated ShiftWise PostgreSQL
// database: whether it accepts connections (pg_isready's meaning) and how
// its connection slots are used (the runbook's "Database Connection Issues").
//
// It is one of the few packages that import pgx; callers see only the types
// declared here. Every call is bounded by its context, and by a default
// deadline when the context has none.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

const (
	applicationName = "shiftwise-bot"
	maxConns        = 4
	// connectTimeout bounds every connection attempt the pool makes. pgxpool
	// dials on its own context, not on the caller's: a caller whose context
	// expires gets its error in time, but the dial goes on in the background
	// and holds a pool slot until this timeout ends it.
	connectTimeout = 5 * time.Second
	// defaultTimeout bounds calls whose context carries no deadline.
	defaultTimeout = 10 * time.Second
)

// ErrAuth means the server answered and accepts connections, but refused
// to let us log in (wrong password, unknown role, role without LOGIN).
var ErrAuth = errors.New("postgres: authentication failed")

// SQLSTATE codes that Ready interprets.
const (
	codeCannotConnectNow     = "57P03" // starting up, shutting down, in recovery
	codeInvalidPassword      = "28P01"
	codeInvalidAuthorization = "28000"
)

// Values Connections passes to its query.
const (
	stateUnknown             = "unknown" // a client backend without a state
	backendTypeClientBackend = "client backend"
)

// DB is the operated database. It holds a small, lazily connected pool.
type DB struct {
	pool    *pgxpool.Pool
	connCfg *pgconn.Config // for Ready's fresh connections
}

// Open prepares a connection pool for url without connecting: the database
// may well be the thing that is down. The pool holds at most 4 connections,
// each named application_name=shiftwise-bot unless url names another.
// A malformed url is reported with its password masked.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx masks the password on a best-effort basis only, and keeps
		// the raw string in the error value: explain the error of the
		// redacted URL instead, which has no secret to show.
		return nil, redact.ParseError("database", url, func(s string) error {
			_, err := pgxpool.ParseConfig(s)
			var pce *pgconn.ParseConfigError
			if errors.As(err, &pce) {
				// "cannot parse `<the URL again>`: why" -> "why"
				if _, why, ok := strings.Cut(err.Error(), "`: "); ok {
					return errors.New(why)
				}
			}
			return err
		})
	}
	cfg.MaxConns = maxConns
	cfg.MinConns = 0
	cfg.MinIdleConns = 0
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > connectTimeout {
		cfg.ConnConfig.ConnectTimeout = connectTimeout
	}
	if cfg.ConnConfig.RuntimeParams == nil {
		cfg.ConnConfig.RuntimeParams = map[string]string{}
	}
	if cfg.ConnConfig.RuntimeParams["application_name"] == "" {
		cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	}
	connCfg := cfg.ConnConfig.Config.Copy()
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, &redact.SafeError{Msg: fmt.Sprintf("open database pool for %s: %s",
			redact.URL(url), redact.Scrub(err.Error(), url))}
	}
	return &DB{pool: pool, connCfg: connCfg}, nil
}

// Close closes the pool's connections.
func (d *DB) Close() { d.pool.Close() }

// Readiness is what pg_isready reports.
type Readiness struct {
	// Accepting is true when the server answers and accepts connections,
	// even if it then refused our login.
	Accepting bool
	// Reason is the server's message when it refused us: why it does not
	// accept connections ("the database system is starting up"), or why
	// the session was refused although it does.
	Reason string
	// Version is server_version, for example "15.13 (Debian 15.13-0+deb12u1)",
	// known only when we could log in.
	Version string
}

// Ready opens one fresh connection, as pg_isready does; the pool is not
// used, because a server that is shutting down still serves the sessions
// it has while it refuses new ones.
//
//   - no answer (refused, unreachable, ctx expired): an error.
//   - "starting up", "shutting down", "in recovery" (SQLSTATE 57P03):
//     Accepting=false with the server's Reason, no error.
//   - login refused (SQLSTATE class 28): Accepting=true and an error that
//     satisfies errors.Is(err, ErrAuth).
//   - any other refusal (too many connections, unknown database):
//     Accepting=true, Reason, and an error.
//   - logged in: Accepting=true and Version.
func (d *DB) Ready(ctx context.Context) (Readiness, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	conn, err := pgconn.ConnectConfig(ctx, d.connCfg.Copy())
	if err != nil {
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) {
			return Readiness{}, fmt.Errorf("check postgres readiness: %w", err)
		}
		switch pgErr.Code {
		case codeCannotConnectNow:
			return Readiness{Accepting: false, Reason: pgErr.Message}, nil
		case codeInvalidPassword, codeInvalidAuthorization:
			return Readiness{Accepting: true, Reason: pgErr.Message},
				fmt.Errorf("check postgres readiness: %w: %w", ErrAuth, err)
		default:
			return Readiness{Accepting: true, Reason: pgErr.Message},
				fmt.Errorf("check postgres readiness: server refused the session: %w", err)
		}
	}
	version := conn.ParameterStatus("server_version")

	closeCtx, closeCancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer closeCancel()
	_ = conn.Close(closeCtx) // a failed goodbye does not change the answer

	return Readiness{Accepting: true, Version: version}, nil
}

// Connections is how the server's connection slots are used.
type Connections struct {
	// Total counts the client backends we can see, all databases and users.
	Total int
	// Max is the server's max_connections.
	Max int
	// ByState counts those client backends by pg_stat_activity.state
	// ("active", "idle", "idle in transaction", ...).
	ByState map[string]int
	// Hidden counts the pg_stat_activity rows whose type PostgreSQL hides
	// from us: other roles' sessions and the server's own processes, when
	// we are neither superuser nor a member of pg_read_all_stats. They are
	// not in Total, which then undercounts; zero for a privileged role.
	Hidden int
}

const connectionsSQL = `
SELECT current_setting('max_connections')::int,
       backend_type IS NULL,
       coalesce(state, $1),
       count(*)
FROM pg_stat_activity
WHERE backend_type = $2 OR backend_type IS NULL
GROUP BY 2, 3`

// Connections counts the client sessions in pg_stat_activity by state,
// the runbook's "Check active connections", together with max_connections.
func (d *DB) Connections(ctx context.Context) (Connections, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()

	rows, err := d.pool.Query(ctx, connectionsSQL, stateUnknown, backendTypeClientBackend)
	if err != nil {
		return Connections{}, fmt.Errorf("count postgres connections: %w", err)
	}
	defer rows.Close()

	c := Connections{ByState: map[string]int{}}
	for rows.Next() {
		var (
			maxConn int
			hidden  bool
			state   string
			n       int64
		)
		if err := rows.Scan(&maxConn, &hidden, &state, &n); err != nil {
			return Connections{}, fmt.Errorf("count postgres connections: read row: %w", err)
		}
		c.Max = maxConn
		if hidden {
			c.Hidden += int(n)
			continue
		}
		c.ByState[state] += int(n)
		c.Total += int(n)
	}
	if err := rows.Err(); err != nil {
		return Connections{}, fmt.Errorf("count postgres connections: %w", err)
	}
	if c.Max == 0 {
		return Connections{}, errors.New("count postgres connections: pg_stat_activity shows not even our own session")
	}
	return c, nil
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultTimeout)
}
