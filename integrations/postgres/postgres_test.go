package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgproto3"

	"github.com/shiftwise/shiftwise-bot/integrations/postgres"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// hangGuard is the only timing in these tests: a call that should end by
// its context's deadline must not still be running this much later.
const hangGuard = 15 * time.Second

// forEachServer runs f against each real PostgreSQL the tests know: the
// demo stack's (the operated database, superuser) and the host's (a plain
// role). A missing one skips its subtest locally and fails it under CI.
func forEachServer(t *testing.T, f func(t *testing.T, dbURL string)) {
	t.Run("operated", func(t *testing.T) { f(t, serving(t, "demo postgres", testenv.TargetDB(t))) })
	t.Run("host", func(t *testing.T) { f(t, serving(t, "host postgres", testenv.BotDB(t))) })
}

// serving waits (bounded) until the server at dbURL lets us log in: a
// container's published port accepts TCP before PostgreSQL in it is up,
// and the demo stack's database may just be restarting.
func serving(t *testing.T, what, dbURL string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err := pgx.Connect(ctx, dbURL)
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		cancel()
		if err == nil {
			return dbURL
		}
		if time.Now().After(deadline) {
			testenv.Missing(t, what, err)
			return dbURL
		}
		time.Sleep(500 * time.Millisecond)
	}
}

func open(t *testing.T, dbURL string) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(db.Close)
	return db
}

func connect(t *testing.T, dbURL string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, dbURL)
	if err != nil {
		t.Fatalf("connect for the test: %v", err)
	}
	t.Cleanup(func() { c.Close(context.Background()) })
	return c
}

func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// within runs f and fails the test if it is still running after hangGuard.
func within[T any](t *testing.T, what string, f func() (T, error)) (T, error) {
	t.Helper()
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		v, err := f()
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-time.After(hangGuard):
		t.Fatalf("%s still running after %v: it hangs", what, hangGuard)
		panic("unreachable")
	}
}

func TestReadyLiveServer(t *testing.T) {
	forEachServer(t, func(t *testing.T, dbURL string) {
		db := open(t, dbURL)
		r, err := db.Ready(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatalf("Ready: %v", err)
		}
		if !r.Accepting || r.Reason != "" {
			t.Fatalf("Ready = %+v, want accepting without a reason", r)
		}
		var want string
		if err := connect(t, dbURL).QueryRow(context.Background(), "SHOW server_version").Scan(&want); err != nil {
			t.Fatal(err)
		}
		if r.Version != want || !regexp.MustCompile(`^\d+\.\d+`).MatchString(r.Version) {
			t.Fatalf("Version = %q, want %q (SHOW server_version)", r.Version, want)
		}
	})
}

func TestReadyNamesTheBotInPgStatActivity(t *testing.T) {
	forEachServer(t, func(t *testing.T, dbURL string) {
		db := open(t, dbURL)
		// Connections goes through the pool; its session must carry our name.
		if _, err := db.Connections(ctxTimeout(t, 10*time.Second)); err != nil {
			t.Fatalf("Connections: %v", err)
		}
		var n int
		err := connect(t, dbURL).QueryRow(context.Background(),
			`SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND usename = current_user`,
			"shiftwise-bot").Scan(&n)
		if err != nil {
			t.Fatal(err)
		}
		if n < 1 {
			t.Fatalf("no session with application_name shiftwise-bot while the pool holds one")
		}
	})
}

func TestReadyRefusedPort(t *testing.T) {
	port := closedPort(t)
	db := open(t, fmt.Sprintf("postgres://shiftwise:pw@127.0.0.1:%d/shiftwise?sslmode=disable", port))
	r, err := within(t, "Ready", func() (postgres.Readiness, error) {
		return db.Ready(ctxTimeout(t, 10*time.Second))
	})
	if err == nil {
		t.Fatalf("Ready on a closed port = %+v, want an error", r)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Ready error = %v, want connection refused (not a timeout)", err)
	}
	if r.Accepting {
		t.Fatalf("Accepting on a closed port")
	}
	if _, err := db.Connections(ctxTimeout(t, 10*time.Second)); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Connections error = %v, want connection refused", err)
	}
}

