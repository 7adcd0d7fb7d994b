package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shiftwise/shiftwise-bot/internal/storable"
)

// hostile is the class of text PostgreSQL refuses or that tends to break
// storage: every byte 0x00-0x1f and 0x7f inside text, invalid UTF-8 of
// each shape, and 100 KB of text (incompressible, so that an index takes
// it as it is).
func hostile() map[string]string {
	cases := map[string]string{}
	for b := 0; b <= 0x1f; b++ {
		cases[fmt.Sprintf("byte 0x%02x", b)] = "health " + string([]byte{byte(b)}) + "; id"
	}
	cases["byte 0x7f"] = "health \x7f; id"
	cases["only NUL"] = "\x00"
	cases["NUL at the end"] = "note\x00"
	for name, s := range map[string]string{
		"lone 0xff":          "a\xffb",
		"lone continuation":  "a\x80b",
		"cut 2-byte":         "a\xc3",
		"cut 3-byte":         "a\xe2\x82",
		"overlong":           "\xc0\xaf",
		"surrogate":          "\xed\xa0\x80",
		"beyond U+10FFFF":    "\xf4\x90\x80\x80",
		"invalid and NUL":    "\xff\x00\xfe",
		"latin-1 text":       "caf\xe9 cr\xe8me",
		"valid non-ASCII ok": "incident “API” — ünïcode ✓",
		"backslash as typed": `C:\x00 path \\`,
	} {
		cases["utf8 "+name] = s
	}
	var big strings.Builder
	for i := 0; big.Len() < 100<<10; i++ {
		// Incompressible: a B-tree index stores it as it is.
		fmt.Fprintf(&big, "%08x", uint32(i)*2654435761^uint32(i>>3)*40503)
	}
	cases["100 KB"] = big.String()
	cases["100 KB with NUL"] = big.String()[:50<<10] + "\x00" + big.String()[50<<10:]
	return cases
}

// checkStored says what is wrong with got, the stored form of in: it must
// be valid UTF-8 without NUL; text that was storable comes back as it was;
// every refused byte is there as a `\xNN` escape (never dropped); and it
// is storable.Text(in) (storable.Indexed for an indexed column).
func checkStored(field, in, got string, index bool) error {
	want := storable.Text(in)
	if index {
		want = storable.Indexed(in)
	}
	switch {
	case !utf8.ValidString(got) || strings.IndexByte(got, 0) >= 0:
		return fmt.Errorf("%s: stored text is not valid UTF-8 without NUL: %q", field, clipQ(got))
	case got != want:
		return fmt.Errorf("%s: stored %q, want %q", field, clipQ(got), clipQ(want))
	case utf8.ValidString(in) && !strings.Contains(in, "\x00") && (!index || len(in) <= storable.MaxIndexed) && got != in:
		return fmt.Errorf("%s: storable text changed: %q", field, clipQ(got))
	case strings.Contains(in, "\x00") && !strings.Contains(got, `\x00`) && (!index || strings.Index(in, "\x00") < storable.MaxIndexed):
		return fmt.Errorf("%s: NUL not shown as \\x00: %q", field, clipQ(got))
	}
	if !index {
		// Nothing dropped: each byte PostgreSQL refuses is one escape.
		escapes := 0
		for i := 0; i < len(in); {
			r, n := utf8.DecodeRuneInString(in[i:])
			if in[i] == 0 || (r == utf8.RuneError && n == 1) {
				escapes++
			}
			i += n
		}
		if len(got) != len(in)+3*escapes {
			return fmt.Errorf("%s: stored %d bytes for %d with %d escapes", field, len(got), len(in), escapes)
		}
	}
	return nil
}

func clipErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return clipQ(err.Error())
}

