// Package pgpool parses a PostgreSQL URL into a small, lazily connecting
// pgx pool configuration the way every PostgreSQL client of the bot wants
// it: bounded size, bounded connect time, a recognisable application_name,
// and a parse error that never shows the URL's password.
package pgpool

import (
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

// Config returns the pool configuration for url. what names the database
// in errors ("database", "bot database"). A connect timeout in url is kept
// when it is shorter than connectTimeout; an application_name in url is
// kept.
func Config(url, what string, maxConns int32, connectTimeout time.Duration, appName string) (*pgxpool.Config, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// pgx masks the password on a best-effort basis only, and keeps
		// the raw string in the error value: explain the error of the
		// redacted URL instead, which has no secret to show.
		return nil, redact.ParseError(what, url, func(s string) error {
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
		cfg.ConnConfig.RuntimeParams["application_name"] = appName
	}
	return cfg, nil
}
