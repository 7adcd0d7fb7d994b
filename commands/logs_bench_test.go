package commands

import (
	"slices"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// BenchmarkLogsTailAndErrors times `logs api --tail 1000` (the engine cuts
// the tail), the same with --grep (the whole window read and matched) and
// `errors --since 24h` on the throwaway containers of benchLogs
// (SHIFTWISE_BENCH_LOG_MB of logs), as main wires them (every line
// redacted). Each reports the median of its runs (ms-median).
func BenchmarkLogsTailAndErrors(b *testing.B) {
	o, size := benchLogs(b)
	b.Logf("%d containers, %.1f MB of log text", len(o.project.Containers), float64(size)/1e6)
	for _, c := range []struct{ name, line string }{
		{"logs-tail-1000", "logs api --tail 1000"},
		{"logs-tail-1000-grep", "logs api --tail 1000 --grep error"},
		{"errors", "errors --since 24h"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var times []float64
			for b.Loop() {
				start := time.Now()
				r, _ := o.run("console:l1", c.line)
				times = append(times, float64(time.Since(start).Microseconds())/1000)
				if r.Outcome != bot.OutcomeOK {
					b.Fatalf("%s: %s", c.line, render(r.Message))
				}
			}
			slices.Sort(times)
			b.ReportMetric(times[len(times)/2], "ms-median")
		})
	}
}
