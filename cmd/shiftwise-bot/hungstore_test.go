package main

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// hungURL is a bot database URL whose server accepts connections and
// never answers.
func hungURL(t *testing.T) (string, *testenv.Silent) {
	t.Helper()
	s := testenv.NewSilent(t)
	return silentURL(s), s
}

func hungBenchURL(b *testing.B) string { return silentURL(testenv.NewSilent(b)) }

func silentURL(s *testenv.Silent) string {
	u := &url.URL{Scheme: "postgres", User: url.UserPassword("bot", "x"), Host: s.Addr, Path: "/bot", RawQuery: "sslmode=disable"}
	return u.String()
}

func downURL(t *testing.T) string {
	t.Helper()
	u := &url.URL{Scheme: "postgres", User: url.UserPassword("bot", "x"), Host: testenv.RefusedAddr(t), Path: "/bot", RawQuery: "sslmode=disable"}
	return u.String()
}

// spooledAudit returns how many audit entries wait in the data directory's
// spool (the bot must not hold it open).
func spooledAudit(t *testing.T, dataDir string) int {
	t.Helper()
	sp, err := spool.Open(filepath.Join(dataDir, "audit-spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	return sp.Len()
}

// replyWatch is the bot's stdout; at the first write of the reply it
// notes whether the hung database had seen the bot hang up by then,
// i.e. whether the store's first attempt had already ended.
type replyWatch struct {
	syncBuffer
	want   string
	silent *testenv.Silent
	once   sync.Once
	ended  bool // the store's attempt had ended when the reply came
	seen   bool
}

func (w *replyWatch) Write(p []byte) (int, error) {
	n, err := w.syncBuffer.Write(p)
	if strings.Contains(w.String(), w.want) {
		w.once.Do(func() { w.seen, w.ended = true, len(w.silent.HungUp()) > 0 })
	}
	return n, err
}

// TestHealthReplyNotDelayedByAHungBotDatabase: with the bot's own
// database accepting connections and never answering, `health` (one-shot
// and at the console) answers while the store's first attempt to reach
// it is still going — nothing in the reply's path waits for that store —
// and its audit entry is in the spool, where the next run with the
// database up writes it. Ordering, not time: the attempt ends (the bot
// hangs up on the silent server) only after the reply was written.
func TestHealthReplyNotDelayedByAHungBotDatabase(t *testing.T) {
	for _, mode := range []struct {
		name  string
		stdin string
		args  []string
	}{
		{"one-shot", "", []string{"-user", "alice", "health", "--timeout", "2s"}},
		{"console", "health --timeout 2s\n", []string{"-console", "-user", "alice"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			env := demoEnv(t)
			dbURL, silent := hungURL(t)
			env["SHIFTWISE_DATABASE_URL"], env["SHIFTWISE_DATA_DIR"] = dbURL, t.TempDir()
			out := &replyWatch{want: "Health: ", silent: silent}
			m := &Main{Stdin: strings.NewReader(mode.stdin), Stdout: out, Stderr: io.Discard}
			code := run(context.Background(), m, mode.args, func(k string) string { return env[k] })
			if code > 1 || !out.seen {
				t.Fatalf("health: exit %d\n%s", code, out.String())
			}
			if out.ended {
				t.Errorf("the reply came after the bot's attempt to reach its hung database had ended: the store was in the reply's path")
			}
			if silent.Accepted() == 0 {
				t.Errorf("the bot never tried its database")
			}
			if n := spooledAudit(t, env["SHIFTWISE_DATA_DIR"]); n != 1 {
				t.Errorf("%d audit entries in the spool after health with the database hung, want 1", n)
			}
		})
	}
}

// TestApproveDenyAuditedWhileBotDatabaseDownOrHung: approve and deny
// tried while the bot's database is down (refuses), hung from the start
// (accepts, never answers) or hung mid-session (connected, then silent)
// answer that nothing was decided, each leaves an audit entry in the
// spool by the time it has answered, and those entries are written once,
// in order, when the database is back; the request itself is untouched
// and can be approved then.
func TestApproveDenyAuditedWhileBotDatabaseDownOrHung(t *testing.T) {
	runs := 0
	purge := approvalCommands(&runs)
	env := auditEnv(t)
	up, dataDir := env["SHIFTWISE_DATABASE_URL"], env["SHIFTWISE_DATA_DIR"]
	code, out, stderr := runWithCommands(purge, env, "", "-user", "alice", "test-purge")
	i := strings.Index(out, "(A-")
	if code != 3 || i < 0 {
		t.Fatalf("request: exit %d\n%s%s", code, out, stderr)
	}
	id := out[i+1 : i+9]
	hung, _ := hungURL(t)
	down := downURL(t)

	type want struct{ command, result string }
	var wants []want
	for _, c := range []struct {
		db, verb, says, result string
	}{
		{down, "approve", "which is down", "database-unreachable"},
		{down, "deny", "which is down", "database-unreachable"},
		{hung, "approve", "is not answering", "database-not-answering"},
		{hung, "deny", "is not answering", "database-not-answering"},
	} {
		code, out, stderr := runWithCommands(purge, copyEnv(env, "SHIFTWISE_DATABASE_URL", c.db), "", "-user", "bob", c.verb, id)
		if code != 1 || !strings.Contains(out, c.says) || !strings.Contains(out, "Nothing was run") || runs != 0 {
			t.Fatalf("%s (%s): exit %d, runs %d\n%s%s", c.verb, c.result, code, runs, out, stderr)
		}
		wants = append(wants, want{c.verb, c.result + " " + id})
		if n := spooledAudit(t, dataDir); n != len(wants) {
			t.Fatalf("after %s (%s) the spool holds %d audit entries, want %d", c.verb, c.result, n, len(wants))
		}
	}

	// Mid-session: connected through a proxy that then hangs.
	u, err := url.Parse(up)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.NewProxy(t, u.Host)
	sess := startConsole(t, copyEnv(env, "SHIFTWISE_DATABASE_URL", proxy.URL(t, up)), "bob", purge...)
	sess.send(t, "whoami", "· whoami ·")
	// The spooled entries are written as soon as the database answers.
	waitEntries(t, up, len(wants)+1)
	proxy.Hang(true)
	sess.send(t, "approve "+id, "is not answering")
	wants = append(wants, want{"approve", "database-not-answering " + id})
	proxy.Hang(false)
	if code := sess.close(t); code != 0 {
		t.Fatalf("console exit %d\n%s", code, sess.out.String())
	}
	if runs != 0 {
		t.Fatalf("ran %d times while nothing was approved", runs)
	}

	// The database is back: everything is written, once, in order.
	if code, out, _ := runWithCommands(purge, env, "", "-user", "bob", "approve", id); code != 0 || runs != 1 {
		t.Fatalf("approve with the database back: exit %d, runs %d\n%s", code, runs, out)
	}
	es, err := storetest.Open(t, up).Entries(context.Background(), store.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	var got []want
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].Decision == "failed" {
			if es[i].Subject != "console:bob" || es[i].Approver != "console:bob" || es[i].Occurred.IsZero() {
				t.Errorf("entry %d: %+v", es[i].ID, es[i])
			}
			got = append(got, want{es[i].Command, es[i].Result})
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(wants) {
		t.Fatalf("failed decisions in the log:\n got %v\nwant %v", got, wants)
	}
	if n := spooledAudit(t, dataDir); n != 0 {
		t.Errorf("%d audit entries still spooled", n)
	}
	if code, out := verifyAs(t, env, "arch"); code != 0 || !strings.Contains(out, "intact") {
		t.Fatalf("verify: exit %d\n%s", code, out)
	}
}

// waitEntries waits until the audit log holds at least n entries.
func waitEntries(t *testing.T, dbURL string, n int) {
	t.Helper()
	st := storetest.Open(t, dbURL)
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		es, err := st.Entries(context.Background(), store.Filter{Limit: store.MaxLimit})
		if err == nil && len(es) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit log never held %d entries (%d, %v)", n, len(es), err)
		}
	}
}

// consoleSession is the bot at the console, in-process, fed through a pipe.
type consoleSession struct {
	in   *io.PipeWriter
	out  syncBuffer
	done chan int
}

func startConsole(t *testing.T, env map[string]string, user string, cmds ...bot.Command) *consoleSession {
	t.Helper()
	r, w := io.Pipe()
	c := &consoleSession{in: w, done: make(chan int, 1)}
	go func() {
		m := &Main{Stdin: r, Stdout: &c.out, Stderr: &c.out, Commands: cmds}
		c.done <- run(context.Background(), m, []string{"-console", "-user", user}, func(k string) string { return env[k] })
	}()
	t.Cleanup(func() { w.Close() })
	return c
}

// send types a line and waits until the output shows want once more.
func (c *consoleSession) send(t *testing.T, line, want string) {
	t.Helper()
	n := strings.Count(c.out.String(), want)
	if _, err := io.WriteString(c.in, line+"\n"); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(60 * time.Second); strings.Count(c.out.String(), want) <= n; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("after %q the output never showed %q:\n%s", line, want, c.out.String())
		}
	}
}

func (c *consoleSession) close(t *testing.T) int {
	t.Helper()
	c.in.Close()
	select {
	case code := <-c.done:
		return code
	case <-time.After(60 * time.Second):
		t.Fatal("the console did not end")
		return -1
	}
}
