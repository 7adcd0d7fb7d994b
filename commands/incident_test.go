package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
	"github.com/shiftwise/shiftwise-bot/internal/spool"
	"github.com/shiftwise/shiftwise-bot/internal/state"
	"github.com/shiftwise/shiftwise-bot/internal/store"
	"github.com/shiftwise/shiftwise-bot/internal/store/botstore"
	"github.com/shiftwise/shiftwise-bot/internal/store/storetest"
)

// flaky is the real store, made unreachable on demand: every call fails
// while down is set, as with a stopped PostgreSQL.
type flaky struct {
	bot.Incidents
	down atomic.Bool
	// crashAfterWrite, when > 0, makes that many writes succeed in the
	// database and then report failure: a bot killed between the write
	// and the spool forgetting the record.
	crashAfterWrite atomic.Int32
	// failActivate makes ActivateIncident fail as a cut database would,
	// after its channel was made; reserved is the ID it was asked to open.
	failActivate atomic.Bool
	reserved     atomic.Int64
}

func (f *flaky) ActivateIncident(ctx context.Context, id int64, channel, thread, link string) (bot.Incident, error) {
	f.reserved.Store(id)
	if f.down.Load() || f.failActivate.Load() {
		return bot.Incident{}, errDown
	}
	return f.Incidents.ActivateIncident(ctx, id, channel, thread, link)
}

var errDown = errors.New("dial tcp 127.0.0.1:5432: connect: connection refused")

func (f *flaky) OpenIncidentAt(ctx context.Context, ch, th string) (bot.Incident, error) {
	if f.down.Load() {
		return bot.Incident{}, errDown
	}
	return f.Incidents.OpenIncidentAt(ctx, ch, th)
}

func (f *flaky) AppendTimelineAt(ctx context.Context, ch, th string, e bot.TimelineEntry) (int64, bool, error) {
	if f.down.Load() {
		return 0, false, errDown
	}
	id, added, err := f.Incidents.AppendTimelineAt(ctx, ch, th, e)
	if err == nil && f.crashAfterWrite.Add(-1) >= 0 {
		return 0, false, errors.New("killed after the write")
	}
	return id, added, err
}

type incidentRig struct {
	e     *bot.Engine
	st    *store.Store
	store *flaky
	tl    *state.Timeline
	in    *Incidents
	sp    *spool.Spool
	dir   string
	probe atomic.Int32
}

func newIncidentRig(t testing.TB, ws bot.Workspace) *incidentRig {
	t.Helper()
	st, _ := storetest.OpenTest(t)
	r := &incidentRig{st: st, dir: t.TempDir()}
	r.store = &flaky{Incidents: botstore.Incidents{S: st}}
	r.store.crashAfterWrite.Store(-1 << 30)
	sp, err := spool.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sp.Close() })
	r.sp = sp
	r.tl = &state.Timeline{Store: r.store, Spool: state.SpoolTimeline(sp), Redact: noRedact{}.Redact}
	r.in = &Incidents{Store: r.store, Timeline: r.tl, OpsChannel: "C0OPS", OnCallGroup: "S0ONCALL",
		Escalations: map[bot.Level]Escalation{bot.Level2: {Name: "Development Team", Group: "S0DEV", Contact: "dev@company.com"},
			bot.Level3: {Name: "System Architects", Group: "S0ARCH", Contact: "management@company.com"}},
		Health: func(context.Context) bot.Message {
			return bot.Message{Summary: "Health: FAILED (1 of 11 checks)", Checks: []bot.Check{{Name: "api /health", Status: bot.StatusFailed}}}
		}}
	if ws != nil {
		r.in.SetWorkspace(ws)
	}
	list := append(r.in.Commands(),
		bot.Command{Name: "probe", Level: bot.Level1, MaxArgs: -1, Run: func(context.Context, bot.Request) (bot.Message, error) {
			r.probe.Add(1)
			return bot.Message{Title: "probe", Status: bot.StatusOK, Summary: "Health: PASSED"}, nil
		}},
		bot.Command{Name: "purge", Level: bot.Level1, Approval: true, MaxArgs: -1, Run: func(context.Context, bot.Request) (bot.Message, error) {
			return bot.Message{Title: "purged", Status: bot.StatusOK}, nil
		}},
	)
	reg, err := bot.NewRegistry(list...)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthz(t, testPolicy+"g, slack:UOPS, level1\ng, slack:UONCALL, level1\n")
	r.e, err = bot.NewEngine(bot.Options{Registry: reg, Authorizer: a, Redactor: noRedact{},
		Approvals: botstore.Approvals{S: st}, Auditor: state.TimelineAuditor{Next: botstore.Auditor{S: st}, Timeline: r.tl}})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *incidentRig) do(t *testing.T, subject, channel, line string, want bot.Outcome) bot.Message {
	t.Helper()
	rep := r.e.Handle(context.Background(), bot.Request{Subject: subject, Channel: channel, Text: line})
	if rep.Outcome != want {
		t.Fatalf("%s: outcome %v, want %v\n%s", line, rep.Outcome, want, text(rep.Message))
	}
	return rep.Message
}

