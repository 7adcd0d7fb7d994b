package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/host"
	"github.com/shiftwise/shiftwise-bot/integrations/redis"
)

// CacheStatus is what `cache status` reads of the operated Redis.
type CacheStatus interface {
	Status(ctx context.Context) (redis.Status, error)
}

// CacheFlusher is what `cache flush` and `cache flush --all` need of the
// operated Redis: the keys they would remove, and the flush.
type CacheFlusher interface {
	DB() int
	DBSize(ctx context.Context) (int64, error)
	Keyspace(ctx context.Context) (map[int]int64, error)
	FlushDB(ctx context.Context) (redis.Flushed, error)
	FlushAll(ctx context.Context) (redis.Flushed, error)
}

// CacheOps is what the cache commands need of the operated Redis
// (*redis.Cache).
type CacheOps interface {
	CacheStatus
	CacheFlusher
}

// cacheMemWarnPercent is the runbook's Redis memory threshold.
const cacheMemWarnPercent = 85

// CacheCommands returns the runbook's Redis procedures on c.
func CacheCommands(c CacheOps) []bot.Command {
	obj := func(o string) func(bot.Args) string { return func(bot.Args) string { return o } }
	return []bot.Command{
		{
			Name: "cache status", Summary: "Redis: PING, memory used and maxmemory, keys",
			Help: "The runbook's `redis-cli ping`, `info memory` and `config get maxmemory`, with the keys of the operated " +
				fmt.Sprintf("database (DBSIZE) and of the instance's other databases (INFO keyspace). Memory WARNs from %d%% of maxmemory.", cacheMemWarnPercent),
			Object: obj("cache:status"), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 15 * time.Second,
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return cacheStatus(ctx, c), nil },
		},
		{
			Name: "cache flush", Summary: "FLUSHDB the operated Redis database (approval)",
			Help: "Empties the operated database only (FLUSHDB of the URL's /N), after showing how many keys it holds. The " +
				"runbook's `redis-cli FLUSHALL` would also wipe every other database of the instance, which may belong to " +
				"someone else: that is `cache flush --all`, Level 3.",
			Object: obj("cache:flush"), Level: bot.Level2, Approval: true, Risk: bot.Destructive, Timeout: 30 * time.Second,
			Preview: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return cacheFlushPreview(ctx, c, false) },
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) {
				f, err := c.FlushDB(ctx)
				if err != nil {
					return bot.Message{}, err
				}
				return flushed(f, fmt.Sprintf("FLUSHDB of database %d", f.DB)), nil
			},
		},
		{
			Name: "cache flush --all", Summary: "FLUSHALL: empty every database of the Redis instance (approval)",
			Help: "The runbook's literal `redis-cli FLUSHALL`: every database of the instance, not only the operated one. " +
				"`cache flush` (Level 2) empties only the operated database.",
			Object: obj("cache:flush:all"), Level: bot.Level3, Approval: true, Risk: bot.Destructive, Timeout: 30 * time.Second,
			Preview: func(ctx context.Context, _ bot.Request) (bot.Message, error) { return cacheFlushPreview(ctx, c, true) },
			Run: func(ctx context.Context, _ bot.Request) (bot.Message, error) {
				f, err := c.FlushAll(ctx)
				if err != nil {
					return bot.Message{}, err
				}
				return flushed(f, "FLUSHALL (every database)"), nil
			},
		},
	}
}

func cacheStatus(ctx context.Context, c CacheStatus) bot.Message {
	m := bot.Message{Title: "Redis status"}
	s, err := c.Status(ctx)
	if err != nil {
		m.Checks = []bot.Check{{Name: "redis", Status: bot.StatusFailed, Threshold: "answers PING", Value: reason(ctx, err)}}
		m.Status = bot.StatusFailed
		m.Summary = "Redis: FAILED"
		return m
	}
	mem := bot.Check{Name: "redis memory", Status: bot.StatusOK, Threshold: fmt.Sprintf("< %d%% of maxmemory", cacheMemWarnPercent)}
	if s.Memory.Max <= 0 {
		mem.Value = host.HumanBytes(uint64(s.Memory.Used)) + " used, no maxmemory set"
		mem.Threshold = "no limit to check"
	} else {
		pct := 100 * float64(s.Memory.Used) / float64(s.Memory.Max)
		mem.Value = fmt.Sprintf("%s of %s (%.0f%%), policy %s", host.HumanBytes(uint64(s.Memory.Used)),
			host.HumanBytes(uint64(s.Memory.Max)), pct, s.Memory.Policy)
		if pct >= cacheMemWarnPercent {
			mem.Status = bot.StatusWarn
		}
	}
	m.Checks = []bot.Check{
		{Name: "redis", Status: bot.StatusOK, Threshold: "answers PING", Value: "PONG in " + ms(s.Pong)},
		mem,
	}
	m.Fields = []bot.Field{
		{Name: fmt.Sprintf("Keys in db %d (operated)", s.DB), Value: fmt.Sprint(s.Keys)},
		{Name: "Other databases", Value: otherDBs(s.AllKeys, s.DB)},
		{Name: "Used memory", Value: fmt.Sprintf("%s (%d bytes)", host.HumanBytes(uint64(s.Memory.Used)), s.Memory.Used)},
		{Name: "maxmemory", Value: fmt.Sprintf("%d bytes", s.Memory.Max)},
		{Name: "Version", Value: "Redis " + s.Version},
		{Name: "Uptime", Value: human(s.Uptime)},
		{Name: "Clients", Value: fmt.Sprint(s.Clients)},
	}
	m.Status = bot.Worst(checkStatuses(m.Checks)...)
	m.Summary = "Redis: " + m.Status.String()
	return m
}

// otherDBs lists the keys of the databases other than db.
func otherDBs(ks map[int]int64, db int) string {
	var parts []string
	for _, n := range redis.SortedDBs(ks) {
		if n != db {
			parts = append(parts, fmt.Sprintf("db%d: %d keys", n, ks[n]))
		}
	}
	if len(parts) == 0 {
		return "none with keys"
	}
	return strings.Join(parts, ", ")
}

func cacheFlushPreview(ctx context.Context, c CacheFlusher, all bool) (bot.Message, error) {
	ks, err := c.Keyspace(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	db := c.DB()
	if all {
		var total int64
		for _, n := range ks {
			total += n
		}
		return bot.Message{
			Text: fmt.Sprintf("If approved, FLUSHALL empties EVERY database of the Redis instance: %d keys now (db%d, the operated one: %d; %s).",
				total, db, ks[db], otherDBs(ks, db)),
		}, nil
	}
	n, err := c.DBSize(ctx)
	if err != nil {
		return bot.Message{}, err
	}
	return bot.Message{
		Text: fmt.Sprintf("If approved, FLUSHDB empties database %d, the operated one: DBSIZE %d keys now. The instance's other databases keep their keys (%s); the runbook's FLUSHALL would wipe them too.",
			db, n, otherDBs(ks, db)),
	}, nil
}

func flushed(f redis.Flushed, what string) bot.Message {
	m := bot.Message{
		Title: "Redis flushed", Status: bot.StatusOK,
		Text:    fmt.Sprintf("%s: %d keys before, %d after.", what, f.Before, f.After),
		Summary: fmt.Sprintf("%d keys removed", max(f.Before-f.After, 0)),
	}
	if f.After > 0 {
		m.Text += " Clients wrote new keys meanwhile."
	}
	return m
}
