package main

import (
	"testing"
)

// BenchmarkOneShotHealthHungBotDatabase is the wall time of a one-shot
// `health --timeout 2s` run in-process (wiring, the checks against the
// demo stack, the audit entry, exit), without a bot database and with one
// that accepts connections and never answers: the difference is what a
// hung bot database costs a reply.
//
//	go test -run '^$' -bench OneShotHealthHungBotDatabase -benchtime 5x ./cmd/shiftwise-bot
func BenchmarkOneShotHealthHungBotDatabase(b *testing.B) {
	for _, c := range []struct {
		name string
		hung bool
	}{{"no-bot-db", false}, {"hung-bot-db", true}} {
		b.Run(c.name, func(b *testing.B) {
			env := demoEnv(b)
			env["SHIFTWISE_DATA_DIR"] = b.TempDir()
			if c.hung {
				env["SHIFTWISE_DATABASE_URL"] = hungBenchURL(b)
			}
			for b.Loop() {
				if code, out, _ := runWith(env, "", "-user", "bench", "health", "--timeout", "2s"); code > 1 {
					b.Fatalf("health: exit %d\n%s", code, out)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/op")
		})
	}
}
