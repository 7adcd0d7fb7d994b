package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
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
	})
}

// The version comes with the connection count, from the logged-in pool:
// Ready's probe has no session to ask.
func TestConnectionsCarriesVersion(t *testing.T) {
	forEachServer(t, func(t *testing.T, dbURL string) {
		c, err := open(t, dbURL).Connections(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatalf("Connections: %v", err)
		}
		var want string
		if err := connect(t, dbURL).QueryRow(context.Background(), "SHOW server_version").Scan(&want); err != nil {
			t.Fatal(err)
		}
		if c.Version != want || !regexp.MustCompile(`^\d+\.\d+`).MatchString(c.Version) || !strings.HasPrefix(c.Version, "15.") {
			t.Fatalf("Version = %q, want %q (SHOW server_version) of PostgreSQL 15", c.Version, want)
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
	addr := testenv.RefusedAddr(t)
	// sslmode=prefer (the default) is a TLS attempt and a plain one.
	for _, mode := range []string{"?sslmode=disable", ""} {
		t.Run("sslmode="+strings.TrimPrefix(mode, "?sslmode="), func(t *testing.T) {
			db := open(t, "postgres://shiftwise:pw@"+addr+"/shiftwise"+mode)
			r, err := testenv.Within(t, "Ready", hangGuard, func() (postgres.Readiness, error) {
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
		})
	}
}

// A server that accepts TCP and never says a word: every call must end
// with the caller's deadline, with sslmode=disable (StartupMessage waits)
// and with the default sslmode=prefer (SSLRequest waits).
func TestSilentServerEndsByDeadline(t *testing.T) {
	for _, mode := range []string{"?sslmode=disable", ""} {
		t.Run("sslmode="+strings.TrimPrefix(mode, "?sslmode="), func(t *testing.T) {
			s := testenv.NewSilent(t)
			db := open(t, "postgres://shiftwise:pw@"+s.Addr+"/shiftwise"+mode)

			r, err := testenv.Within(t, "Ready", hangGuard, func() (postgres.Readiness, error) {
				return db.Ready(ctxTimeout(t, 300*time.Millisecond))
			})
			if !errors.Is(err, context.DeadlineExceeded) || r.Accepting {
				t.Fatalf("Ready = %+v, %v; want not accepting, context deadline exceeded", r, err)
			}
			// Ready's own connection is closed, not left to the server.
			select {
			case <-s.HungUp():
			case <-time.After(hangGuard):
				t.Fatalf("Ready left its connection to a silent server open")
			}
			if n := s.Accepted(); n != 1 {
				t.Fatalf("Ready made %d connections to a silent server, want 1 (no fallback once the deadline passed)", n)
			}
			_, err = testenv.Within(t, "Connections", hangGuard, func() (postgres.Connections, error) {
				return db.Connections(ctxTimeout(t, 300*time.Millisecond))
			})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Connections error = %v, want context deadline exceeded", err)
			}
			if n := s.Accepted(); n < 2 {
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
	s := testenv.NewSilent(t)
	db := open(t, "postgres://shiftwise:pw@"+s.Addr+"/shiftwise?sslmode=disable")
	if _, err := db.Connections(ctxTimeout(t, 300*time.Millisecond)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Connections error = %v, want context deadline exceeded", err)
	}
	if n := s.Accepted(); n != 1 {
		t.Fatalf("silent server accepted %d connections, want 1", n)
	}
	select {
	case <-s.HungUp(): // the pool gave the dial up while still open
	case <-time.After(hangGuard):
		t.Fatalf("the pool still holds its connection to a silent server after %v", hangGuard)
	}
}

// Log-in refusals mean the server is up: Ready, which does not log in,
// says accepting (pg_isready's meaning) and Connections, which does, says
// ErrAuth. A role that does not exist is refused whatever pg_hba says
// (28P01 with a password method, 28000 with trust), so this holds on every
// server; so does a wrong password for the role the test uses.
func TestAuthFailureIsReadyButNotConnections(t *testing.T) {
	forEachServer(t, func(t *testing.T, dbURL string) {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		const secret = "Wr0ng-s3cret-pw"
		for _, user := range []string{u.User.Username(), fmt.Sprintf("no_such_role_%d", time.Now().UnixNano())} {
			t.Run("user="+strings.TrimRight(user, "0123456789"), func(t *testing.T) {
				u.User = url.UserPassword(user, secret)
				db := open(t, u.String())

				r, err := db.Ready(ctxTimeout(t, 10*time.Second))
				if err != nil || !r.Accepting {
					t.Fatalf("Ready = %+v, %v; want accepting, no error: Ready does not log in", r, err)
				}

				_, err = db.Connections(ctxTimeout(t, 10*time.Second))
				if !errors.Is(err, postgres.ErrAuth) {
					t.Fatalf("Connections error = %v, want ErrAuth", err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("error shows the password: %v", err)
				}
				if !strings.Contains(err.Error(), "authentication failed") && !strings.Contains(err.Error(), "does not exist") {
					t.Fatalf("Connections error = %v, want the server's reason", err)
				}
			})
		}
	})
}

// Ready never authenticates: a server that asks for SCRAM sees the
// start-up message, then the client hanging up. No password, no
// SASLInitialResponse, not a byte of the secret. And a clean hang-up, as
// pg_isready's, which PostgreSQL does not log: no Terminate (it would log
// "FATAL: expected SASL response") and no reset (the client read the whole
// request, so its close is not an RST, which it would log too).
func TestReadyDoesNotAuthenticate(t *testing.T) {
	const secret = "N0t-f0r-the-pr0be"
	for _, mode := range []string{"disable", "prefer"} {
		t.Run("sslmode="+mode, func(t *testing.T) {
			f := fakeServer(t, &pgproto3.AuthenticationSASL{AuthMechanisms: []string{"SCRAM-SHA-256"}})
			db := open(t, "postgres://probe_user:"+secret+"@"+f.addr+"/probe_db?sslmode="+mode)
			r, err := testenv.Within(t, "Ready", hangGuard, func() (postgres.Readiness, error) {
				return db.Ready(ctxTimeout(t, 10*time.Second))
			})
			if err != nil || !r.Accepting || r.Reason != "" {
				t.Fatalf("Ready = %+v, %v; want accepting, no reason, no error", r, err)
			}
			conns := f.wait(t, 1)
			want := []string{"StartupMessage", "hang-up"}
			if mode == "prefer" {
				// Declined TLS, then plain on the same connection.
				want = []string{"SSLRequest", "StartupMessage", "hang-up"}
			}
			if got := conns[0].messages; strings.Join(got, " ") != strings.Join(want, " ") {
				t.Fatalf("the server saw %v, want %v", got, want)
			}
			params := conns[0].startup
			if params["user"] != "probe_user" || params["database"] != "probe_db" || params["application_name"] != "shiftwise-bot" {
				t.Fatalf("start-up parameters %v, want user, database and application_name shiftwise-bot", params)
			}
			if _, ok := params["password"]; ok || strings.Contains(string(conns[0].raw), secret) {
				t.Fatalf("the password reached the server: %q", conns[0].raw)
			}
		})
	}
}

// 57P03 comes from a server that is starting up or shutting down, a state
// the shared servers must not be put in; a server speaking the protocol
// answers exactly what PostgreSQL answers then.
func TestReadyStartingUp(t *testing.T) {
	addr := fakeServer(t, &pgproto3.ErrorResponse{
		Severity: "FATAL", SeverityUnlocalized: "FATAL",
		Code: "57P03", Message: "the database system is starting up",
	}).addr
	db := open(t, "postgres://shiftwise:pw@"+addr+"/shiftwise")
	r, err := testenv.Within(t, "Ready", hangGuard, func() (postgres.Readiness, error) {
		return db.Ready(ctxTimeout(t, 10*time.Second))
	})
	if err != nil {
		t.Fatalf("Ready: %v", err)
	}
	if r.Accepting || r.Reason != "the database system is starting up" {
		t.Fatalf("Ready = %+v, want not accepting, starting up", r)
	}
}

// A refusal at start-up other than 57P03 means the server is up, and its
// message is the reason: pg_isready says "accepting connections" then. A
// start-up message without a user name is refused so by every server,
// before any authentication.
func TestReadyOtherRefusalIsAccepting(t *testing.T) {
	forEachServer(t, func(t *testing.T, dbURL string) {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		u.User = nil
		q := u.Query()
		q.Set("user", "")
		u.RawQuery = q.Encode()
		db := open(t, u.String())
		r, err := db.Ready(ctxTimeout(t, 10*time.Second))
		if err != nil {
			t.Fatalf("Ready: %v, want no error for a refusal", err)
		}
		if !r.Accepting || !strings.Contains(r.Reason, "no PostgreSQL user name specified") {
			t.Fatalf("Ready = %+v, want accepting, no user name specified", r)
		}
	})
	for _, e := range []*pgproto3.ErrorResponse{
		{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "53300", Message: "sorry, too many clients already"},
		{Severity: "FATAL", SeverityUnlocalized: "FATAL", Code: "28000", Message: `no pg_hba.conf entry for host "127.0.0.1", user "shiftwise", database "shiftwise", no encryption`},
	} {
		t.Run(e.Code, func(t *testing.T) {
			db := open(t, "postgres://shiftwise:pw@"+fakeServer(t, e).addr+"/shiftwise?sslmode=disable")
			r, err := testenv.Within(t, "Ready", hangGuard, func() (postgres.Readiness, error) {
				return db.Ready(ctxTimeout(t, 10*time.Second))
			})
			if err != nil || !r.Accepting || r.Reason != e.Message {
				t.Fatalf("Ready = %+v, %v; want accepting, %q, no error", r, err, e.Message)
			}
		})
	}
}

// A database that does not exist is found out only after logging in: the
// server asks for the password first, so Ready says accepting, as
// pg_isready does, and Connections reports the refusal, which is not ErrAuth.
func TestUnknownDatabaseIsNotAuth(t *testing.T) {
	forEachServer(t, func(t *testing.T, dbURL string) {
		u, err := url.Parse(dbURL)
		if err != nil {
			t.Fatal(err)
		}
		u.Path = fmt.Sprintf("/no_such_db_%d", time.Now().UnixNano())
		db := open(t, u.String())
		if r, err := db.Ready(ctxTimeout(t, 10*time.Second)); err != nil || !r.Accepting {
			t.Fatalf("Ready = %+v, %v; want accepting", r, err)
		}
		_, err = db.Connections(ctxTimeout(t, 10*time.Second))
		if err == nil || errors.Is(err, postgres.ErrAuth) || !strings.Contains(err.Error(), "does not exist") {
			t.Fatalf("Connections error = %v, want a non-auth refusal: database does not exist", err)
		}
	})
}

// sslmode as libpq has it: require needs the server's "S"; prefer goes on
// in plain text after "N" on the same connection. The host's PostgreSQL
// has ssl=on (Debian's snakeoil certificate), the demo stack's ssl=off.
func TestReadySSLModes(t *testing.T) {
	t.Run("fake without TLS", func(t *testing.T) {
		f := fakeServer(t, &pgproto3.AuthenticationMD5Password{Salt: [4]byte{1, 2, 3, 4}})
		db := open(t, "postgres://shiftwise:pw@"+f.addr+"/shiftwise?sslmode=require")
		r, err := testenv.Within(t, "Ready", hangGuard, func() (postgres.Readiness, error) {
			return db.Ready(ctxTimeout(t, 10*time.Second))
		})
		if err == nil || r.Accepting || !strings.Contains(err.Error(), "does not support SSL") {
			t.Fatalf("Ready with sslmode=require against a server without TLS = %+v, %v; want an error", r, err)
		}
		if conns := f.wait(t, 1); strings.Join(conns[0].messages, " ") != "SSLRequest hang-up" {
			t.Fatalf("the server saw %v, want SSLRequest, then the client hanging up", conns[0].messages)
		}
	})
	for _, c := range []struct {
		name, url string
		mode      string
		ok        bool
	}{
		{"host", testenv.BotDB(t), "require", true},
		{"host", testenv.BotDB(t), "prefer", true},
		{"host", testenv.BotDB(t), "verify-full", false}, // snakeoil is self-signed
		{"operated", testenv.TargetDB(t), "prefer", true},
		{"operated", testenv.TargetDB(t), "require", false},
	} {
		t.Run(c.name+"/sslmode="+c.mode, func(t *testing.T) {
			u, err := url.Parse(c.url)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			q.Set("sslmode", c.mode)
			u.RawQuery = q.Encode()
			r, err := open(t, u.String()).Ready(ctxTimeout(t, 10*time.Second))
			if c.ok && (err != nil || !r.Accepting) {
				t.Fatalf("Ready = %+v, %v; want accepting", r, err)
			}
			if !c.ok && (err == nil || r.Accepting) {
				t.Fatalf("Ready = %+v, %v; want an error", r, err)
			}
		})
	}
}

// Unix-socket hosts are dialled as pgconn dials them: DIR/.s.PGSQL.PORT.
func TestReadyUnixSocket(t *testing.T) {
	dir, err := os.MkdirTemp("", "pgsock") // short: socket paths are limited to ~100 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	f := fakeServerOn(t, "unix", filepath.Join(dir, ".s.PGSQL.5433"), &pgproto3.AuthenticationOk{})
	db := open(t, "postgres://shiftwise@/shiftwise?host="+url.QueryEscape(dir)+"&port=5433")
	r, err := testenv.Within(t, "Ready", hangGuard, func() (postgres.Readiness, error) {
		return db.Ready(ctxTimeout(t, 10*time.Second))
	})
	if err != nil || !r.Accepting {
		t.Fatalf("Ready over a unix socket = %+v, %v; want accepting", r, err)
	}
	// No SSLRequest on a unix socket, whatever the sslmode (libpq's rule).
	if conns := f.wait(t, 1); conns[0].messages[0] != "StartupMessage" {
		t.Fatalf("the server saw %v, want the start-up message first", conns[0].messages)
	}

	// The host's PostgreSQL listens on Debian's socket directory too.
	const debianSockets = "/var/run/postgresql"
	if _, err := os.Stat(filepath.Join(debianSockets, ".s.PGSQL.5432")); err != nil {
		t.Skipf("no local PostgreSQL socket: %v", err)
	}
	db = open(t, "postgres://shiftwise_test@/shiftwise_test?host="+url.QueryEscape(debianSockets))
	if r, err := db.Ready(ctxTimeout(t, 10*time.Second)); err != nil || !r.Accepting {
		// Peer authentication refuses a stranger at once: accepting, with
		// that reason; a trusted user gets AuthenticationOk.
		t.Fatalf("Ready over %s = %+v, %v; want accepting", debianSockets, r, err)
	}
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
			// The demo stack's PostgreSQL logs to the container log, where
			// health counts error lines: keep this session's deliberate
			// error out of it (superuser only; the host server's role is
			// not one, and its log is not counted anywhere).
			_, _ = c.Exec(context.Background(), "SET log_min_messages = fatal")
			_, _ = c.Exec(context.Background(), "SET log_min_error_statement = panic")
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
	db, err := postgres.Open(context.Background(), "postgres://u:pw@"+testenv.RefusedAddr(t)+"/db")
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

// fakeConn is what a fake server saw from one client connection.
type fakeConn struct {
	messages []string          // the client's messages by type, then "hang-up" if it closed
	startup  map[string]string // the start-up message's parameters
	raw      []byte            // every byte the client sent
}

type fake struct {
	addr  string
	mu    sync.Mutex
	conns []*fakeConn
	done  chan struct{} // once per connection, when it is over
}

// wait returns what the first n connections saw, once they are over.
func (f *fake) wait(t *testing.T, n int) []*fakeConn {
	t.Helper()
	for i := 0; i < n; i++ {
		select {
		case <-f.done:
		case <-time.After(hangGuard):
			t.Fatalf("fake server: connection %d still open after %v", i+1, hangGuard)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.conns) != n {
		t.Fatalf("fake server accepted %d connections, want %d", len(f.conns), n)
	}
	return f.conns
}

// recorder keeps a copy of what is read through it.
type recorder struct {
	r   io.Reader
	mu  *sync.Mutex
	raw *[]byte
}

func (r recorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.mu.Lock()
	*r.raw = append(*r.raw, p[:n]...)
	r.mu.Unlock()
	return n, err
}

// fakeServer speaks the start of the PostgreSQL protocol on loopback TCP:
// it declines SSL, reads the start-up message and answers with msg. After
// an ErrorResponse it hangs up, as PostgreSQL does; after an
// authentication request it records what the client sends next.
func fakeServer(t *testing.T, msg pgproto3.BackendMessage) *fake {
	t.Helper()
	return fakeServerOn(t, "tcp", "127.0.0.1:0", msg)
}

func fakeServerOn(t *testing.T, network, address string, msg pgproto3.BackendMessage) *fake {
	t.Helper()
	l, err := net.Listen(network, address)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	f := &fake{addr: l.Addr().String(), done: make(chan struct{}, 100)}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fc := &fakeConn{}
			f.mu.Lock()
			f.conns = append(f.conns, fc)
			f.mu.Unlock()
			go func(c net.Conn) {
				defer func() { f.done <- struct{}{} }()
				defer c.Close()
				note := func(m string) {
					f.mu.Lock()
					fc.messages = append(fc.messages, m)
					f.mu.Unlock()
				}
				received := func(m pgproto3.FrontendMessage, err error) bool {
					if err != nil {
						if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
							note("hang-up")
						} else {
							note("error: " + err.Error())
						}
						return false
					}
					note(strings.TrimPrefix(fmt.Sprintf("%T", m), "*pgproto3."))
					return true
				}
				c.SetDeadline(time.Now().Add(hangGuard))
				be := pgproto3.NewBackend(recorder{c, &f.mu, &fc.raw}, c)
				for {
					m, err := be.ReceiveStartupMessage()
					if !received(m, err) {
						return
					}
					switch m := m.(type) {
					case *pgproto3.SSLRequest, *pgproto3.GSSEncRequest:
						if _, err := c.Write([]byte("N")); err != nil {
							return
						}
						continue
					case *pgproto3.StartupMessage:
						f.mu.Lock()
						fc.startup = maps.Clone(m.Parameters)
						f.mu.Unlock()
					}
					break
				}
				be.Send(msg)
				if be.Flush() != nil {
					return
				}
				if _, ok := msg.(*pgproto3.ErrorResponse); ok {
					return
				}
				if _, ok := msg.(*pgproto3.AuthenticationSASL); ok {
					be.SetAuthType(pgproto3.AuthTypeSASL)
				}
				for { // whatever the client says next, until it hangs up
					if !received(be.Receive()) {
						return
					}
				}
			}(c)
		}
	}()
	return f
}
