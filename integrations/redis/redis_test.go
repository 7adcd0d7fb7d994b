package redis_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/shiftwise/shiftwise-bot/integrations/redis"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// The only timing in these tests are hang guards: a call that should end
// by its context's deadline must not still be running this much later.
// hangGuard is generous; socketGuard is shorter than the 3 s socket
// timeout that Open sets, so a call that waited for it, ignoring its
// context as go-redis does without ContextTimeoutEnabled, fails.
const (
	hangGuard   = 15 * time.Second
	socketGuard = 2 * time.Second
)

// forEachShared runs f against the shared Redis servers, which the tests
// only read: the demo stack's (the operated cache) and the host's.
func forEachShared(t *testing.T, f func(t *testing.T, redisURL string)) {
	t.Run("operated", func(t *testing.T) { f(t, serving(t, "demo redis", testenv.TargetRedis(t))) })
	t.Run("host", func(t *testing.T) { f(t, serving(t, "host redis", testenv.BotRedis(t))) })
}

// serving waits (bounded) until the server at url answers PING: a
// container's published port accepts TCP before the server in it is up.
func serving(t *testing.T, what, url string) string {
	t.Helper()
	opt, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatalf("bad test URL for %s: %v", what, err)
	}
	c := goredis.NewClient(opt)
	defer c.Close()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := c.Ping(ctx).Err()
		cancel()
		if err == nil {
			return url
		}
		if time.Now().After(deadline) {
			testenv.Missing(t, what, err)
			return url
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func open(t *testing.T, redisURL string) *redis.Cache {
	t.Helper()
	c, err := redis.Open(redisURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// ownServer starts a throwaway redis-server on a unix socket of the test's
// own, so that its configuration can change without touching shared ones.
// It returns the URL of the socket and a plain client for the test.
func ownServer(t *testing.T, args ...string) (string, *goredis.Client) {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		testenv.Missing(t, "redis-server in PATH", err)
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "redis.sock")
	cmd := exec.Command(bin, append([]string{
		"--port", "0", "--unixsocket", sock, "--unixsocketperm", "700",
		"--save", "", "--appendonly", "no", "--dir", dir,
	}, args...)...)
	out := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start redis-server: %v", err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Wait (bounded) for the socket to answer.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server did not open %s: %s", sock, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	url := "unix://" + sock
	admin := goredis.NewClient(&goredis.Options{Network: "unix", Addr: sock})
	t.Cleanup(func() { admin.Close() })
	return url, admin
}

func TestPingShared(t *testing.T) {
	forEachShared(t, func(t *testing.T, url string) {
		c := open(t, url)
		d, err := c.Ping(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if d <= 0 {
			t.Fatalf("Ping took %v, want a positive round trip", d)
		}
	})
}

func TestMemoryShared(t *testing.T) {
	forEachShared(t, func(t *testing.T, url string) {
		m, err := open(t, url).Memory(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatalf("Memory: %v", err)
		}
		opt, err := goredis.ParseURL(url)
		if err != nil {
			t.Fatal(err)
		}
		admin := goredis.NewClient(opt)
		defer admin.Close()
		cfg, err := admin.ConfigGet(context.Background(), "maxmemory*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(m.Max) != cfg["maxmemory"] || m.Policy != cfg["maxmemory-policy"] {
			t.Fatalf("Memory = %+v, CONFIG GET says maxmemory %s policy %s",
				m, cfg["maxmemory"], cfg["maxmemory-policy"])
		}
		if m.Used <= 0 {
			t.Fatalf("Used = %d", m.Used)
		}
	})
}

func TestMemoryFollowsConfigAndData(t *testing.T) {
	url, admin := ownServer(t)
	ctx := ctxTimeout(t, 30*time.Second)
	if err := admin.ConfigSet(ctx, "maxmemory", "32mb").Err(); err != nil {
		t.Fatal(err)
	}
	if err := admin.ConfigSet(ctx, "maxmemory-policy", "allkeys-lru").Err(); err != nil {
		t.Fatal(err)
	}
	c := open(t, url)
	before, err := c.Memory(ctx)
	if err != nil {
		t.Fatalf("Memory: %v", err)
	}
	if before.Max != 32<<20 || before.Policy != "allkeys-lru" {
		t.Fatalf("Memory = %+v, want Max 32 MiB, allkeys-lru", before)
	}
	if before.Used <= 0 || before.Used >= before.Max {
		t.Fatalf("Used = %d, want 0 < Used < Max", before.Used)
	}

	const size = 4 << 20
	if err := admin.Set(ctx, "shiftwise-test:blob", strings.Repeat("x", size), 0).Err(); err != nil {
		t.Fatal(err)
	}
	after, err := c.Memory(ctx)
	if err != nil {
		t.Fatalf("Memory: %v", err)
	}
	if after.Used-before.Used < size {
		t.Fatalf("Used grew by %d after storing %d bytes", after.Used-before.Used, size)
	}

	if err := admin.ConfigSet(ctx, "maxmemory", "0").Err(); err != nil {
		t.Fatal(err)
	}
	unlimited, err := c.Memory(ctx)
	if err != nil {
		t.Fatalf("Memory: %v", err)
	}
	if unlimited.Max != 0 {
		t.Fatalf("Max = %d after maxmemory 0, want 0 (no limit)", unlimited.Max)
	}
}

func TestPingWrongPassword(t *testing.T) {
	url, _ := ownServer(t, "--requirepass", "right-pass")
	const secret = "Wr0ng-s3cret"
	c := open(t, strings.Replace(url, "unix://", "unix://:"+secret+"@", 1))
	_, err := testenv.Within(t, "Ping", hangGuard, func() (time.Duration, error) {
		return c.Ping(ctxTimeout(t, 10*time.Second))
	})
	if err == nil || !strings.Contains(err.Error(), "WRONGPASS") {
		t.Fatalf("Ping with a wrong password = %v, want WRONGPASS", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatalf("error shows the password: %v", err)
	}
	if _, err := open(t, strings.Replace(url, "unix://", "unix://:right-pass@", 1)).Ping(ctxTimeout(t, 10*time.Second)); err != nil {
		t.Fatalf("Ping with the right password: %v", err)
	}
}

func TestRefusedPort(t *testing.T) {
	c := open(t, "redis://:pw@"+testenv.RefusedAddr(t)+"/0")
	_, err := testenv.Within(t, "Ping", hangGuard, func() (time.Duration, error) {
		return c.Ping(ctxTimeout(t, 10*time.Second))
	})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Ping on a closed port = %v, want connection refused", err)
	}
	_, err = testenv.Within(t, "Memory", hangGuard, func() (redis.Memory, error) {
		return c.Memory(ctxTimeout(t, 10*time.Second))
	})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Memory on a closed port = %v, want connection refused", err)
	}
}

// A server that accepts TCP and never answers: the call ends with the
// caller's deadline, although go-redis' own read timeout is longer and it
// would retry.
func TestSilentServerEndsByDeadline(t *testing.T) {
	s := testenv.NewSilent(t)
	c := open(t, "redis://"+s.Addr+"/0")

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := testenv.Within(t, "Ping", socketGuard, func() (time.Duration, error) { return c.Ping(ctx) })
	if err == nil {
		t.Fatal("Ping on a silent server succeeded")
	}
	if ctx.Err() == nil {
		t.Fatalf("Ping gave up before the deadline: %v", err)
	}
	if !isTimeout(err) {
		t.Fatalf("Ping error = %v, want a timeout", err)
	}

	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	_, err = testenv.Within(t, "Memory", socketGuard, func() (redis.Memory, error) { return c.Memory(ctx2) })
	if err == nil || !isTimeout(err) {
		t.Fatalf("Memory error = %v, want a timeout", err)
	}
	if s.Accepted() < 1 {
		t.Fatal("the silent server was never reached")
	}
	// With ContextTimeoutEnabled the deadline is the socket's too: the
	// abandoned read ends with it, not seconds later.
	select {
	case <-s.HungUp():
	case <-time.After(socketGuard):
		t.Fatalf("the client still holds its socket to the silent server %v after the deadline", socketGuard)
	}
}

// go-redis watches a context's deadline, not its cancellation: Cache must.
func TestSilentServerEndsOnCancel(t *testing.T) {
	s := testenv.NewSilent(t)
	c := open(t, "redis://"+s.Addr+"/0")
	for _, deadline := range []bool{false, true} {
		ctx, cancel := context.Background(), context.CancelFunc(func() {})
		if deadline {
			ctx, cancel = context.WithTimeout(ctx, time.Minute)
		}
		ctx, cancel2 := context.WithCancel(ctx)
		stop := time.AfterFunc(100*time.Millisecond, cancel2)
		_, err := testenv.Within(t, "Ping", socketGuard, func() (time.Duration, error) { return c.Ping(ctx) })
		stop.Stop()
		cancel()
		cancel2()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Ping (deadline %v) canceled = %v, want context canceled", deadline, err)
		}
	}
	if s.Accepted() < 1 {
		t.Fatal("the silent server was never reached")
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout()
}

func TestOpenMalformedURLHidesPassword(t *testing.T) {
	const secret = "S3cr3tPw"
	for _, raw := range []string{
		"redis://:" + secret + "@127.0.0.1:notaport/0",
		"redis://user:" + secret + "@127.0.0.1:6379/notadb",
		"redis://:" + secret + "@127.0.0.1:6379/0?dial_timeout=soon",
		"redis://:" + secret + "/x@127.0.0.1:6379/0",
		"redis://:" + secret + "%zz@127.0.0.1:6379/0",
		"http://:" + secret + "@127.0.0.1:6379/0",
	} {
		c, err := redis.Open(raw)
		if err == nil {
			c.Close()
			t.Errorf("Open(%q) succeeded, want a parse error", raw)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}

func TestOpenDoesNotConnect(t *testing.T) {
	s := testenv.NewSilent(t)
	c, err := redis.Open("redis://" + s.Addr + "/0")
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if n := s.Accepted(); n != 0 {
		t.Fatalf("Open made %d connections, want none", n)
	}
}
