package commands

import "github.com/shiftwise/shiftwise-bot/bot"

// Deps are the integrations the commands need, wired by main.
type Deps struct {
	Health *Health
}

// All returns every command, explicitly. The registry rejects duplicates.
func All(d Deps) []bot.Command {
	return []bot.Command{
		d.Health.Command(),
	}
}
