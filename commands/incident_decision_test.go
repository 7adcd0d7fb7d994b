package commands

import (
	"strings"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/state"
)

// TestTimelineNamesWhatTheDeciderDid: an audit entry reaching an
// incident's timeline (and so its postmortem) names what the person in
// its approver field did: a withdrawal by the requester is "withdrawn
// by", a denial "denied by", a refused attempt "tried by", never
// "approved by"; an approval and its result stay "approved by".
func TestTimelineNamesWhatTheDeciderDid(t *testing.T) {
	for _, c := range []struct {
		decision, result, kind, want string
	}{
		{"withdrawn", "withdrawn A-2222AA", "approval", "(withdrawn by console:alice)"},
		{"denied", "denied A-2222AA", "approval", "(denied by console:alice)"},
		{"refused", "level A-2222AA", "command", "(tried by console:alice)"},
		{"approved", "approved A-2222AA", "approval", "(approved by console:alice)"},
		{"executed", "ok A-2222AA", "result", "(approved by console:alice)"},
		{"failed", "failed A-2222AA", "result", "(approved by console:alice)"},
	} {
		e := state.EntryFromAudit(bot.AuditEntry{Subject: "console:alice", Command: "purge", Args: "purge cache",
			Decision: c.decision, Approver: "console:alice", Result: c.result})
		line := entryLine(e)
		if e.Kind != c.kind || !strings.Contains(line, c.want) || (c.want != "(approved by console:alice)" && strings.Contains(line, "approved by")) {
			t.Errorf("%s: kind %s, line %q; want kind %s and %q", c.decision, e.Kind, line, c.kind, c.want)
		}
	}
}
