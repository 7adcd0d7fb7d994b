package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// This file holds the runbook's database diagnostics and fixes ("Database
// Maintenance", "Database Connection Issues", "Database Performance
// Issues", "Database Optimization"). Every query is parameterized and
// bounded by its context (a default deadline when it has none);
// identifiers that reach SQL text come from the server's catalog or from
// constants of this file, never from callers.

// ServerStatus is what `db status` shows besides readiness.
type ServerStatus struct {
	Version   string    // server_version, e.g. "15.18 (Debian 15.18-0+deb12u1)"
	Database  string    // current_database()
	User      string    // current_user
	StartedAt time.Time // pg_postmaster_start_time()
	Uptime    time.Duration
	Recovery  bool // pg_is_in_recovery(): a standby
}

// Status reads the server's version, start time and uptime.
func (d *DB) Status(ctx context.Context) (ServerStatus, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var s ServerStatus
	var upMicros int64
	err := d.pool.QueryRow(ctx, `
SELECT current_setting('server_version'), current_database(), current_user,
       pg_postmaster_start_time(),
       (extract(epoch FROM clock_timestamp() - pg_postmaster_start_time()) * 1000000)::bigint,
       pg_is_in_recovery()`).Scan(&s.Version, &s.Database, &s.User, &s.StartedAt, &upMicros, &s.Recovery)
	if err != nil {
		return ServerStatus{}, fmt.Errorf("read postgres status: %w", serverErr(err))
	}
	s.Uptime = time.Duration(upMicros) * time.Microsecond
	return s, nil
}

// Backend is one client session of the operated database.
type Backend struct {
	PID         int
	User        string
	Application string
	Client      string // client address, "" for the local socket
	State       string
	QueryStart  time.Time // microseconds, as the server keeps it
	Age         time.Duration
	WaitEvent   string // "Lock: relation", "" when not waiting
	Query       string // the first 500 characters
}

// BackendRef names one backend by what identifies its running query: the
// process ID alone may be reused by a new session.
type BackendRef struct {
	PID        int
	QueryStart time.Time
}

// Ref returns the backend's reference.
func (b Backend) Ref() BackendRef { return BackendRef{PID: b.PID, QueryStart: b.QueryStart} }

// MonitoringApplications are application_name values of monitoring tools:
// their sessions are never listed as long-running nor ended.
var MonitoringApplications = []string{
	"pg_isready", "pgwatch", "pgwatch2", "pgwatch3", "postgres_exporter", "pg_exporter",
	"check_postgres", "datadog-agent", "telegraf", "zabbix", "pg_activity", "pgbadger",
}

// candidatesWhere selects the backends `db long-running` lists and
// `db kill-long-running` may end: active client backends of the operated
// database whose query started before $1 seconds ago, except
//   - this session, and every other session of the bot (its
//     application_name, "shiftwise-bot" or the one its URL sets),
//   - monitoring: roles that are members of pg_monitor, the
//     applications in MonitoringApplications ($2), and queries that read
//     pg_stat_activity (the runbook's own exclusion).
//
// Idle sessions are never candidates: they run nothing.
const candidatesWhere = `
a.backend_type = 'client backend'
AND a.datname = current_database()
AND a.state = 'active'
AND a.query_start < statement_timestamp() - make_interval(secs => $1::float8)
AND a.pid <> pg_backend_pid()
AND coalesce(a.application_name, '') NOT IN ('shiftwise-bot', current_setting('application_name'))
AND coalesce(a.application_name, '') <> ALL ($2::text[])
AND a.query NOT ILIKE '%pg_stat_activity%'
AND NOT EXISTS (
	SELECT 1 FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.roleid
	WHERE m.member = a.usesysid AND r.rolname = 'pg_monitor')`

const longRunningSQL = `
SELECT a.pid, coalesce(a.usename, ''), coalesce(a.application_name, ''),
       coalesce(host(a.client_addr), ''), a.state, a.query_start,
       (extract(epoch FROM statement_timestamp() - a.query_start) * 1000000)::bigint,
       coalesce(a.wait_event_type || ': ' || a.wait_event, ''),
       left(a.query, 500)
FROM pg_stat_activity a
WHERE ` + candidatesWhere + `
ORDER BY a.query_start, a.pid
LIMIT $3`

// MaxBackends bounds how many backends LongRunning returns.
const MaxBackends = 50

