package redis

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// This file holds the runbook's "Redis Cache Issues": a status for
// `cache status` and the flushes of `cache flush`.

// Status is what `cache status` shows.
type Status struct {
	Pong    time.Duration // how long PING took
	Version string        // redis_version
	Memory  Memory
	DB      int           // the operated database index (the URL's /N)
	Keys    int64         // DBSIZE of the operated database
	AllKeys map[int]int64 // keys per database, INFO keyspace
	Uptime  time.Duration // uptime_in_seconds
	Clients int64         // connected_clients
}

// DB returns the database index the cache operates on.
func (c *Cache) DB() int { return c.client.Options().DB }

// Status pings the server and reads INFO (server, clients, memory,
// keyspace) and DBSIZE of the operated database.
func (c *Cache) Status(ctx context.Context) (Status, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	pong, err := c.Ping(ctx)
	if err != nil {
		return Status{}, err
	}
	s := Status{Pong: pong, DB: c.DB()}
	text, err := call(ctx, func(ctx context.Context) (string, error) {
		return c.client.Info(ctx, "server", "clients", "memory", "keyspace").Result()
	})
	if err != nil {
		return Status{}, fmt.Errorf("read redis info: %w", err)
	}
	var hasMax bool
	if s.Memory, hasMax, err = parseInfoMemory(text); err != nil {
		return Status{}, fmt.Errorf("read redis info: %w", err)
	}
	if !hasMax {
		if s.Memory, err = c.Memory(ctx); err != nil {
			return Status{}, err
		}
	}
	f := infoFields(text)
	s.Version = f["redis_version"]
	if n, err := strconv.ParseInt(f["uptime_in_seconds"], 10, 64); err == nil {
		s.Uptime = time.Duration(n) * time.Second
	}
	s.Clients, _ = strconv.ParseInt(f["connected_clients"], 10, 64)
	if s.AllKeys, err = parseKeyspace(text); err != nil {
		return Status{}, fmt.Errorf("read redis info: %w", err)
	}
	if s.Keys, err = c.DBSize(ctx); err != nil {
		return Status{}, err
	}
	return s, nil
}

// DBSize returns the number of keys in the operated database.
func (c *Cache) DBSize(ctx context.Context) (int64, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	n, err := call(ctx, func(ctx context.Context) (int64, error) { return c.client.DBSize(ctx).Result() })
	if err != nil {
		return 0, fmt.Errorf("count redis keys (DBSIZE of db %d): %w", c.DB(), err)
	}
	return n, nil
}

// Keyspace returns the keys of every database of the instance (INFO
// keyspace), databases without keys left out.
func (c *Cache) Keyspace(ctx context.Context) (map[int]int64, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	text, err := call(ctx, func(ctx context.Context) (string, error) { return c.client.Info(ctx, "keyspace").Result() })
	if err != nil {
		return nil, fmt.Errorf("read redis keyspace: %w", err)
	}
	ks, err := parseKeyspace(text)
	if err != nil {
		return nil, fmt.Errorf("read redis keyspace: %w", err)
	}
	return ks, nil
}

// Flushed says what a flush removed.
type Flushed struct {
	DB     int   // the database flushed; -1 for FLUSHALL
	Before int64 // keys before
	After  int64 // keys after (other clients may write meanwhile)
}

// FlushDB empties the operated database only (FLUSHDB), never the other
// databases of the instance, and counts its keys before and after.
func (c *Cache) FlushDB(ctx context.Context) (Flushed, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	f := Flushed{DB: c.DB()}
	var err error
	if f.Before, err = c.DBSize(ctx); err != nil {
		return f, err
	}
	// One connection for FLUSHDB: the pool's connections all SELECT the
	// URL's database, so FLUSHDB flushes that one.
	if _, err := call(ctx, func(ctx context.Context) (string, error) { return c.client.FlushDB(ctx).Result() }); err != nil {
		return f, fmt.Errorf("flush redis db %d: %w", f.DB, err)
	}
	if f.After, err = c.DBSize(ctx); err != nil {
		return f, err
	}
	return f, nil
}

// FlushAll empties every database of the instance (FLUSHALL), the
// runbook's literal command. Before and After count all databases' keys.
func (c *Cache) FlushAll(ctx context.Context) (Flushed, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	f := Flushed{DB: -1}
	ks, err := c.Keyspace(ctx)
	if err != nil {
		return f, err
	}
	for _, n := range ks {
		f.Before += n
	}
	if _, err := call(ctx, func(ctx context.Context) (string, error) { return c.client.FlushAll(ctx).Result() }); err != nil {
		return f, fmt.Errorf("flush every redis database: %w", err)
	}
	if ks, err = c.Keyspace(ctx); err != nil {
		return f, err
	}
	for _, n := range ks {
		f.After += n
	}
	return f, nil
}

func infoFields(text string) map[string]string {
	fields := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			fields[k] = v
		}
	}
	return fields
}

// parseKeyspace reads INFO keyspace lines "db0:keys=3,expires=0,avg_ttl=0".
func parseKeyspace(text string) (map[int]int64, error) {
	out := map[int]int64{}
	for k, v := range infoFields(text) {
		n, ok := strings.CutPrefix(k, "db")
		if !ok {
			continue
		}
		db, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		for _, part := range strings.Split(v, ",") {
			if kv, ok := strings.CutPrefix(part, "keys="); ok {
				keys, err := strconv.ParseInt(kv, 10, 64)
				if err != nil {
					return nil, fmt.Errorf("keyspace %s: %q: %w", k, v, err)
				}
				out[db] = keys
			}
		}
	}
	return out, nil
}

// SortedDBs returns the database indexes of a keyspace in order.
func SortedDBs(ks map[int]int64) []int {
	dbs := make([]int, 0, len(ks))
	for db := range ks {
		dbs = append(dbs, db)
	}
	sort.Ints(dbs)
	return dbs
}