func (r *incidentRig) timeline(t *testing.T, id int64) []bot.TimelineEntry {
	t.Helper()
	entries, total, err := r.store.Incidents.Timeline(context.Background(), id, 0, 1000)
	if err != nil || total != len(entries) {
		t.Fatalf("timeline: %d of %d, %v", len(entries), total, err)
	}
	return entries
}

var approvalID = regexp.MustCompile(`A-[2-9A-HJKMNP-Z]{6}`)

// TestIncidentAtTheConsole is the third scene at the console: start, a
// command, an approved command, notes, changes, the timeline, resolve
// with its postmortem, and what is refused afterwards.
func TestIncidentAtTheConsole(t *testing.T) {
	r := newIncidentRig(t, nil)
	m := r.do(t, "console:alice", "console", `incident start sev2 "API 500s"`, bot.OutcomeOK)
	if !strings.Contains(m.Title, "INC-") || !strings.Contains(m.Title, "API 500s") {
		t.Fatalf("start: %s", text(m))
	}
	r.do(t, "console:alice", "console", "probe", bot.OutcomeOK)
	req := r.do(t, "console:alice", "console", "purge sessions", bot.OutcomePending)
	id := approvalID.FindString(text(req))
	r.do(t, "console:bob", "console", "approve "+id, bot.OutcomeOK)
	r.do(t, "console:alice", "console", "incident note checked the api logs", bot.OutcomeOK)
	r.do(t, "console:alice", "console", "incident status mitigating: rolled back", bot.OutcomeOK)
	r.do(t, "console:alice", "console", "incident severity sev1", bot.OutcomeOK)
	r.do(t, "console:alice", "console", "incident commander bob", bot.OutcomeOK)
	esc := r.do(t, "console:alice", "console", "incident escalate L2 need a developer", bot.OutcomeOK)
	if !strings.Contains(text(esc), "dev@company.com") {
		t.Errorf("escalation names the runbook's contact: %s", text(esc))
	}
	list := r.do(t, "console:carol", "console", "incident list", bot.OutcomeOK)
	if !strings.Contains(text(list), "SEV1") || !strings.Contains(text(list), "console:bob") {
		t.Errorf("list: %s", text(list))
	}
	tl := r.do(t, "console:alice", "console", "incident timeline", bot.OutcomeOK)
	var body string
	for _, c := range tl.Code {
		body += c.Text + "\n"
	}
	order := []string{"opened", "probe", "purge sessions", "pending", "approved", "result", "checked the api logs", "mitigating", "severity: SEV1", "commander: console:bob", "escalated to Level 2"}
	pos := 0
	for _, w := range order {
		i := strings.Index(body[pos:], w)
		if i < 0 {
			t.Fatalf("timeline lacks %q after position %d:\n%s", w, pos, body)
		}
		pos += i
	}
	if !strings.Contains(body, "(approved by console:bob)") || strings.Contains(body, "incident note") {
		t.Errorf("timeline:\n%s", body)
	}

	res := r.do(t, "console:alice", "console", "incident resolve rolled back the api", bot.OutcomeOK)
	md := code(res, "postmortem")
	for _, w := range []string{"# INC-", "postmortem (draft): API 500s", "## Summary", "rolled back the api", "Impact window", "## Timeline",
		"## Actions taken", "`purge sessions`: requested by console:alice, approved by console:bob", "## Follow-ups", "Level 2"} {
		if !strings.Contains(md, w) {
			t.Errorf("postmortem lacks %q:\n%s", w, md)
		}
	}
	if !strings.Contains(res.Title, "resolved after") {
		t.Errorf("resolve: %s", text(res))
	}
	again := r.do(t, "console:alice", "console", "incident resolve twice", bot.OutcomeUsage)
	if !strings.Contains(again.Text, "No incident is open here") {
		t.Errorf("second resolve: %s", text(again))
	}
	r.do(t, "console:alice", "console", "incident note too late", bot.OutcomeUsage)
	// Nothing after the resolve reached its timeline.
	open, _ := r.store.OpenIncidents(context.Background())
	if len(open) != 0 {
		t.Errorf("open after resolve: %+v", open)
	}
	var incID int64
	fmt.Sscanf(res.Title, "INC-%d", &incID)
	entries := r.timeline(t, incID)
	for _, e := range entries {
		if strings.Contains(e.What, "too late") || strings.Contains(e.What, "twice") {
			t.Errorf("entry after resolve: %+v", e)
		}
	}
	if r.probe.Load() != 1 {
		t.Errorf("probe ran %d times", r.probe.Load())
	}
}

