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
	// Incidents, when set, adds the `incident …` commands.
	Incidents *Incidents
	// Audit is the bot's audit log (NoAuditDatabase without
	// SHIFTWISE_DATABASE_URL: the audit commands then say they need it);
	// nil leaves the audit commands out.
	Audit AuditLog
}

// All returns every command, explicitly. The registry rejects duplicates.
func All(d Deps) []bot.Command {
	list := []bot.Command{
		d.Health.Command(),
	}
	if d.Authz != nil {
		cmds := d.Commands
		if cmds == nil {
			cmds = func() []*bot.Command { return listOf(list) } // list as finally built
		}
		list = append(list, Whoami(d.Authz, cmds), PolicyShow(d.Authz, cmds), PolicyReload(d.Authz, d.LoadPolicy))
	}
	if d.Incidents != nil {
		list = append(list, d.Incidents.Commands()...)
	}
	if d.Audit != nil {
		list = append(list, Audit(d.Audit), AuditVerify(d.Audit))
	}
	return list
}