// A server that accepts TCP and never says a word: every call must end
// with the caller's deadline, with sslmode=disable (StartupMessage waits)
// and with the default sslmode=prefer (SSLRequest waits).
func TestSilentServerEndsByDeadline(t *testing.T) {
	for _, mode := range []string{"?sslmode=disable", ""} {
		t.Run("sslmode="+strings.TrimPrefix(mode, "?sslmode="), func(t *testing.T) {
			addr, accepted, _ := silentServer(t)
			db := open(t, "postgres://shiftwise:pw@"+addr+"/shiftwise"+mode)

			r, err := within(t, "Ready", func() (postgres.Readiness, error) {
				return db.Ready(ctxTimeout(t, 300*time.Millisecond))
			})
			if !errors.Is(err, context.DeadlineExceeded) || r.Accepting {
				t.Fatalf("Ready = %+v, %v; want not accepting, context deadline exceeded", r, err)
			}
			_, err = within(t, "Connections", func() (postgres.Connections, error) {
				return db.Connections(ctxTimeout(t, 300*time.Millisecond))
			})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Connections error = %v, want context deadline exceeded", err)
			}
			if n := accepted(); n < 2 {
				t.Fatalf("silent server accepted %d connections, want both calls to have reached it", n)
			}
		})
	}
}

