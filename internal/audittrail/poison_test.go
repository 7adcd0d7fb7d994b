package audittrail

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shiftwise/shiftwise-bot/commands"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/testenv"
)

// TestNULEntryDoesNotStopTheLog: an entry holding NUL, invalid UTF-8 or
// any control byte is written (shown as \xNN), at once or from the spool,
// and the entries after it follow; nothing waits behind it.
func TestNULEntryDoesNotStopTheLog(t *testing.T) {
	st, err := store.Open(ctxFor(t), testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	var up atomic.Bool
	up.Store(true)
	tr, sp := newTrail(t, t.TempDir(), func() *store.Store {
		if up.Load() {
			return st
		}
		return nil
	})
	ctx := ctxFor(t)
	var want []string
	add := func(args string, shown string) {
		t.Helper()
		e := entryN(0)
		e.Args, e.Result, e.Subject = args, args, "console:x"+args
		if err := tr.Append(ctx, e); err != nil {
			t.Fatalf("Append %q: %v", args, err)
		}
		want = append(want, shown)
	}
	add("health\x00; id", `health\x00; id`)
	add("health \x01\x1b\x7f", "health \x01\x1b\x7f")
	add("caf\xe9", `caf\xe9`)
	if n, err := tr.Flush(ctx); err != nil || n != 3 || sp.Len() != 0 {
		t.Fatalf("Flush while the database answers = %d, %v, %d left; want 3, nil, 0", n, err, sp.Len())
	}
	// While it is down the spool keeps them, bytes and all (its JSON
	// would turn \xff into U+FFFD).
	up.Store(false)
	add("health\x00 spooled", `health\x00 spooled`)
	add("\xff\xfe spooled", `\xff\xfe spooled`)
	if sp.Len() != 2 {
		t.Fatalf("spooled %d while down, want 2", sp.Len())
	}
	if s := tr.AuditSpool(); !s.Unreachable || s.Pending != 2 {
		t.Fatalf("spool state while down: %+v", s)
	}
	up.Store(true)
	if n, err := tr.Flush(ctx); err != nil || n != 2 {
		t.Fatalf("Flush = %d, %v; want 2", n, err)
	}
	add("after", "after")
	if n, err := tr.Flush(ctx); err != nil || n != 1 || sp.Len() != 0 {
		t.Fatalf("Flush after = %d, %v", n, err)
	}
	if sp.Len() != 0 {
		t.Fatalf("%d entries still wait", sp.Len())
	}
	if got := results(t, st); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("log holds %q\nwant %q", got, want)
	}
	es, _ := st.Entries(ctx, store.Filter{Limit: 10})
	for _, e := range es {
		if e.Result != e.Args || e.Subject != "console:x"+e.Args {
			t.Errorf("entry %d: result %q, subject %q; want both as args %q", e.ID, e.Result, e.Subject, e.Args)
		}
	}
	if v, err := st.Verify(ctx, ""); err != nil || !v.OK() {
		t.Fatalf("chain: %+v %v", v, err)
	}
}

// TestPoisonedSpoolRecordIsSetAside: spool records the database refuses
// for good (a key its unique index cannot hold: SQLSTATE 54000), that are
// unreadable, or of another kind, are set aside beside the spool — kept,
// counted, named by `audit` — and every entry after them is written, in
// order. Records an older bot spooled with NUL in them are written.
func TestPoisonedSpoolRecordIsSetAside(t *testing.T) {
	st, err := store.Open(ctxFor(t), testenv.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	tr, sp := newTrail(t, t.TempDir(), func() *store.Store { return st })
	ctx := ctxFor(t)
	var long strings.Builder
	for i := 0; long.Len() < 8000; i++ {
		fmt.Fprintf(&long, "%08x", uint32(i)*2654435761)
	}
	rec := func(key, args string) []byte {
		b, err := json.Marshal(spooled{Key: key, At: time.Now().UTC(), Subject: "console:old", Channel: "console",
			Command: "health", Args: args, Decision: "usage", Result: "usage error"})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var want []string
	for i, r := range []struct {
		kind    string
		payload []byte
		written string // "" when it is set aside
	}{
		{SpoolKind, rec("", "health\x00; id"), `health\x00; id`}, // what the old bot spooled, and replayed forever
		{SpoolKind, rec(long.String(), "refused for good"), ""},
		{SpoolKind, rec("", "one"), "one"},
		{SpoolKind, []byte("{not json"), ""},
		{"timeline", rec("", "another kind"), ""},
		{SpoolKind, rec("", "two"), "two"},
	} {
		if _, err := sp.Append(r.kind, r.payload); err != nil {
			t.Fatalf("spool record %d: %v", i, err)
		}
		if r.written != "" {
			want = append(want, r.written)
		}
	}
	// The database answers: entries wait only until the replay runs, and
	// `audit` does not say the database did not answer.
	s := tr.AuditSpool()
	if s.Pending != 6 || s.Unreachable || s.Reason != "" {
		t.Fatalf("spool state before the replay: %+v", s)
	}
	if text := commands.SpoolText(s, ""); strings.Contains(text, "did not answer") || strings.Contains(text, "does not answer") {
		t.Fatalf("audit says the database did not answer while it answers: %s", text)
	}
	n, err := tr.Flush(ctx)
	if err != nil || n != 3 {
		t.Fatalf("Flush = %d, %v; want 3 written and 3 set aside", n, err)
	}
	if got := results(t, st); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("log holds %q, want %q", got, want)
	}
	s = tr.AuditSpool()
	if s.Pending != 0 || s.SetAside != 3 || s.SetAsideWhere != sp.SetAsidePath() {
		t.Fatalf("spool state after the replay: %+v", s)
	}
	data, err := os.ReadFile(s.SetAsideWhere)
	if err != nil || strings.Count(string(data), "\n") != 3 || !strings.Contains(string(data), "54000") ||
		!strings.Contains(string(data), "refused for good") || !strings.Contains(string(data), "is unreadable") {
		t.Fatalf("set-aside file %s: %v\n%s", s.SetAsideWhere, err, data)
	}
	text := commands.SpoolText(s, "")
	if !strings.Contains(text, "3 entries were SET ASIDE") || !strings.Contains(text, s.SetAsideWhere) {
		t.Fatalf("audit's words: %s", text)
	}
	// New entries follow.
	if err := tr.Append(ctx, entryN(9)); err != nil {
		t.Fatalf("Append after the replay: %v", err)
	}
	if n, err := tr.Flush(ctx); err != nil || n != 1 || sp.Len() != 0 {
		t.Fatalf("Flush after the replay = %d, %v, %d left", n, err, sp.Len())
	}
	if v, err := st.Verify(ctx, ""); err != nil || !v.OK() {
		t.Fatalf("chain: %+v %v", v, err)
	}
}