// LongRunning lists the candidates described at candidatesWhere whose
// query has run for longer than older, oldest first, at most MaxBackends.
func (d *DB) LongRunning(ctx context.Context, older time.Duration) ([]Backend, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, longRunningSQL, older.Seconds(), MonitoringApplications, MaxBackends)
	if err != nil {
		return nil, fmt.Errorf("list long-running queries: %w", serverErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Backend, error) {
		var b Backend
		var ageMicros int64
		err := r.Scan(&b.PID, &b.User, &b.Application, &b.Client, &b.State, &b.QueryStart, &ageMicros, &b.WaitEvent, &b.Query)
		b.Age = time.Duration(ageMicros) * time.Microsecond
		return b, err
	})
	if err != nil {
		return nil, fmt.Errorf("list long-running queries: %w", serverErr(err))
	}
	return list, nil
}

const terminateSQL = `
SELECT a.pid, a.query_start, pg_terminate_backend(a.pid)
FROM pg_stat_activity a
JOIN unnest($3::int[], $4::timestamptz[]) AS want(pid, query_start)
  ON want.pid = a.pid AND want.query_start = a.query_start
WHERE ` + candidatesWhere

// Terminated is what Terminate did to one backend it was asked to end.
type Terminated struct {
	BackendRef
	// Ended: pg_terminate_backend succeeded. A backend that no longer
	// matches (gone, another query now, no longer a candidate) is not
	// touched and not Ended.
	Ended bool
}

// Terminate ends exactly the backends of refs that are, in one
// statement, still candidates (see candidatesWhere) for older and still
// run the same query: same process ID and same query_start, so neither a
// reused process ID nor a session that moved on to another query is ever
// ended. It returns one entry per ref, in refs' order.
func (d *DB) Terminate(ctx context.Context, refs []BackendRef, older time.Duration) ([]Terminated, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	out := make([]Terminated, len(refs))
	if len(refs) == 0 {
		return out, nil
	}
	pids := make([]int32, len(refs))
	starts := make([]time.Time, len(refs))
	for i, r := range refs {
		pids[i], starts[i] = int32(r.PID), r.QueryStart
		out[i].BackendRef = r
	}
	rows, err := d.pool.Query(ctx, terminateSQL, older.Seconds(), MonitoringApplications, pids, starts)
	if err != nil {
		return nil, fmt.Errorf("end long-running queries: %w", serverErr(err))
	}
	defer rows.Close()
	for rows.Next() {
		var pid int
		var start time.Time
		var ok bool
		if err := rows.Scan(&pid, &start, &ok); err != nil {
			return nil, fmt.Errorf("end long-running queries: %w", err)
		}
		for i := range out {
			if out[i].PID == pid && out[i].QueryStart.Equal(start) {
				out[i].Ended = ok
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("end long-running queries: %w", serverErr(err))
	}
	return out, nil
}

// Statement is one row of pg_stat_statements.
type Statement struct {
	Query   string
	Calls   int64
	TotalMS float64 // total_exec_time
	MeanMS  float64 // mean_exec_time
	Rows    int64
}

// ErrNoStatements means pg_stat_statements cannot be read: the extension
// is not created in the operated database, or the server does not load
// its library. The error's text says which and what to do.
var ErrNoStatements = errors.New("pg_stat_statements is not available")

type noStatements struct{ why string }

func (e *noStatements) Error() string        { return e.why }
func (e *noStatements) Is(target error) bool { return target == ErrNoStatements }

// SlowQueries returns pg_stat_statements' top limit statements by
// mean_exec_time, the runbook's "Check slow queries" in its PostgreSQL 13+
// form (total_time and mean_time were renamed total_exec_time and
// mean_exec_time). Like the runbook's query it covers every database of
// the server. Without the extension the error satisfies
// errors.Is(err, ErrNoStatements).
func (d *DB) SlowQueries(ctx context.Context, limit int) ([]Statement, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var schema string
	err := d.pool.QueryRow(ctx, `
SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'`).Scan(&schema)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, &noStatements{"the pg_stat_statements extension is not installed in this database " +
			"(it needs shared_preload_libraries = 'pg_stat_statements', a restart, then CREATE EXTENSION pg_stat_statements)"}
	}
	if err != nil {
		return nil, fmt.Errorf("read slow queries: %w", serverErr(err))
	}
	view := pgx.Identifier{schema, "pg_stat_statements"}.Sanitize() // from the catalog
	rows, err := d.pool.Query(ctx, `
SELECT query, calls, total_exec_time, mean_exec_time, rows
FROM `+view+`
ORDER BY mean_exec_time DESC
LIMIT $1`, limit)
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55000" { // object_not_in_prerequisite_state
			return nil, &noStatements{"the pg_stat_statements extension is installed, but the server does not load it " +
				"(add pg_stat_statements to shared_preload_libraries and restart PostgreSQL)"}
		}
		return nil, fmt.Errorf("read slow queries: %w", serverErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Statement, error) {
		var s Statement
		err := r.Scan(&s.Query, &s.Calls, &s.TotalMS, &s.MeanMS, &s.Rows)
		return s, err
	})
	if err != nil {
		var pgErr *pgconn.PgError
		if errors.As(err, &pgErr) && pgErr.Code == "55000" {
			return nil, &noStatements{"the pg_stat_statements extension is installed, but the server does not load it " +
				"(add pg_stat_statements to shared_preload_libraries and restart PostgreSQL)"}
		}
		return nil, fmt.Errorf("read slow queries: %w", serverErr(err))
	}
	return list, nil
}

