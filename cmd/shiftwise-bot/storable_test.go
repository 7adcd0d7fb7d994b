package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/storable"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// hostileBytes are the bytes a line may carry that storage tends to refuse:
// every control byte but the newline that ends a console line, 0x7f, and
// invalid UTF-8.
func hostileBytes() map[string]string {
	cases := map[string]string{}
	for b := 0; b <= 0x1f; b++ {
		if b == '\n' {
			continue
		}
		cases[fmt.Sprintf("0x%02x", b)] = string([]byte{byte(b)})
	}
	cases["0x7f"] = "\x7f"
	cases["invalid UTF-8"] = "\xff\xfe caf\xe9"
	cases["NUL and invalid UTF-8"] = "\x00\xc3"
	return cases
}

func storableText(s string) bool { return utf8.ValidString(s) && !strings.Contains(s, "\x00") }

// spoolPending reads what waits in a spool directory of a stopped bot.
func spoolPending(t *testing.T, dir string) int {
	t.Helper()
	sp, err := spool.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	return sp.Len()
}

// TestConsoleAnyByteIsStored is the reproduction and its class:
// lines carrying NUL, every other control byte, 0x7f, invalid UTF-8 and
// 100 KB, typed at the console while an incident is open, are answered
// (a usage error), audited as typed — refused bytes shown as \xNN — and
// put on the incident's timeline; nothing waits in a spool behind them:
// the note after them is on the timeline at once, the next entries are
// written, and `audit` does not say the database did not answer.
func TestConsoleAnyByteIsStored(t *testing.T) {
	env := auditEnv(t)
	var in strings.Builder
	in.WriteString("incident start sev2 \"API 500s\"\n")
	in.WriteString("health\x00; id\n") // the reproduction
	want := map[string]string{"health\x00; id": `health\x00; id`}
	for _, b := range hostileBytes() {
		line := "health " + b + "; id"
		fmt.Fprintf(&in, "%s\n", line)
		fmt.Fprintf(&in, "incident note %s\n", b)
		if b != "\r" { // the console ends a line at CR LF as at LF
			want[line] = storable.Text(line)
		}
	}
	in.WriteString("whoami " + strings.Repeat("x\x00", 50<<10) + "\n")
	in.WriteString("incident note still here, “quoted” ✓\n")
	in.WriteString("incident resolve done\n")
	in.WriteString("whoami\n")
	code, out, stderr := runWith(env, in.String(), "-console", "-user", "someone")
	if code != 0 || strings.Contains(out, "kept in the spool") || strings.Count(out, "Usage error") < len(want) {
		t.Fatalf("console: exit %d\n%s\n%s", code, clipOut(out), clipOut(stderr))
	}
	data := env["SHIFTWISE_DATA_DIR"]
	for _, dir := range []string{"audit-spool", "timeline-spool"} {
		if n := spoolPending(t, filepath.Join(data, dir)); n != 0 {
			t.Errorf("%d entries left waiting in %s\n%s", n, dir, clipOut(stderr))
		}
		if _, err := os.Stat(filepath.Join(data, dir+".set-aside")); err == nil {
			t.Errorf("%s set entries aside: nothing here is refused for good", dir)
		}
	}
	st := storetest.Open(t, env["SHIFTWISE_DATABASE_URL"])
	ctx := context.Background()
	es, err := st.Entries(ctx, store.Filter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	audited := map[string]bool{}
	for _, e := range es {
		if !storableText(e.Args) || !storableText(e.Result) {
			t.Errorf("entry %d holds unstorable text: %q", e.ID, e.Args)
		}
		audited[e.Args] = true
	}
	for line, shown := range want {
		if !audited[shown] {
			t.Errorf("%q is not in the audit log as %q", line, shown)
		}
	}
	if len(es) < 2*len(want)+4 || es[0].Args != "whoami" {
		t.Errorf("%d audit entries, the last %q", len(es), es[0].Args)
	}
	if v, err := st.Verify(ctx, ""); err != nil || !v.OK() {
		t.Errorf("audit chain: %+v %v", v.Problems, err)
	}
	// The incident's timeline holds every command typed in it, as audited,
	// and the note after them.
	inc, err := st.IncidentByID(ctx, 1)
	if err != nil || inc.State != store.IncidentResolved {
		t.Fatalf("incident: %+v %v\n%s", inc, err, clipOut(out))
	}
	tl, _, err := st.Timeline(ctx, inc.ID, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	onTimeline := map[string]bool{}
	note := false
	for _, e := range tl {
		onTimeline[e.What] = true
		note = note || (e.Kind == "note" && strings.HasPrefix(e.What, "still here"))
		if !storableText(e.What) || !storableText(e.Outcome) {
			t.Errorf("timeline entry %q holds unstorable text", e.What)
		}
	}
	for line, shown := range want {
		if !onTimeline[shown] {
			t.Errorf("%q is not on the timeline as %q", line, shown)
		}
	}
	if !note {
		t.Errorf("the note after them is not on the timeline (%d entries)", len(tl))
	}
	// `audit` lists them and does not claim the database did not answer.
	code, aout, _ := runWith(env, "", "-user", "someone", "audit", "--limit", "200")
	if code != 0 || !strings.Contains(aout, `health\x00; id`) || strings.Contains(aout, "answer") || strings.Contains(aout, "wait in the local spool") {
		t.Errorf("audit: exit %d\n%s", code, clipOut(aout))
	}
}

func clipOut(s string) string {
	if len(s) > 4000 {
		return s[:2000] + fmt.Sprintf("\n…(%d bytes)…\n", len(s)-4000) + s[len(s)-2000:]
	}
	return s
}

// TestRefusedRecordsAreSetAsideAndNamed: spool records the bot's database
// refuses for good (here a key too long for its unique index, SQLSTATE
// 54000, as a record spooled by another version might be) are set aside
// beside the spool, the entries behind them written in order; `audit`
// names them and where they are, and `health` says so on a line of its own.
func TestRefusedRecordsAreSetAsideAndNamed(t *testing.T) {
	env := auditEnv(t)
	data := env["SHIFTWISE_DATA_DIR"]
	if code, out, _ := runWith(env, "", "-user", "someone", "incident", "start", "sev2", "poison"); code != 0 {
		t.Fatalf("incident start: exit %d\n%s", code, out)
	}
	var long strings.Builder
	for i := 0; long.Len() < 8000; i++ {
		fmt.Fprintf(&long, "%08x", uint32(i)*2654435761)
	}
	now := time.Now().UTC().Format(time.RFC3339Nano)
	poison := func(dir, kind string, payloads ...string) {
		sp, err := spool.Open(filepath.Join(data, dir))
		if err != nil {
			t.Fatal(err)
		}
		defer sp.Close()
		for _, p := range payloads {
			if _, err := sp.Append(kind, []byte(p)); err != nil {
				t.Fatal(err)
			}
		}
	}
	poison("audit-spool", "audit",
		fmt.Sprintf(`{"key":%q,"at":%q,"subject":"console:old","channel":"console","command":"health","args":"poisoned","decision":"usage","result":"x"}`, long.String(), now),
		fmt.Sprintf(`{"at":%q,"subject":"console:old","channel":"console","command":"whoami","args":"behind the poison","decision":"ran","result":"ok"}`, now))
	poison("timeline-spool", "timeline",
		fmt.Sprintf(`{"channel":"console","entry":{"Key":%q,"At":%q,"Who":"console:old","Kind":"note","What":"poisoned note"}}`, long.String(), now),
		fmt.Sprintf(`{"channel":"console","entry":{"Key":"tl-behind","At":%q,"Who":"console:old","Kind":"note","What":"note behind the poison"}}`, now))
	if code, out, stderr := runWith(env, "", "-user", "someone", "whoami"); code != 0 {
		t.Fatalf("whoami: exit %d\n%s%s", code, out, stderr)
	}
	for _, dir := range []string{"audit-spool", "timeline-spool"} {
		if n := spoolPending(t, filepath.Join(data, dir)); n != 0 {
			t.Errorf("%d entries still wait in %s", n, dir)
		}
		b, err := os.ReadFile(filepath.Join(data, dir+".set-aside"))
		if err != nil || !strings.Contains(string(b), "poisoned") || !strings.Contains(string(b), "54000") || strings.Count(string(b), "\n") != 1 {
			t.Errorf("%s.set-aside: %v\n%.400s", dir, err, b)
		}
	}
	st := storetest.Open(t, env["SHIFTWISE_DATABASE_URL"])
	ctx := context.Background()
	es, _ := st.Entries(ctx, store.Filter{})
	var args []string
	for i := len(es) - 1; i >= 0; i-- {
		args = append(args, es[i].Args)
	}
	if got := strings.Join(args, " | "); got != "incident start sev2 poison | behind the poison | whoami" {
		t.Errorf("audit log after the replay: %s", got)
	}
	tl, _, _ := st.Timeline(ctx, 1, 0, 100)
	found := false
	for _, e := range tl {
		found = found || e.What == "note behind the poison"
	}
	if !found {
		t.Errorf("the timeline entry behind the poison was not written: %+v", tl)
	}
	code, out, _ := runWith(env, "", "-user", "someone", "audit")
	aside := filepath.Join(data, "audit-spool.set-aside")
	if code != 0 || !strings.Contains(out, "1 entry was SET ASIDE") || !strings.Contains(out, aside) || strings.Contains(out, "answer") {
		t.Errorf("audit: exit %d\n%s", code, out)
	}
	_, out, _ = runWith(env, "", "-user", "someone", "health", "--timeout", "500ms")
	if !strings.Contains(out, "bot's own records") || !strings.Contains(out, "1 audit entries SET ASIDE") ||
		!strings.Contains(out, "1 timeline entries SET ASIDE") || !strings.Contains(out, aside) {
		t.Errorf("health does not say entries were set aside:\n%s", out)
	}
}
