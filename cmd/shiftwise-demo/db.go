package main

import (
	"context"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// dbQueryTimeout bounds the query behind GET /db.
const dbQueryTimeout = 3 * time.Second

// openPool returns a pool for DATABASE_URL that connects lazily, so the api
// starts (and answers /health) while the database is still down, and
// replaces a dead connection with a new one on the next request: after a
// PostgreSQL restart the api reaches the database again by itself, as the
// runbook's api does. Idle connections are pinged before use, and a
// connection that fails a query is dropped from the pool.
func openPool(dsn string) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.MaxConns = 4
	cfg.HealthCheckPeriod = 5 * time.Second
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > dbQueryTimeout {
		cfg.ConnConfig.ConnectTimeout = dbQueryTimeout
	}
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// handleDB is the api's own database check, through its long-lived pool:
// 200 with the server's start time and the backend's pid when a query
// answers, 503 with the reason otherwise.
func (s *server) handleDB(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), dbQueryTimeout)
	defer cancel()
	var started string
	var pid int
	err := s.db.QueryRow(ctx, "SELECT pg_postmaster_start_time()::text, pg_backend_pid()").Scan(&started, &pid)
	if err != nil {
		s.logf("ERROR", "database check: %v", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "error", "role": s.role, "error": err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "role": s.role, "postmaster_start": started, "backend_pid": pid})
}
