package commands

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
	"github.com/shiftwise/shiftwise-bot/integrations/redis"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// BenchmarkDBDiagnostics times the read-only db and cache commands
// through the core against the demo stack (read-only, so the shared
// stack is fine), next to the runbook's own command for the same answer
// typed as a person would: docker exec … psql / redis-cli.
//
//	go test -run '^$' -bench DBDiagnostics -benchtime 20x ./commands
func BenchmarkDBDiagnostics(b *testing.B) {
	pg, err := postgres.Open(context.Background(), testenv.TargetDB(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pg.Close)
	rc, err := redis.Open(testenv.TargetRedis(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { rc.Close() })
	reg, err := bot.NewRegistry(All(Deps{Health: &Health{}, DB: pg, Cache: rc})...)
	if err != nil {
		b.Fatal(err)
	}
	e, err := bot.NewEngine(bot.Options{Registry: reg, Authorizer: newAuthz(b, opsPolicy), Redactor: redact.New(), Timeout: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	project := testenv.Get("SHIFTWISE_TEST_COMPOSE_PROJECT")
	psql := func(sql string) []string {
		return []string{"exec", project + "_postgres_1", "psql", "-X", "-q", "-U", "shiftwise", "-d", "shiftwise", "-c", sql}
	}
	for _, c := range []struct {
		name    string
		line    string
		runbook []string
	}{
		{"status", "db status", []string{"exec", project + "_postgres_1", "pg_isready", "-U", "shiftwise"}},
		{"connections", "db connections", psql("SELECT count(*), state FROM pg_stat_activity GROUP BY state")},
		{"long-running", "db long-running", psql("SELECT query, state, query_start FROM pg_stat_activity WHERE state = 'active' AND query_start < now() - interval '30 seconds'")},
		{"slow-queries", "db slow-queries", psql("SELECT query, calls, total_exec_time, mean_exec_time FROM pg_stat_statements ORDER BY mean_exec_time DESC LIMIT 10")},
		{"tables", "db tables", psql("SELECT schemaname, relname, n_tup_ins, n_tup_upd, n_tup_del FROM pg_stat_user_tables ORDER BY n_tup_ins + n_tup_upd + n_tup_del DESC LIMIT 10")},
		{"size", "db size", psql("SELECT pg_size_pretty(pg_database_size('shiftwise'))")},
		{"cache-status", "cache status", []string{"exec", project + "_redis_1", "redis-cli", "info", "memory"}},
	} {
		b.Run(c.name+"/bot", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				r := e.Handle(context.Background(), bot.Request{Subject: "console:alice", Channel: "C1", Text: c.line})
				if r.Outcome != bot.OutcomeOK {
					b.Fatalf("%s: %v %s", c.line, r.Outcome, text(r.Message))
				}
			}
		})
		b.Run(c.name+"/runbook", func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				out, err := exec.CommandContext(ctx, "docker", c.runbook...).CombinedOutput()
				cancel()
				if err != nil {
					b.Fatalf("docker %v: %v: %s", c.runbook, err, out)
				}
			}
		})
	}
}