func clipQ(s string) string {
	if len(s) > 80 {
		return s[:80] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

var storeRound atomic.Int64

// storeEverywhere writes in into every text field the store keeps — the
// audit entry, the incident (title, commander, summary, channel), its
// timeline (note, status and command entries), the approval (command line,
// requester, approver, result), a delivery key — reads each back and
// returns what does not hold.
func storeEverywhere(t testing.TB, s *Store, in string) []error {
	ctx := ctxFor(t)
	n := storeRound.Add(1)
	var errs []error
	check := func(field, in, got string, index bool) {
		if err := checkStored(field, in, got, index); err != nil {
			errs = append(errs, err)
		}
	}
	// The audit log.
	e, err := s.Append(ctx, Entry{Subject: "console:" + in, Channel: in, Command: in, Args: in, Decision: in, Approver: in,
		Result: in, Duration: time.Second, Key: fmt.Sprintf("k-%d", n), Occurred: time.Now().Add(-time.Minute)})
	if err != nil {
		return append(errs, fmt.Errorf("audit append: %s", clipErr(err)))
	}
	got, err := s.Entries(ctx, Filter{Before: e.ID + 1, Limit: 1})
	if err != nil || len(got) != 1 {
		return append(errs, fmt.Errorf("audit entries: %v %v", got, err))
	}
	g := got[0]
	check("audit subject", "console:"+in, g.Subject, true)
	for f, v := range map[string]string{"channel": g.Channel, "command": g.Command, "args": g.Args, "decision": g.Decision, "approver": g.Approver, "result": g.Result} {
		check("audit "+f, in, v, false)
	}
	if v, err := s.Verify(ctx, ""); err != nil || !v.OK() {
		errs = append(errs, fmt.Errorf("audit chain after the entry: %+v %v", v.Problems, err))
	}
	// An incident and its timeline.
	r, err := s.ReserveIncident(ctx, Incident{Severity: 2, Title: in, Commander: in, OpenedBy: in, OriginChannel: in})
	if err != nil {
		return append(errs, fmt.Errorf("reserve incident: %s", clipErr(err)))
	}
	place := fmt.Sprintf("C%d", n) + in
	inc, err := s.ActivateIncident(ctx, r.ID, place, "", in)
	if err != nil {
		return append(errs, fmt.Errorf("activate incident: %s", clipErr(err)))
	}
	check("incident title", in, inc.Title, false)
	check("incident commander", in, inc.Commander, false)
	check("incident opened by", in, inc.OpenedBy, false)
	check("incident origin channel", in, inc.OriginChannel, false)
	check("incident channel", place, inc.Channel, true)
	check("incident link", in, inc.Link, false)
	if at, err := s.OpenIncidentAt(ctx, place, ""); err != nil || at.ID != inc.ID {
		errs = append(errs, fmt.Errorf("open incident at its own channel: %+v %v", at, err))
	}
	if c, err := s.SetCommander(ctx, inc.ID, in+"!"); err != nil {
		errs = append(errs, fmt.Errorf("set commander: %s", clipErr(err)))
	} else {
		check("incident new commander", in+"!", c.Commander, false)
	}
	for i, kind := range []string{"note", "status", "command"} {
		te := TimelineEntry{Key: fmt.Sprintf("tl-%d-%d", n, i), At: inc.StartedAt.Add(time.Duration(i+1) * time.Millisecond),
			Who: in, Kind: kind, What: in, Outcome: in, Approver: in, Link: in}
		id, added, err := s.AppendTimelineAt(ctx, place, "", te)
		if err != nil || id != inc.ID || !added {
			errs = append(errs, fmt.Errorf("timeline %s: incident %d added %v: %v", kind, id, added, err))
		}
	}
	tl, total, err := s.Timeline(ctx, inc.ID, 0, 10)
	if err != nil || total != 3 || len(tl) != 3 {
		errs = append(errs, fmt.Errorf("timeline: %d of %d: %v", len(tl), total, err))
	}
	for _, te := range tl {
		for f, v := range map[string]string{"who": te.Who, "what": te.What, "outcome": te.Outcome, "approver": te.Approver, "link": te.Link} {
			check("timeline "+te.Kind+" "+f, in, v, false)
		}
	}
	res, err := s.ResolveIncident(ctx, inc.ID, in, time.Now())
	if err != nil {
		errs = append(errs, fmt.Errorf("resolve: %s", clipErr(err)))
	} else {
		check("incident summary", in, res.Summary, false)
	}
	// An approval, decided and executed.
	a, err := s.CreateApproval(ctx, Approval{Command: "c" + in, Args: in, Object: in, Level: 2, Requester: "r" + in,
		Channel: in, ThreadTS: in, MessageTS: in}, time.Hour)
	if err != nil {
		return append(errs, fmt.Errorf("create approval: %s", clipErr(err)))
	}
	if err := s.SetMessage(ctx, a.ID, in, in, in); err != nil {
		errs = append(errs, fmt.Errorf("set message: %s", clipErr(err)))
	}
	if _, err := s.Decide(ctx, a.ID, "a"+in, true, time.Now()); err != nil {
		errs = append(errs, fmt.Errorf("decide: %s", clipErr(err)))
	}
	if _, err := s.Decide(ctx, a.ID, "r"+in, true, time.Now()); !errors.Is(err, ErrAlreadyDecided) {
		errs = append(errs, fmt.Errorf("a second decision: %v", err))
	}
	if err := s.MarkExecuted(ctx, a.ID, in, true); err != nil {
		errs = append(errs, fmt.Errorf("mark executed: %s", clipErr(err)))
	}
	if ga, err := s.Approval(ctx, a.ID); err != nil {
		errs = append(errs, fmt.Errorf("read approval: %s", clipErr(err)))
	} else {
		check("approval command", "c"+in, ga.Command, false)
		for f, v := range map[string]string{"args": ga.Args, "object": ga.Object, "channel": ga.Channel,
			"thread": ga.ThreadTS, "message": ga.MessageTS, "result": ga.Result} {
			check("approval "+f, in, v, false)
		}
		check("approval requester", "r"+in, ga.Requester, false)
		check("approval approver", "a"+in, ga.Approver, false)
	}
	// A delivery key.
	key := fmt.Sprintf("d%d:", n) + in
	for i, want := range []bool{true, false} {
		if first, err := s.FirstDelivery(ctx, key, time.Hour); err != nil || first != want {
			errs = append(errs, fmt.Errorf("delivery %d: first = %v, %v; want %v", i+1, first, clipErr(err), want))
		}
	}
	return errs
}

// TestEveryStoredFieldTakesAnyText: NUL, every other control byte, invalid
// UTF-8 and 100 KB, in every text field the store writes, are stored — as
// storable.Text shows them — and read back; nothing is refused.
func TestEveryStoredFieldTakesAnyText(t *testing.T) {
	s := newStore(t)
	for name, in := range hostile() {
		t.Run(name, func(t *testing.T) {
			for _, err := range storeEverywhere(t, s, in) {
				t.Error(err)
			}
		})
	}
}

// TestRefusedIsClassified: an error with which the database refuses a
// record for good matches storable.ErrRefused; a database that does not
// answer does not.
func TestRefusedIsClassified(t *testing.T) {
	s := newStore(t)
	ctx := ctxFor(t)
	// A key too long for its unique index: refused whatever is tried.
	var long bytes.Buffer
	for i := 0; long.Len() < 8000; i++ {
		fmt.Fprintf(&long, "%08x", uint32(i)*2654435761)
	}
	_, err := s.Append(ctx, Entry{Subject: "console:a", Command: "whoami", Key: long.String()})
	if err == nil || !storable.Refused(err) {
		t.Fatalf("an entry whose key its index refuses: %v; want an error matching storable.ErrRefused", err)
	}
	if _, _, err := s.AppendTimelineAt(ctx, "C1", "", TimelineEntry{Key: long.String(), At: time.Now()}); err != nil {
		// No incident holds C1: the insert selects nothing, so nothing is refused.
		t.Fatalf("timeline entry where no incident is: %v", err)
	}
	// A store that cannot reach its database (here: its pool closed).
	gone, err := Open(ctx, s.pool.Config().ConnString())
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	_, err = gone.Append(ctx, Entry{Subject: "console:a", Command: "whoami"})
	if err == nil || storable.Refused(err) {
		t.Fatalf("a database that cannot be reached: %v; want an error that is not ErrRefused", err)
	}
	timeout, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-timeout.Done()
	if _, err := s.Append(timeout, Entry{Subject: "console:a", Command: "whoami"}); err == nil || storable.Refused(err) {
		t.Fatalf("a write that timed out: %v; want an error that is not ErrRefused", err)
	}
}

// FuzzStoredRecord writes fuzzed text into every text field the store
// keeps, through the real store, and reads it back (see checkStored).
// Its seed corpus is under testdata/fuzz/FuzzStoredRecord.
func FuzzStoredRecord(f *testing.F) {
	for _, in := range []string{"", "health", "health\x00; id", "\xff\xfe", "a\x1b[2Jb", "\x7f", "“quoted”", `\x00`} {
		f.Add(in)
	}
	s := newStore(f)
	f.Fuzz(func(t *testing.T, in string) {
		for _, err := range storeEverywhere(t, s, in) {
			t.Error(err)
		}
	})
}