// TestIncidentBadInput: one clear sentence each, nothing changed.
func TestIncidentBadInput(t *testing.T) {
	r := newIncidentRig(t, nil)
	r.do(t, "console:alice", "console", "incident note nothing is open", bot.OutcomeUsage)
	for line, want := range map[string]string{
		"incident start sev0 API down":                       "sev1 (the worst) to sev4",
		"incident start sev9 API down":                       "sev1 (the worst) to sev4",
		"incident start severe API down":                     "not a severity",
		"incident start sev2":                                "",
		`incident start sev2 ""`:                             "needs a title",
		"incident start sev2 " + strings.Repeat("x", 200):    "at most 150 characters",
		"incident start sev2 " + strings.Repeat("x", 10_000): "",
	} {
		m := r.do(t, "console:alice", "console", line, bot.OutcomeUsage)
		if !strings.Contains(m.Text, want) || strings.Count(strings.TrimSpace(m.Text), "\n") > 0 {
			t.Errorf("%.40s: %q, want one sentence with %q", line, m.Text, want)
		}
	}
	if open, _ := r.store.OpenIncidents(context.Background()); len(open) != 0 {
		t.Fatalf("a bad start opened %+v", open)
	}
	first := r.do(t, "console:alice", "console", "incident start sev3 cache misses", bot.OutcomeOK)
	second := r.do(t, "console:alice", "console", "incident start sev1 another", bot.OutcomeUsage)
	if !strings.Contains(second.Text, "already open here") {
		t.Errorf("second start: %s", second.Text)
	}
	for _, line := range []string{"incident commander 'bad;name'", "incident commander <@U123>", "incident severity sev5", "incident escalate L9 help"} {
		r.do(t, "console:alice", "console", line, bot.OutcomeUsage)
	}
	open, _ := r.store.OpenIncidents(context.Background())
	if len(open) != 1 || open[0].Severity != 3 || open[0].Commander != "console:alice" || !strings.Contains(first.Title, fmt.Sprintf("INC-%d", open[0].ID)) {
		t.Errorf("after bad input: %+v", open)
	}
	// The refused starts reserved nothing: the first real one is INC-1.
	if !strings.HasPrefix(first.Title, "INC-1 ") {
		t.Errorf("first incident: %s", first.Title)
	}
}

