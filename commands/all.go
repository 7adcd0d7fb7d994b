package commands

import "github.com/shiftwise/shiftwise-bot/bot"

// Deps are the integrations the commands need, wired by main.
type Deps struct {
	Health *Health
	// Authz is the authorizer (*permissions.Authorizer); without it the
	// whoami and policy commands are left out.
	Authz Policy
	// LoadPolicy re-reads the policy text for `policy reload`.
	LoadPolicy func() (string, error)
	// Commands, when set, is the registry's full list (with the engine's
	// own commands) for whoami and policy show; default: All's list.
	Commands func() []*bot.Command
	// Parse resolves a command line in the bot's registry, for the
	// symptom runbooks; without it (or Authz) `runbook` is left out.
	Parse func(line string) (*bot.Command, bot.Args, error)
	// DataDir is SHIFTWISE_DATA_DIR: the bot's local files (the security
	// runbook's log snapshots).
	DataDir string
	// Incidents, when set, adds the `incident …` commands.
	Incidents *Incidents
	// Audit is the bot's audit log (NoAuditDatabase without
	// SHIFTWISE_DATABASE_URL: the audit commands then say they need it);
	// nil leaves the audit commands out.
	Audit bot.AuditLog
	// Backups (backup create/list/verify/prune/restore), Cleanup and
	// DBTest (db test); nil leaves their commands out.
	Backups *Backups
	Cleanup *Cleanup
	DBTest  *DBTest
	// Stack, when set, adds the container commands (status, stats, top,
	// restart, start, stop all, logs, errors).
	Stack *Stack
	// Host, when set, adds `host` (df -h, free -h).
	Host *Host
	// DB and Cache are the operated PostgreSQL and Redis (*postgres.DB,
	// *redis.Cache); without one its commands are left out.
	DB    DBOps
	Cache CacheOps
	// Deploy wires deploy and rollback; nil leaves them out.
	Deploy *Deploy
}

// All returns every command, explicitly. The registry rejects duplicates.
func All(d Deps) []bot.Command {
	list := []bot.Command{
		d.Health.Command(),
	}
	if d.Backups != nil {
		list = append(list, d.Backups.Commands()...)
	}
	if d.Cleanup != nil {
		list = append(list, d.Cleanup.Command())
	}
	if d.DBTest != nil {
		list = append(list, d.DBTest.Command())
	}
	if d.DB != nil {
		list = append(list, DBCommands(d.DB)...)
	}
	if d.Cache != nil {
		list = append(list, CacheCommands(d.Cache)...)
	}
	if d.Deploy != nil {
		list = append(list, d.Deploy.Commands()...)
	}
	if d.Stack != nil {
		list = append(list, d.Stack.Commands()...)
	}
	if d.Host != nil {
		list = append(list, d.Host.Command())
	}
	if d.Authz != nil {
		cmds := d.Commands
		if cmds == nil {
			cmds = func() []*bot.Command { return listOf(list) } // list as finally built
		}
		list = append(list, Whoami(d.Authz, cmds), PolicyShow(d.Authz, cmds), PolicyReload(d.Authz, d.LoadPolicy))
		if d.Parse != nil {
			rb := &Runbook{Parse: d.Parse, Policy: d.Authz, DataDir: d.DataDir}
			if d.Stack != nil {
				rb.Redact = d.Stack.Redact
			}
			if d.Health != nil && d.Health.Docker != nil {
				rb.Logs = d.Health.Docker
			}
			list = append(list, rb.Command())
		}
	}
	if d.Incidents != nil {
		list = append(list, d.Incidents.Commands()...)
	}
	if d.Audit != nil {
		list = append(list, Audit(d.Audit), AuditVerify(d.Audit))
	}
	return list
}