// TableWrites is one row of pg_stat_user_tables.
type TableWrites struct {
	Schema, Table              string
	Inserts, Updates, Deletes  int64
	LiveRows, DeadRows         int64
	LastVacuum, LastAutovacuum time.Time // zero: never
	LastAnalyze                time.Time // the later of analyze and autoanalyze; zero: never
}

// Writes returns the operated database's user tables with the most rows
// written (inserted + updated + deleted), the runbook's "Check database
// statistics" (pg_stat_user_tables names the table relname, not
// tablename). Ties are ordered by schema and name.
func (d *DB) Writes(ctx context.Context, limit int) ([]TableWrites, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	rows, err := d.pool.Query(ctx, `
SELECT schemaname, relname, n_tup_ins, n_tup_upd, n_tup_del, n_live_tup, n_dead_tup,
       last_vacuum, last_autovacuum, greatest(last_analyze, last_autoanalyze)
FROM pg_stat_user_tables
ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC, schemaname, relname
LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("read table statistics: %w", serverErr(err))
	}
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableWrites, error) {
		var t TableWrites
		var lv, lav, la *time.Time
		err := r.Scan(&t.Schema, &t.Table, &t.Inserts, &t.Updates, &t.Deletes, &t.LiveRows, &t.DeadRows, &lv, &lav, &la)
		t.LastVacuum, t.LastAutovacuum, t.LastAnalyze = deref(lv), deref(lav), deref(la)
		return t, err
	})
	if err != nil {
		return nil, fmt.Errorf("read table statistics: %w", serverErr(err))
	}
	return list, nil
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// TableSize is one relation's size with its indexes and TOAST.
type TableSize struct {
	Schema, Table string
	Bytes         int64
}

// Size is the operated database's size and its largest tables.
type Size struct {
	Database string
	Bytes    int64 // pg_database_size(current_database())
	Tables   []TableSize
}

// Size reads pg_database_size, the runbook's "Check database size", and
// the largest user tables by pg_total_relation_size.
func (d *DB) Size(ctx context.Context, limit int) (Size, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	var s Size
	if err := d.pool.QueryRow(ctx, `SELECT current_database(), pg_database_size(current_database())`).Scan(&s.Database, &s.Bytes); err != nil {
		return Size{}, fmt.Errorf("read database size: %w", serverErr(err))
	}
	rows, err := d.pool.Query(ctx, `
SELECT schemaname, relname, pg_total_relation_size(relid)
FROM pg_stat_user_tables
ORDER BY 3 DESC, 1, 2
LIMIT $1`, limit)
	if err != nil {
		return Size{}, fmt.Errorf("read table sizes: %w", serverErr(err))
	}
	s.Tables, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (TableSize, error) {
		var t TableSize
		err := r.Scan(&t.Schema, &t.Table, &t.Bytes)
		return t, err
	})
	if err != nil {
		return Size{}, fmt.Errorf("read table sizes: %w", serverErr(err))
	}
	return s, nil
}

// serverErr reduces a pgconn error around a server error to the server's
// own sentence, and marks refused logins with ErrAuth.
func serverErr(err error) error {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Code == codeInvalidPassword || pgErr.Code == codeInvalidAuthorization {
			return &loginRefused{pgErr}
		}
		return pgErr
	}
	return err
}
