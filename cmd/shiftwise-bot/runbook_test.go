package main

import (
	"context"
	"io"
	"testing"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/commands"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

// Every step of every symptom runbook names a command of the bot as main
// wires it: a diagnosis step a read-only one, a resolution step any.
func TestEveryRunbookStepIsACommandOfTheBot(t *testing.T) {
	env := demoEnv(t)
	env["SHIFTWISE_DATA_DIR"] = t.TempDir()
	cfg, err := loadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	log := logrus.New()
	log.Out = io.Discard
	a, err := wire(context.Background(), cfg, redact.New(), log)
	if err != nil {
		t.Fatal(err)
	}
	defer a.close()
	reg := a.engine.Registry()
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
