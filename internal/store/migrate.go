package store

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// ErrSchemaTooNew is returned (wrapped) by Migrate and Open when the
// database was migrated by a newer binary than this one.
var ErrSchemaTooNew = errors.New("the bot database's schema is newer than this binary")

// migrationLockKey is the pg_advisory_xact_lock key that serializes
// migrations across processes ("shiftwise-bot schema" in spirit; any fixed
// number would do, advisory locks are per database).
const migrationLockKey int64 = 0x5357_4249_5453_4348

type migration struct {
	version int
	name    string
	sql     string
}

// migrations lists the embedded migrations in version order. File names
// are NNNN_what.sql; a malformed name or a repeated version is a bug of
// this binary, reported by Migrate (TestMigrationsEmbedded catches it).
func migrations() ([]migration, error) {
	names, err := fs.Glob(migrationFiles, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var out []migration
	seen := map[int]string{}
	for _, p := range names {
		name := strings.TrimPrefix(p, "migrations/")
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name must be NNNN_what.sql", name)
		}
		if other, dup := seen[v]; dup {
			return nil, fmt.Errorf("migrations %s and %s share version %d", other, name, v)
		}
		seen[v] = name
		body, err := migrationFiles.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: name, sql: string(body)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].version < out[j].version })
	return out, nil
}

// Migrate applies the embedded migrations the database lacks, in version
// order, each in its own transaction together with its row in
// schema_migrations. A transaction-scoped advisory lock serializes them
// across processes: bots starting at once apply each migration once. A
// database holding a version this binary does not know is refused with
// ErrSchemaTooNew, before anything is applied.
func (s *Store) Migrate(ctx context.Context) error {
	all, err := migrations()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	latest := 0
	if len(all) > 0 {
		latest = all[len(all)-1].version
	}
	for {
		done, err := s.migrateOne(ctx, all, latest)
		if err != nil {
			return err
		}
		if done {
			return nil
		}
	}
}

// migrateOne applies the first pending migration, if any, and reports
// whether none was left.
func (s *Store) migrateOne(ctx context.Context, all []migration, latest int) (done bool, err error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("migrate: connect: %w", err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLockKey); err != nil {
		return false, fmt.Errorf("migrate: take the migration lock: %w", err)
	}
	// Under the lock, so that two processes never race to create it.
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    integer     PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now()
	)`); err != nil {
		return false, fmt.Errorf("migrate: create schema_migrations: %w", err)
	}
	rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return false, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	applied, err := pgx.CollectRows(rows, pgx.RowTo[int32])
	if err != nil {
		return false, fmt.Errorf("migrate: read schema_migrations: %w", err)
	}
	have := map[int]bool{}
	for _, v := range applied {
		have[int(v)] = true
		if int(v) > latest {
			return false, fmt.Errorf("migrate: database is at schema version %d, this binary knows versions up to %d: run a newer shiftwise-bot, or point SHIFTWISE_DATABASE_URL at another database: %w",
				v, latest, ErrSchemaTooNew)
		}
	}
	for _, m := range all {
		if have[m.version] {
			continue
		}
		if _, err := tx.Exec(ctx, m.sql); err != nil {
			return false, fmt.Errorf("migrate: apply %s: %w", m.name, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, m.version); err != nil {
			return false, fmt.Errorf("migrate: record %s: %w", m.name, err)
		}
		if err := tx.Commit(ctx); err != nil {
			return false, fmt.Errorf("migrate: commit %s: %w", m.name, err)
		}
		return false, nil
	}
	return true, tx.Commit(ctx)
}
