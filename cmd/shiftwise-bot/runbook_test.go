package main

import (
	"context"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/commands"
)

// Every step of every symptom runbook names a command of the bot as main
// wires it: a diagnosis step a read-only one, a resolution step any.
func TestEveryRunbookStepIsACommandOfTheBot(t *testing.T) {
	env := demoEnv(t)
	env["SHIFTWISE_DATA_DIR"] = t.TempDir()
	m := openMain(t, context.Background(), env)
	reg := m.Engine.Registry()
	if reg.Lookup("runbook") == nil {
		t.Fatal("runbook is not wired")
	}
	for _, s := range commands.Symptoms {
		for _, line := range s.Diagnose {
			cmd, _, err := reg.Parse(line)
			if err != nil {
				t.Errorf("%s: diagnosis %q: %v", s.Name, line, err)
				continue
			}
			if cmd.Risk != bot.ReadOnly {
				t.Errorf("%s: diagnosis %q is not read-only", s.Name, line)
			}
		}
		for _, r := range s.Resolve {
			if _, _, err := reg.Parse(r.Line); err != nil {
				t.Errorf("%s: resolution %q: %v", s.Name, r.Line, err)
			}
		}
	}
}