// pgxpool dials on its own context, so the caller's deadline ends the
// call but not the dial, which would hold a pool slot and a socket to the
// silent server until the pool closes. Open's connect timeout ends it.
func TestPoolAbandonsDialToSilentServer(t *testing.T) {
	t.Parallel()
	addr, accepted, hungUp := silentServer(t)
	db := open(t, "postgres://shiftwise:pw@"+addr+"/shiftwise?sslmode=disable")
	if _, err := db.Connections(ctxTimeout(t, 300*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connections error = %v, want context deadline exceeded", err)
	}
	if accepted() != 1 {
		t.Fatalf("silent server accepted %d connections, want 1", accepted())
	}
	select {
	case <-hungUp: // the pool gave the dial up while still open
	case <-time.After(hangGuard):
		t.Fatalf("the pool still holds its connection to a silent server after %v", hangGuard)
	}
}

// Log-in refusals mean the server is up. A role that does not exist is
// refused whatever pg_hba says (28P01 with a password method, 28000 with
// trust), so this holds on every server.
func TestReadyAuthFailureIsDistinct(t *testing.T) {
	forEachServer(t, func(t *testing.T, dbURL string) {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		const secret = "Wr0ng-s3cret-pw"
		u.User = url.UserPassword(fmt.Sprintf("no_such_role_%d", time.Now().UnixNano()), secret)
		db := open(t, u.String())

		r, err := db.Ready(ctxTimeout(t, 10*time.Second))
		if !errors.Is(err, postgres.ErrAuth) {
			t.Fatalf("Ready error = %v, want ErrAuth", err)
		}
		if !r.Accepting || r.Reason == "" {
			t.Fatalf("Ready = %+v, want accepting with the server's reason", r)
		}
		if strings.Contains(err.Error(), secret) {
			t.Fatalf("error shows the password: %v", err)
		}
	})
}

// 57P03 comes from a server that is starting up or shutting down, a state
// the shared servers must not be put in; a server speaking the protocol
// answers exactly what PostgreSQL answers then.
func TestReadyStartingUp(t *testing.T) {
	addr := fakeServer(t, &pgproto3.ErrorResponse{
		Severity: "FATAL", SeverityUnlocalized: "FATAL",
		Code: "57P03", Message: "the database system is starting up",
	})
	db := open(t, "postgres://shiftwise:pw@"+addr+"/shiftwise")
	r, err := within(t, "Ready", func() (postgres.Readiness, error) {
		return db.Ready(ctxTimeout(t, 10*time.Second))
	})
	if err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if r.Accepting || r.Reason != "the database system is starting up" {
		t.Fatalf("Ready = %+v, want not accepting, starting up", r)
	}
}

func TestReadyOtherRefusalIsNotAuth(t *testing.T) {
	forEachServer(t, func(t *testing.T, dbURL string) {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = fmt.Sprintf("/no_such_db_%d", time.Now().UnixNano())
		db := open(t, u.String())
		r, err := db.Ready(ctxTimeout(t, 10*time.Second))
		if err == nil || errors.Is(err, postgres.ErrAuth) {
			t.Fatalf("Ready error = %v, want a non-auth refusal", err)
		}
		if !r.Accepting || !strings.Contains(r.Reason, "does not exist") {
			t.Fatalf("Ready = %+v, want accepting, database does not exist", r)
		}
	})
}

func TestConnectionsCountsSessionsByState(t *testing.T) {
	forEachServer(t, func(t *testing.T, dbURL string) {
		db := open(t, dbURL)
		const state = "idle in transaction (aborted)" // a state no other test leaves sessions in
		before, err := db.Connections(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatalf("Connections: %v", err)
		}

		const n = 3
		for i := 0; i < n; i++ {
			c := connect(t, dbURL)
			if _, err := c.Exec(context.Background(), "BEGIN"); err != nil {
				t.Fatal(err)
			}
			if _, err := c.Exec(context.Background(), "SELECT 1/0"); err == nil {
				t.Fatal("division by zero succeeded")
			}
		}

		after, err := db.Connections(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatalf("Connections: %v", err)
		}
		if got := after.ByState[state] - before.ByState[state]; got < n {
			t.Fatalf("%q grew by %d, want ≥ %d (before %v, after %v)", state, got, n, before.ByState, after.ByState)
		}
		if after.Total < n+1 {
			t.Fatalf("Total = %d, want ≥ %d: our pool connection and %d extra", after.Total, n+1, n)
		}
		sum := 0
		for _, v := range after.ByState {
			sum += v
		}
		if sum != after.Total {
			t.Fatalf("ByState %v sums to %d, Total %d", after.ByState, sum, after.Total)
		}
		var (
			maxConn    string
			privileged bool
		)
		err = connect(t, dbURL).QueryRow(context.Background(), `
			SELECT current_setting('max_connections'),
			       (SELECT rolsuper FROM pg_roles WHERE rolname = current_user)
			       OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')`).Scan(&maxConn, &privileged)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(after.Max) != maxConn {
			t.Fatalf("Max = %d, SHOW max_connections = %s", after.Max, maxConn)
		}
		// The checkpointer and friends always run: a plain role cannot see
		// what they are, a privileged one sees everything.
		if privileged && after.Hidden != 0 || !privileged && after.Hidden == 0 {
			t.Fatalf("Hidden = %d for a role with privileged=%v", after.Hidden, privileged)
		}
	})
}

func TestOpenIsLazy(t *testing.T) {
	port := closedPort(t)
	db, err := postgres.Open(context.Background(), fmt.Sprintf("postgres://u:pw@127.0.0.1:%d/db", port))
	if err != nil {
		t.Fatalf("Open of a down server = %v, want no error until a call", err)
	}
	db.Close()
}

func TestOpenMalformedURLHidesPassword(t *testing.T) {
	const secret = "S3cr3tPw"
	for _, raw := range []string{
		"postgres://shiftwise:" + secret + "@127.0.0.1:notaport/shiftwise",
		"postgres://shiftwise:" + secret + "@127.0.0.1:5432/shiftwise?sslmode=bogus",
		"postgres://shiftwise:" + secret + "/x@127.0.0.1:5432/shiftwise?connect_timeout=x",
		"postgres://shiftwise:" + secret + "@h@127.0.0.1:99999/shiftwise",
		"postgres://shiftwise@127.0.0.1/db?password=" + secret + "&sslmode=bogus",
		"host=127.0.0.1 password=" + secret + " port=notaport",
		"host=127.0.0.1 password='" + secret + " x' sslmode=bogus",
	} {
		db, err := postgres.Open(context.Background(), raw)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded, want a parse error", raw)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("Open error shows the password: %v", err)
		}
	}
}

// closedPort returns a loopback port on which nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

// silentServer accepts connections and never writes a byte. hungUp
// receives once for each connection the client closed.
func silentServer(t *testing.T) (addr string, accepted func() int, hungUp <-chan struct{}) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	closed := make(chan struct{}, 100)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go func() {
				io.Copy(io.Discard, c) // until the client hangs up
				closed <- struct{}{}
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String(), func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(conns)
	}, closed
}

// fakeServer speaks the start of the PostgreSQL protocol: it declines
// SSL, reads the startup message and answers with msg.
func fakeServer(t *testing.T, msg pgproto3.BackendMessage) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(hangGuard))
				be := pgproto3.NewBackend(c, c)
				for {
					m, err := be.ReceiveStartupMessage()
					if err != nil {
						return
					}
					switch m.(type) {
					case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
						if _, err := c.Write([]byte("N")); err != nil {
							return
						}
						continue
					}
					be.Send(msg)
					be.Flush()
					return
				}
			}(c)
		}
	}()
	return l.Addr().String()
}
