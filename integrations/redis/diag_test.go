package redis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/shiftwise/shiftwise-bot/integrations/docker/dockertest"
	"github.com/shiftwise/shiftwise-bot/integrations/redis"
)

// seed writes n keys into database db of the server at addr.
func seed(t *testing.T, addr string, db, n int) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr, DB: db})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := 0; i < n; i++ {
		if err := c.Set(ctx, fmt.Sprintf("k:%d:%d", db, i), "v", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
}

// redisInfo is `redis-cli info` run in the container, as the runbook does.
func redisInfo(t *testing.T, c dockertest.Container) map[string]string {
	t.Helper()
	f := map[string]string{}
	for _, line := range strings.Split(dockertest.Exec(t, c, "redis-cli", "info"), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), ":"); ok {
			f[k] = v
		}
	}
	return f
}

func keysOf(t *testing.T, info map[string]string, db int) int64 {
	t.Helper()
	v, ok := info["db"+strconv.Itoa(db)]
	if !ok {
		return 0
	}
	for _, part := range strings.Split(v, ",") {
		if n, ok := strings.CutPrefix(part, "keys="); ok {
			k, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}
	}
	t.Fatalf("no keys= in %q", v)
	return 0
}

func TestStatusAndFlushOnThrowawayRedis(t *testing.T) {
	c, url := dockertest.StartRedis(t, 2)
	addr := c.Addr("6379")
	seed(t, addr, 2, 30) // the operated database
	seed(t, addr, 0, 7)  // someone else's, same instance
	seed(t, addr, 5, 3)
	cache, err := redis.Open(url)
	if err != nil {
		t.Fatal(err)
	}
	defer cache.Close()
	ctx := func() context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		t.Cleanup(cancel)
		return ctx
	}

	// Differential: redis-cli info, before and after ours.
	before := redisInfo(t, c)
	s, err := cache.Status(ctx())
	if err != nil {
		t.Fatal(err)
	}
	after := redisInfo(t, c)
	if s.DB != 2 || s.Keys != 30 || keysOf(t, before, 2) != 30 {
		t.Fatalf("Status db %d keys %d; redis-cli: db2 %d", s.DB, s.Keys, keysOf(t, before, 2))
	}
	for _, db := range []int{0, 2, 5} {
		if s.AllKeys[db] != keysOf(t, before, db) {
			t.Fatalf("db%d: ours %d, redis-cli %d", db, s.AllKeys[db], keysOf(t, before, db))
		}
	}
	if strconv.FormatInt(s.Memory.Max, 10) != before["maxmemory"] || s.Memory.Policy != before["maxmemory_policy"] ||
		s.Version != before["redis_version"] {
		t.Fatalf("Status %+v; redis-cli maxmemory %s %s, version %s", s, before["maxmemory"], before["maxmemory_policy"], before["redis_version"])
	}
	// used_memory moves by itself: client buffers, our own connection.
	// Ours must lie within what redis-cli saw just before and after, give
	// or take one connection's buffers.
	lo, _ := strconv.ParseInt(before["used_memory"], 10, 64)
	hi, _ := strconv.ParseInt(after["used_memory"], 10, 64)
	lo, hi = min(lo, hi), max(lo, hi)
	const oneConnection = 64 << 10
	if s.Memory.Used < lo-oneConnection || s.Memory.Used > hi+oneConnection {
		t.Fatalf("used_memory ours %d, redis-cli %d then %d", s.Memory.Used, lo, hi)
	}

	// FLUSHDB empties the operated database only.
	f, err := cache.FlushDB(ctx())
	if err != nil {
		t.Fatal(err)
	}
	info := redisInfo(t, c)
	if f.DB != 2 || f.Before != 30 || f.After != 0 || keysOf(t, info, 2) != 0 || keysOf(t, info, 0) != 7 || keysOf(t, info, 5) != 3 {
		t.Fatalf("FlushDB = %+v; redis-cli db0 %d db2 %d db5 %d", f, keysOf(t, info, 0), keysOf(t, info, 2), keysOf(t, info, 5))
	}

	// FLUSHALL, the runbook's literal command, empties every database.
	seed(t, addr, 2, 4)
	f, err = cache.FlushAll(ctx())
	if err != nil {
		t.Fatal(err)
	}
	info = redisInfo(t, c)
	if f.DB != -1 || f.Before != 14 || f.After != 0 || keysOf(t, info, 0)+keysOf(t, info, 2)+keysOf(t, info, 5) != 0 {
		t.Fatalf("FlushAll = %+v; redis-cli %v", f, info)
	}
}
