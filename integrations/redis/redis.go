// Package redis reads the health of the operated ShiftWise Redis cache: the
// runbook's "Redis Cache Issues" diagnosis (redis-cli ping, info memory,
// config get maxmemory).
//
// It is the package that imports go-redis for the operated cache; callers
// see only the types declared here. Every call returns when its context
// ends, by deadline or cancellation, and has a default deadline when the
// context has none.
package redis

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

const (
	clientName = "shiftwise-bot"
	// A diagnosis wants an answer, not persistence: one retry, one dial
	// attempt per try, and short socket timeouts for callers whose context
	// has no deadline. go-redis' defaults (3 command retries × 5 dial
	// attempts, 5 s timeouts) turn one dead server into tens of seconds.
	maxRetries     = 1
	dialRetries    = 1
	dialTimeout    = 3 * time.Second
	ioTimeout      = 3 * time.Second
	poolSize       = 4
	defaultTimeout = 10 * time.Second
)

// Cache is the operated Redis.
type Cache struct {
	client *goredis.Client
}

// Open prepares a client for url (redis://[user:password@]host:port/db,
// rediss:// or unix://) without connecting. A malformed url is reported
// with its password masked.
func Open(url string) (*Cache, error) {
	opt, err := goredis.ParseURL(url)
	if err != nil {
		// net/url's errors quote the URL, password included, and may
		// quote a piece of it ("invalid port"): explain the error of the
		// redacted URL instead, which has no secret to show.
		return nil, redact.ParseError("redis", url, func(s string) error {
			_, err := goredis.ParseURL(s)
			return err
		})
	}
	opt.ClientName = clientName
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = maxRetries
	opt.DialerRetries = dialRetries
	if opt.DialTimeout == 0 || opt.DialTimeout > dialTimeout {
		opt.DialTimeout = dialTimeout
	}
	if opt.ReadTimeout == 0 || opt.ReadTimeout > ioTimeout {
		opt.ReadTimeout = ioTimeout
	}
	if opt.WriteTimeout == 0 || opt.WriteTimeout > ioTimeout {
		opt.WriteTimeout = ioTimeout
	}
	opt.PoolSize = poolSize
	// Redis Enterprise maintenance push notifications are of no use to a
	// diagnosis, and "auto" logs on servers that do not know the command.
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &Cache{client: goredis.NewClient(opt)}, nil
}

// Close closes the client's connections.
func (c *Cache) Close() error { return c.client.Close() }

// Ping sends PING and returns how long the answer took.
func (c *Cache) Ping(ctx context.Context) (time.Duration, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	start := time.Now()
	if _, err := call(ctx, func(ctx context.Context) (string, error) {
		return c.client.Ping(ctx).Result()
	}); err != nil {
		return 0, fmt.Errorf("ping redis: %w", err)
	}
	return time.Since(start), nil
}

// Memory is the cache's memory use and limit.
type Memory struct {
	Used   int64  // used_memory, bytes
	Max    int64  // maxmemory, bytes; 0 means no limit
	Policy string // maxmemory_policy, e.g. "allkeys-lru", "noeviction"
}

// Memory reads INFO memory. Servers whose INFO lacks maxmemory (before
// Redis 4) are asked with CONFIG GET instead.
func (c *Cache) Memory(ctx context.Context) (Memory, error) {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	text, err := call(ctx, func(ctx context.Context) (string, error) {
		return c.client.Info(ctx, "memory").Result()
	})
	if err != nil {
		return Memory{}, fmt.Errorf("read redis memory info: %w", err)
	}
	m, hasMax, err := parseInfoMemory(text)
	if err != nil {
		return Memory{}, fmt.Errorf("read redis memory info: %w", err)
	}
	if hasMax {
		return m, nil
	}
	cfg, err := call(ctx, func(ctx context.Context) (map[string]string, error) {
		return c.client.ConfigGet(ctx, "maxmemory*").Result()
	})
	if err != nil {
		return Memory{}, fmt.Errorf("read redis maxmemory: %w", err)
	}
	if m.Max, err = strconv.ParseInt(cfg["maxmemory"], 10, 64); err != nil {
		return Memory{}, fmt.Errorf("read redis maxmemory: %q: %w", cfg["maxmemory"], err)
	}
	m.Policy = cfg["maxmemory-policy"]
	return m, nil
}

// parseInfoMemory reads the fields of INFO memory that Memory reports.
// hasMax tells whether the text carried maxmemory and maxmemory_policy.
func parseInfoMemory(text string) (m Memory, hasMax bool, err error) {
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
	used, ok := fields["used_memory"]
	if !ok {
		return Memory{}, false, fmt.Errorf("no used_memory in INFO memory")
	}
	if m.Used, err = strconv.ParseInt(used, 10, 64); err != nil {
		return Memory{}, false, fmt.Errorf("used_memory %q: %w", used, err)
	}
	maxMem, okMax := fields["maxmemory"]
	policy, okPolicy := fields["maxmemory_policy"]
	if !okMax || !okPolicy {
		return m, false, nil
	}
	if m.Max, err = strconv.ParseInt(maxMem, 10, 64); err != nil {
		return Memory{}, false, fmt.Errorf("maxmemory %q: %w", maxMem, err)
	}
	m.Policy = policy
	return m, true, nil
}

// call runs one go-redis command and returns when it is done or when ctx
// is. go-redis (ContextTimeoutEnabled) turns a context's deadline into the
// socket's, but does not watch for cancellation: a canceled call would wait
// for the answer or the deadline. The abandoned command ends by itself at
// that deadline, which withDefaultTimeout guarantees.
func call[T any](ctx context.Context, f func(context.Context) (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f(ctx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, defaultTimeout)
}

// printfLogger adapts a printf function to go-redis's logging interface.
type printfLogger func(format string, v ...any)

func (f printfLogger) Printf(_ context.Context, format string, v ...any) { f(format, v...) }

// SetLogger routes go-redis's own messages (dial failures, pool notices),
// which it otherwise prints to stderr, through logf. It is process-wide,
// as go-redis's logger is; main calls it once.
func SetLogger(logf func(format string, v ...any)) {
	goredis.SetLogger(printfLogger(logf))
}