// TestTimelineSpoolsWhileTheDatabaseIsDown: entries made while the bot's
// database is unreachable wait in the spool, in order, and reach the
// database once, even when the bot dies between a write and the spool
// forgetting it.
func TestTimelineSpoolsWhileTheDatabaseIsDown(t *testing.T) {
	r := newIncidentRig(t, nil)
	start := r.do(t, "console:alice", "console", "incident start sev2 database down", bot.OutcomeOK)
	var incID int64
	fmt.Sscanf(start.Title, "INC-%d", &incID)

	r.store.down.Store(true)
	for n := 1; n <= 5; n++ {
		r.do(t, "console:alice", "console", fmt.Sprintf("probe %d", n), bot.OutcomeOK)
	}
	if r.sp.Len() != 5 {
		t.Fatalf("spooled %d entries, want 5", r.sp.Len())
	}
	note := r.do(t, "console:alice", "console", "incident note during the outage", bot.OutcomeFailed)
	if !strings.Contains(note.Text, "did not answer") {
		t.Errorf("note with the database down: %s", text(note))
	}
	// Flushing while it is down keeps everything.
	if n, err := r.tl.Flush(context.Background()); err == nil || n != 0 || r.sp.Len() != 5 {
		t.Fatalf("flush while down: %d %v, %d left", n, err, r.sp.Len())
	}

	// Back up, but the bot dies right after writing the second entry,
	// before the spool forgets it.
	r.store.down.Store(false)
	r.store.crashAfterWrite.Store(0)
	r.store.crashAfterWrite.Store(1) // the first write reports failure after writing
	n, err := r.tl.Flush(context.Background())
	if err == nil || n != 0 {
		t.Fatalf("flush with a crash: %d %v", n, err)
	}
	if err := r.sp.Close(); err != nil {
		t.Fatal(err)
	}
	// A new process: a new spool on the same directory, a healthy store.
	sp, err := spool.Open(r.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	if sp.Len() != 5 {
		t.Fatalf("after the restart the spool holds %d, want 5", sp.Len())
	}
	r.store.crashAfterWrite.Store(-1 << 30)
	tl := &state.Timeline{Store: r.store, Spool: state.SpoolTimeline(sp)}
	if n, err := tl.Flush(context.Background()); err != nil || n != 5 || sp.Len() != 0 {
		t.Fatalf("replay: %d %v, %d left", n, err, sp.Len())
	}
	entries := r.timeline(t, incID)
	var probes []string
	for _, e := range entries {
		if strings.HasPrefix(e.What, "probe") {
			probes = append(probes, e.What)
		}
	}
	if strings.Join(probes, ",") != "probe 1,probe 2,probe 3,probe 4,probe 5" {
		t.Errorf("replayed: %q (each once, in order)", probes)
	}
	// A second replay finds nothing; nothing is written twice.
	if n, _ := tl.Flush(context.Background()); n != 0 || len(r.timeline(t, incID)) != len(entries) {
		t.Errorf("second replay wrote %d", n)
	}
}

// TestIncidentRedactsWhatIsStored: a secret typed into a title, a note or
// a summary never reaches the database, the timeline or the postmortem.
func TestIncidentRedactsWhatIsStored(t *testing.T) {
	r := newIncidentRig(t, nil)
	red := redact.New("hunter2-very-secret")
	r.in.Redact, r.tl.Redact = red.Redact, red.Redact
	r.do(t, "console:alice", "console", "incident start sev2 leaked hunter2-very-secret", bot.OutcomeOK)
	r.do(t, "console:alice", "console", "incident note the password is hunter2-very-secret", bot.OutcomeOK)
	res := r.do(t, "console:alice", "console", "incident resolve rotated hunter2-very-secret", bot.OutcomeOK)
	inc, err := r.store.IncidentByID(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	all := inc.Title + inc.Summary + code(res, "postmortem")
	for _, e := range r.timeline(t, 1) {
		all += e.What + e.Outcome
	}
	if strings.Contains(all, "hunter2") || !strings.Contains(inc.Title, "leaked") {
		t.Errorf("a secret was stored: %s", all)
	}
}
