package commands

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/storable"
	"github.com/shiftwise/shiftwise-bot/internal/store"
)

// TestSlackNULDoesNotWedgeTheTimeline is the Slack reproduction
// and its class: `health \x00` — and every other control byte, 0x7f and
// 100 KB — typed in an incident's channel is answered and lands on its
// timeline as audited (refused bytes shown as \xNN); the note typed after
// them is on the timeline at once (not "kept in the spool"), `incident
// timeline` shows it, and nothing waits in the spool.
func TestSlackNULDoesNotWedgeTheTimeline(t *testing.T) {
	r := newSlackIncidentRig(t)
	r.slash(t, "C0OPS", "UOPS", `incident start sev2 "API 500s"`)
	r.waitMessage(t, "C0OPS", "INC-1 opened: API 500s")
	ch := r.channelNamed(t, "inc-"+time.Now().UTC().Format("20060102")+"-api-500s")
	inc := r.onlyOpen(t)
	lines := map[string]string{} // typed -> as stored
	for b := 0; b <= 0x1f; b++ {
		lines[fmt.Sprintf("health %c; id", rune(b))] = ""
	}
	lines["health \x7f; id"] = ""
	lines["probe "+strings.Repeat("\x00z", 50<<10)] = ""
	for line := range lines {
		r.slash(t, ch.ID, "UOPS", line)
	}
	for line := range lines {
		// What lands on the timeline: the line as typed, refused bytes
		// escaped (the long one clipped by the engine and the timeline).
		shown := storable.Text(line)
		if len(line) > 1000 {
			r.waitEntry(t, inc.ID, "the 100 KB line", func(e bot.TimelineEntry) bool {
				return strings.HasPrefix(e.What, `probe \x00z\x00z`) && strings.HasSuffix(e.What, "…")
			})
			continue
		}
		r.waitEntry(t, inc.ID, fmt.Sprintf("%q", line), func(e bot.TimelineEntry) bool { return e.What == shown })
	}
	r.slash(t, ch.ID, "UOPS", "incident note after the bytes")
	reply := r.waitMessage(t, ch.ID, "after the bytes")
	if strings.Contains(blockText(reply), "spool") {
		t.Fatalf("the note waits in the spool:\n%s", blockText(reply))
	}
	r.waitEntry(t, inc.ID, "the note after them", func(e bot.TimelineEntry) bool { return e.Kind == "note" && e.What == "after the bytes" })
	if n := r.sp.Len(); n != 0 {
		t.Fatalf("%d timeline entries wait in the spool", n)
	}
	r.slash(t, ch.ID, "UOPS", "incident timeline --page 9")
	page := r.waitMessage(t, ch.ID, "timeline ·")
	if strings.Contains(blockText(page), "wait in the spool") {
		t.Fatalf("incident timeline says entries wait:\n%s", blockText(page))
	}
	// Every entry stored is storable text; the NUL one shows \x00.
	es, err := r.st.Entries(context.Background(), store.Filter{Limit: store.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	sawNUL := false
	for _, e := range es {
		if !utf8.ValidString(e.Args) || strings.Contains(e.Args, "\x00") {
			t.Errorf("audit entry %d: %q", e.ID, e.Args)
		}
		sawNUL = sawNUL || e.Args == `health \x00; id`
	}
	if !sawNUL {
		t.Error(`"health \x00; id" is not in the audit log`)
	}
	for _, e := range r.timeline(t, inc.ID) {
		if !utf8.ValidString(e.What) || strings.Contains(e.What, "\x00") {
			t.Errorf("timeline entry %q", e.What)
		}
	}
	noSlackViolations(t, r.fake)
}
