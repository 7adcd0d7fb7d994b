package main

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/commands"
)

// BenchmarkRunbook measures, on the running demo stack and in one run, the
// wall time of `runbook api-500` (step=runbook) and of each of its
// diagnosis steps alone (step=<line>), through the bot as main wires it.
// scripts/bench.sh runbook turns the medians into the ratio the README
// quotes: runbook / slowest step alone (goal: at most 1.2).
func BenchmarkRunbook(b *testing.B) {
	env := demoEnv(b)
	env["SHIFTWISE_HEALTH_REUSE"] = "0" // every health runs anew, alone and inside the runbook
	m := openMain(b, context.Background(), env)
	var sym commands.Symptom
	for _, s := range commands.Symptoms {
		if s.Name == "api-500" {
			sym = s
		}
	}
	run := func(b *testing.B, line string) {
		for b.Loop() {
			r := m.Engine.Handle(context.Background(), bot.Request{Subject: "console:bench", Channel: "console", Text: line})
			if r.Outcome == bot.OutcomeUsage || r.Outcome == bot.OutcomeDenied {
				b.Fatalf("%s: %s", line, r.Message.Text)
			}
		}
	}
	for _, line := range sym.Diagnose {
		b.Run(fmt.Sprintf("step=%s", strings.ReplaceAll(line, " ", "_")), func(b *testing.B) { run(b, line) })
	}
	b.Run("step=runbook", func(b *testing.B) { run(b, "runbook api-500") })
}
