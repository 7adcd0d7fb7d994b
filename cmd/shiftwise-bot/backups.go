package main

import (
	"context"
	"net/url"
	"strings"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/commands"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
)

// backupCommands wires backup *, cleanup and db test. pg_dump and psql run
// inside the postgres container as the role and database of
// SHIFTWISE_TARGET_DB_URL (its password, if any, only in their
// environment), as the runbook's `pg_dump -U shiftwise shiftwise`.
func backupCommands(cfg config, dock *docker.Client, health *commands.Health, log logrus.FieldLogger) (*commands.Backups, *commands.Cleanup, *commands.DBTest) {
	b := &commands.Backups{Docker: dock, Dir: cfg.BackupDir}
	if u, err := url.Parse(cfg.TargetDBURL); err == nil && u.User != nil {
		b.User = u.User.Username()
		b.Password, _ = u.User.Password()
		b.Database = strings.TrimPrefix(u.Path, "/")
	}
	if err := b.Validate(); err != nil {
		// Only the backup commands need these names: they say so when run.
		log.WithField("error", err.Error()).Warn("backup commands will refuse to run")
	}
	b.Health = func(ctx context.Context) bot.Message { return health.Run(ctx, cfg.Health.CheckTimeout) }
	c := &commands.Cleanup{Docker: dock, Backups: b, LogDir: cfg.LogDir, DataDir: cfg.DataDir}
	t := &commands.DBTest{Docker: dock, Argv: cfg.DBTestCommand}
	return b, c, t
}
