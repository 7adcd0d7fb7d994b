package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

// Escalation is one level of the runbook's Escalation Procedures: who is
// paged and how to reach them.
type Escalation struct {
	Name    string // "Development Team"
	Group   string // Slack user group ID (S…) mentioned and invited; "" = none configured
	Contact string // the runbook's contact
}

// DefaultEscalations are the runbook's levels and contacts (Escalation
// Procedures, Emergency Contacts); user groups come from configuration.
func DefaultEscalations() map[bot.Level]Escalation {
	return map[bot.Level]Escalation{
		bot.Level1: {Name: "Operations Team", Contact: "ops@company.com"},
		bot.Level2: {Name: "Development Team", Contact: "dev@company.com"},
		bot.Level3: {Name: "System Architects", Contact: "management@company.com"},
	}
}

// Incidents are the `incident …` commands: an incident's channel, its
// timeline, its escalations and its postmortem.
type Incidents struct {
	Store bot.Incidents // nil: incidents need the bot's database
	// Timeline records the incident commands' own entries (the bot's state
	// implements it, with its spool fallback).
	Timeline bot.TimelineRecorder
	// OpsChannel is where incidents are announced and, where the bot may
	// not create channels, handled in a thread ("" = where it was started).
	OpsChannel string
	// OnCallGroup is the Slack user group (S…) invited to every incident
	// channel; Escalations the levels paged by `incident escalate`.
	OnCallGroup string
	Escalations map[bot.Level]Escalation
	// Health, when set, gives the header's current health summary.
	Health func(ctx context.Context) bot.Message
	// Redact removes secrets from what people type before it is stored,
	// posted or uploaded (the engine's redactor; the engine redacts only
	// the reply).
	Redact func(string) string
	Log    logrus.FieldLogger
	Now    func() time.Time

	mu       sync.Mutex
	ws       bot.Workspace
	channels map[string]bool // incident channels seen (for Holds)
}

// Holds tells whether channel is an incident's own channel, for the
// transport's channel allowlist: a channel the bot created for an
// incident takes commands even when the allowlist does not name it.
func (in *Incidents) Holds(channel string) bool {
	in.mu.Lock()
	known := in.channels[channel]
	in.mu.Unlock()
	if known || in.Store == nil {
		return known
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	i, err := in.Store.OpenIncidentAt(ctx, channel, "")
	if err != nil || i.ThreadTS != "" || i.Channel != channel {
		return false
	}
	in.held(channel)
	return true
}

func (in *Incidents) held(channel string) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.channels == nil {
		in.channels = map[string]bool{}
	}
	in.channels[channel] = true
}

// SetWorkspace hands over the Slack side (channels, posts, files) once
// the transport exists; without one (the console) the incident's channel
// is where it was started.
func (in *Incidents) SetWorkspace(ws bot.Workspace) {
	in.mu.Lock()
	in.ws = ws
	in.mu.Unlock()
	if ws != nil && in.Timeline != nil {
		in.Timeline.SetLink(ws.Link)
	}
}

func (in *Incidents) workspace(channel string) bot.Workspace {
	in.mu.Lock()
	defer in.mu.Unlock()
	if channel == "console" {
		return nil
	}
	return in.ws
}

func (in *Incidents) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

func (in *Incidents) log() logrus.FieldLogger {
	if in.Log == nil {
		l := logrus.New()
		l.Out = io.Discard
		return l
	}
	return in.Log
}

// Limits of what people type.
const (
	maxTitle  = bot.MaxTitle
	maxNote   = 3000
	storeCall = 5 * time.Second
	pageSize  = 25
	maxPage   = bot.MaxInt4 / pageSize // the page's offset stays an int4
	pageChunk = 2400                   // bytes of timeline lines in one code block: one Slack section
)

var sevPattern = regexp.MustCompile(`(?i)^sev([0-9]+)$`)

func parseSeverity(s string) (int, error) {
	m := sevPattern.FindStringSubmatch(s)
	if m == nil {
		return 0, &bot.UsageError{Msg: fmt.Sprintf("%q is not a severity: use sev1 (the worst) to sev4.", clipText(s, 20))}
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 || n > 4 {
		return 0, &bot.UsageError{Msg: fmt.Sprintf("There is no %s: severities run from sev1 (the worst) to sev4.", clipText(strings.ToLower(s), 20))}
	}
	return n, nil
}

// argText joins the positional arguments from i: what people typed after
// the command, as one line.
func argText(req bot.Request, from int) string {
	if from >= len(req.Args.Positional) {
		return ""
	}
	return strings.TrimSpace(strings.Join(req.Args.Positional[from:], " "))
}

// typed is argText, redacted: what may be stored and posted.
func (in *Incidents) typed(req bot.Request, from int) string {
	s := argText(req, from)
	if in.Redact != nil {
		s = in.Redact(s)
	}
	return s
}

// Commands returns every incident command.
func (in *Incidents) Commands() []bot.Command {
	obj := func(name string) func(bot.Args) string { return func(bot.Args) string { return "incident:" + name } }
	c := func(name, usage, summary, help string, min, max int, run func(context.Context, bot.Request) (bot.Message, error)) bot.Command {
		return bot.Command{Name: "incident " + name, Usage: usage, Summary: summary, Help: help, MinArgs: min, MaxArgs: max,
			Object: obj(name), Level: bot.Level1, Risk: bot.ReadOnly, Timeout: 45 * time.Second, Run: run}
	}
	return withPageFlag([]bot.Command{
		c("start", "<sev1..sev4> <title>", "open an incident: its own channel, the on-call invited, a header and an announcement",
			"Opens INC-<n> with a channel inc-<yyyymmdd>-<slug> (or, where the bot may not create channels, a thread in the ops channel), "+
				"invites you and the on-call group, posts a header (severity, title, commander, start, current health) and announces it in the ops channel. "+
				"From then on every command run in that channel or thread, every approval and every result is on its timeline. At the console the incident lives at the console.",
			2, -1, in.start),
		c("note", "<text>", "add a note to the timeline of the incident open here", "", 1, -1, in.note),
		c("status", "<text>", "post a status update of the incident open here (and put it on its timeline)", "", 1, -1, in.status),
		c("escalate", "<L2|L3> <reason>", "page the next level of the runbook's Escalation Procedures",
			"Mentions the level's user group in the incident's channel, invites its members, names the runbook's contact and records it on the timeline.", 2, -1, in.escalate),
		c("commander", "<@user>", "name the incident commander", "", 1, 1, in.commander),
		c("severity", "<sev1..sev4>", "change the incident's severity", "", 1, 1, in.severity),
		c("timeline", "[--page N]", "the incident's timeline, in order, a page at a time", "", 0, 0, in.timeline),
		c("list", "", "the open incidents", "", 0, 0, in.list),
		c("resolve", "<summary>", "close the incident with its duration and a postmortem draft",
			"Closes the incident open here, once, and writes a Markdown postmortem draft (summary, impact window, timeline, actions with requester and approver, follow-ups): uploaded to the incident's channel in Slack, shown as text at the console.",
			1, -1, in.resolve),
	})
}

func withPageFlag(cmds []bot.Command) []bot.Command {
	for i := range cmds {
		if cmds[i].Name == "incident timeline" {
			cmds[i].Flags = []bot.Flag{{Name: "page", Kind: bot.FlagInt, Default: "1", Usage: "which page (" + strconv.Itoa(pageSize) + " entries each)",
				Min: 1, Max: maxPage}}
		}
	}
	return cmds
}

var errNoDatabase = errors.New("incidents need the bot's own database (SHIFTWISE_DATABASE_URL), and this bot runs without it; nothing was changed")

func (in *Incidents) needStore() error {
	if in.Store == nil {
		return errNoDatabase
	}
	return nil
}

// here is the incident open where req was typed.
func (in *Incidents) here(ctx context.Context, req bot.Request) (bot.Incident, error) {
	if err := in.needStore(); err != nil {
		return bot.Incident{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, storeCall)
	defer cancel()
	i, err := in.Store.OpenIncidentAt(sctx, req.Channel, req.Thread)
	if errors.Is(err, bot.ErrNoIncident) {
		return bot.Incident{}, &bot.UsageError{Msg: "No incident is open here: run it in the incident's channel (or thread), or start one with `incident start <sev> <title>`. Nothing was changed."}
	}
	if err != nil {
		return bot.Incident{}, fmt.Errorf("the bot's database did not answer (%v); nothing was changed", err)
	}
	return i, nil
}

// Name is INC-<n>.
func Name(i bot.Incident) string { return fmt.Sprintf("INC-%d", i.ID) }

func sevName(n int) string { return fmt.Sprintf("SEV%d", n) }

var slugChars = regexp.MustCompile(`[^a-z0-9]+`)

// channelName is inc-<yyyymmdd>-<slug>, within Slack's 80 characters.
func channelName(at time.Time, title string) string {
	slug := strings.Trim(slugChars.ReplaceAllString(strings.ToLower(title), "-"), "-")
	if len(slug) > 50 {
		slug = strings.TrimRight(slug[:50], "-")
	}
	if slug == "" {
		slug = "incident"
	}
	return "inc-" + at.UTC().Format("20060102") + "-" + slug
}

func (in *Incidents) start(ctx context.Context, req bot.Request) (bot.Message, error) {
	sev, err := parseSeverity(req.Args.First())
	if err != nil {
		return bot.Message{}, err
	}
	title := in.typed(req, 1)
	switch n := len([]rune(title)); {
	case n == 0:
		return bot.Message{}, &bot.UsageError{Msg: "An incident needs a title: `incident start sev2 API 500s`."}
	case n > maxTitle:
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("A title is at most %d characters (this one has %d): put the detail in `incident note`.", maxTitle, n)}
	}
	if err := in.needStore(); err != nil {
		return bot.Message{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, storeCall)
	cur, err := in.Store.OpenIncidentAt(sctx, req.Channel, req.Thread)
	cancel()
	switch {
	case err == nil:
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("%s (%s) is already open here: one incident per channel. Nothing was started.", Name(cur), clipText(cur.Title, 60))}
	case !errors.Is(err, bot.ErrNoIncident):
		return bot.Message{}, fmt.Errorf("the bot's database did not answer (%v); nothing was started", err)
	}
	started := in.now().UTC()
	sctx, cancel = context.WithTimeout(ctx, storeCall)
	inc, err := in.Store.ReserveIncident(sctx, bot.Incident{Severity: sev, Title: title, Commander: req.Subject, OpenedBy: req.Subject,
		OriginChannel: req.Channel, StartedAt: started})
	cancel()
	if err != nil {
		return bot.Message{}, fmt.Errorf("the bot's database did not take the incident (%v); nothing was started", err)
	}
	// Reserved: from here on, anything that fails undoes what was made.
	inc, where, notes, err := in.open(ctx, req, inc)
	if err != nil {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeCall)
		if derr := in.Store.DropIncident(dctx, inc.ID); derr != nil {
			in.log().WithFields(logrus.Fields{"incident": Name(inc), "error": derr.Error()}).Error("reserved incident not dropped (it stays invisible)")
		}
		cancel()
		return bot.Message{}, err
	}
	_ = in.Timeline.Record(ctx, inc.Channel, inc.ThreadTS, bot.TimelineEntry{At: inc.StartedAt, Who: req.Subject, Kind: "opened",
		What: fmt.Sprintf("incident start %s %s", strings.ToLower(sevName(sev)), title), Outcome: Name(inc) + " opened " + where, Link: inc.Link})
	m := bot.Message{
		Title:  fmt.Sprintf("%s opened: %s", Name(inc), title),
		Status: bot.StatusWarn,
		Text:   fmt.Sprintf("%s, %s. Everything run there from now on lands on its timeline.", sevName(sev), where),
		Fields: []bot.Field{
			{Name: "Severity", Value: sevName(sev)},
			{Name: "Commander", Value: inc.Commander},
			{Name: "Started", Value: inc.StartedAt.Format("2006-01-02 15:04:05 UTC")},
		},
	}
	if len(notes) > 0 {
		m.Fields = append(m.Fields, bot.Field{Name: "Note", Value: strings.Join(notes, " ")})
	}
	return m, nil
}

// open gives a reserved incident its place: a new channel, a thread of
// the ops channel, or (at the console) where it was started; it invites,
// posts the header and announces. An error means nothing is left behind.
func (in *Incidents) open(ctx context.Context, req bot.Request, inc bot.Incident) (bot.Incident, string, []string, error) {
	ws := in.workspace(req.Channel)
	activate := func(channel, thread, link string) (bot.Incident, error) {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeCall)
		defer cancel()
		got, err := in.Store.ActivateIncident(sctx, inc.ID, channel, thread, link)
		if errors.Is(err, bot.ErrIncidentHere) {
			return inc, &bot.UsageError{Msg: "Another incident was opened here a moment ago. Nothing was started."}
		}
		if err != nil {
			return inc, fmt.Errorf("the bot's database did not take the incident (%v); nothing was started", err)
		}
		return got, nil
	}
	if ws == nil {
		got, err := activate(req.Channel, req.Thread, "")
		return got, "here", nil, err
	}
	var notes []string
	health := in.healthLine(ctx)
	ops := in.OpsChannel
	if ops == "" {
		ops = req.Channel
	}
	base := channelName(inc.StartedAt, inc.Title)
	var channel string
	var err error
	name := base
	for try := 1; try <= 5; try++ {
		if try > 1 {
			name = fmt.Sprintf("%s-%d", base, try)
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		channel, err = ws.CreateChannel(cctx, name)
		cancel()
		if !errors.Is(err, bot.ErrNameTaken) {
			break
		}
	}
	switch {
	case errors.Is(err, bot.ErrRestricted):
		// Handled in a thread of the ops channel instead: the header is
		// the thread's first message.
		in.log().WithFields(logrus.Fields{"incident": Name(inc), "error": err.Error()}).Warn("incident channel not created; using a thread of the ops channel")
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ts, perr := ws.Post(pctx, ops, "", in.header(inc, health, "This thread is the incident's channel: the bot may not create channels here."), notify(in.OnCallGroup)...)
		cancel()
		if perr != nil {
			return inc, "", nil, fmt.Errorf("the incident's thread could not be posted (%v); nothing was started", perr)
		}
		got, aerr := activate(ops, ts, ws.Link(ops, ts))
		if aerr != nil {
			in.retract(ctx, ws, ops, ts, inc)
			return inc, "", nil, aerr
		}
		return got, "in a thread of the ops channel (the bot may not create channels)", []string{"No channel: the bot may not create channels in this workspace, so the incident lives in a thread of the ops channel."}, nil
	case errors.Is(err, bot.ErrNameTaken):
		return inc, "", nil, fmt.Errorf("channels %s to %s-5 are all taken; nothing was started: give the incident another title", base, base)
	case err != nil:
		return inc, "", nil, fmt.Errorf("the incident's channel could not be created (%v); nothing was started", err)
	}
	got, err := activate(channel, "", ws.Link(channel, ""))
	if err == nil {
		in.held(channel)
	}
	if err != nil {
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if aerr := ws.ArchiveChannel(actx, channel); aerr != nil {
			in.log().WithFields(logrus.Fields{"channel": channel, "error": aerr.Error()}).Error("incident channel without its record NOT archived")
			// Say so: the channel stays, and a person must archive it.
			err = fmt.Errorf("%w; its channel %s could not be archived (%v): archive it by hand", err, ws.ChannelRef(channel), aerr)
		}
		cancel()
		return inc, "", nil, err
	}
	invite := []string{}
	if u, ok := strings.CutPrefix(req.Subject, "slack:"); ok {
		invite = append(invite, u)
	}
	if in.OnCallGroup != "" {
		gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		members, gerr := ws.GroupMembers(gctx, in.OnCallGroup)
		cancel()
		if gerr != nil {
			notes = append(notes, "The on-call group could not be read, so it was not invited.")
			in.log().WithField("error", gerr.Error()).Warn("on-call group not read")
		}
		invite = append(invite, members...)
	}
	ictx, cancel := context.WithTimeout(ctx, 15*time.Second)
	if ierr := ws.Invite(ictx, channel, dedupe(invite)); ierr != nil {
		notes = append(notes, "Some invitations failed: "+ierr.Error()+".")
	}
	cancel()
	hctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	if _, herr := ws.Post(hctx, channel, "", in.header(got, health, ""), req.Subject); herr != nil {
		notes = append(notes, "The header was not posted.")
		in.log().WithField("error", herr.Error()).Warn("incident header not posted")
	}
	cancel()
	actx, cancel := context.WithTimeout(ctx, 10*time.Second)
	ann := bot.Message{Title: fmt.Sprintf("%s · %s · %s", Name(got), sevName(got.Severity), got.Title), Status: bot.StatusWarn,
		Text: fmt.Sprintf("Incident opened by %s in #%s (%s). Join it there; commander %s.", got.OpenedBy, name, ws.Link(channel, ""), got.Commander)}
	if _, aerr := ws.Post(actx, ops, "", ann, notify(in.OnCallGroup)...); aerr != nil {
		notes = append(notes, "The announcement in the ops channel was not posted.")
		in.log().WithField("error", aerr.Error()).Warn("incident announcement not posted")
	}
	cancel()
	return got, "in #" + name, notes, nil
}

// retract removes a thread header whose incident could not be recorded.
func (in *Incidents) retract(ctx context.Context, ws bot.Workspace, channel, ts string, inc bot.Incident) {
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, _ = ws.Post(pctx, channel, ts, bot.Message{Title: "Not opened", Status: bot.StatusFailed,
		Text: fmt.Sprintf("%s was not recorded; this thread is not an incident.", Name(inc))})
}

func notify(group string) []string {
	if group == "" {
		return nil
	}
	return []string{"slack-group:" + group}
}

func dedupe(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

// healthLine is the current health's summary for the header.
func (in *Incidents) healthLine(ctx context.Context) string {
	if in.Health == nil {
		return ""
	}
	hctx, cancel := context.WithTimeout(ctx, 8*time.Second)
	defer cancel()
	m := in.Health(hctx)
	s := m.Summary
	var failed []string
	for _, c := range m.Checks {
		if c.Status == bot.StatusFailed {
			failed = append(failed, c.Name)
		}
	}
	if len(failed) > 0 {
		s += " — " + strings.Join(failed, ", ")
	}
	return s
}

func (in *Incidents) header(i bot.Incident, health, extra string) bot.Message {
	m := bot.Message{
		Title:  fmt.Sprintf("%s · %s · %s", Name(i), sevName(i.Severity), i.Title),
		Status: bot.StatusWarn,
		Text: "Everything run here (`/shiftwise …`, or `@shiftwise …` in a thread) lands on this incident's timeline. " +
			"`incident note <text>` adds to it; `incident timeline` shows it; `incident resolve <summary>` closes it.",
		Fields: []bot.Field{
			{Name: "Severity", Value: sevName(i.Severity)},
			{Name: "Commander", Value: i.Commander},
			{Name: "Started", Value: i.StartedAt.Format("2006-01-02 15:04:05 UTC")},
			{Name: "Opened by", Value: i.OpenedBy},
		},
	}
	if health != "" {
		m.Fields = append(m.Fields, bot.Field{Name: "Health now", Value: health})
	}
	if extra != "" {
		m.Text = extra + " " + m.Text
	}
	return m
}

// record puts an incident command's own entry on the timeline and says
// whether it waits in the spool.
func (in *Incidents) record(ctx context.Context, i bot.Incident, e bot.TimelineEntry) string {
	err := in.Timeline.Record(ctx, i.Channel, i.ThreadTS, e)
	switch {
	case err == nil:
		return ""
	case errors.Is(err, bot.ErrSpooled):
		return " The bot's database did not answer: the entry is kept in the spool and written when it is back."
	}
	return " The entry could not be recorded: " + err.Error()
}

func (in *Incidents) note(ctx context.Context, req bot.Request) (bot.Message, error) {
	t := in.typed(req, 0)
	if len([]rune(t)) > maxNote {
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("A note is at most %d characters.", maxNote)}
	}
	i, err := in.here(ctx, req)
	if err != nil {
		return bot.Message{}, err
	}
	extra := in.record(ctx, i, bot.TimelineEntry{Who: req.Subject, Kind: "note", What: t, Outcome: "noted"})
	return bot.Message{Title: "Noted on " + Name(i), Text: t + extra}, nil
}

func (in *Incidents) status(ctx context.Context, req bot.Request) (bot.Message, error) {
	t := in.typed(req, 0)
	if len([]rune(t)) > maxNote {
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("A status update is at most %d characters.", maxNote)}
	}
	i, err := in.here(ctx, req)
	if err != nil {
		return bot.Message{}, err
	}
	extra := in.record(ctx, i, bot.TimelineEntry{Who: req.Subject, Kind: "status", What: t, Outcome: "status update"})
	if ws := in.workspace(i.Channel); ws != nil && in.OpsChannel != "" && in.OpsChannel != i.Channel {
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, perr := ws.Post(pctx, in.OpsChannel, "", bot.Message{Title: fmt.Sprintf("%s status · %s", Name(i), sevName(i.Severity)), Text: t}); perr != nil {
			extra += " The update was not posted in the ops channel."
		}
		cancel()
	}
	return bot.Message{Title: fmt.Sprintf("%s status · %s · %s", Name(i), sevName(i.Severity), i.Title), Status: bot.StatusWarn, Text: t + extra,
		Fields: []bot.Field{{Name: "Commander", Value: i.Commander}, {Name: "Open for", Value: in.now().Sub(i.StartedAt).Round(time.Second).String()}}}, nil
}

func (in *Incidents) escalate(ctx context.Context, req bot.Request) (bot.Message, error) {
	var level bot.Level
	switch strings.ToUpper(req.Args.First()) {
	case "L2":
		level = bot.Level2
	case "L3":
		level = bot.Level3
	default:
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("Escalate to L2 (Development Team) or L3 (System Architects), not %q.", clipText(req.Args.First(), 20))}
	}
	reason := in.typed(req, 1)
	if len([]rune(reason)) > maxNote {
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("A reason is at most %d characters.", maxNote)}
	}
	i, err := in.here(ctx, req)
	if err != nil {
		return bot.Message{}, err
	}
	esc := in.Escalations[level]
	if esc.Name == "" {
		esc = DefaultEscalations()[level]
	}
	page := bot.Message{Title: fmt.Sprintf("%s escalated to %s: %s", Name(i), level, esc.Name), Status: bot.StatusWarn,
		Text:   fmt.Sprintf("%s asks %s for help with %s (%s, %s): %s", req.Subject, esc.Name, Name(i), sevName(i.Severity), i.Title, reason),
		Fields: []bot.Field{{Name: "Contact", Value: esc.Contact}}}
	outcome := "paged " + esc.Name
	var extra string
	if ws := in.workspace(i.Channel); ws != nil {
		if esc.Group != "" {
			if i.ThreadTS == "" {
				gctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				members, gerr := ws.GroupMembers(gctx, esc.Group)
				if gerr == nil {
					gerr = ws.Invite(gctx, i.Channel, members)
				}
				cancel()
				if gerr != nil {
					extra += " Not everyone in the group could be invited: " + gerr.Error() + "."
				}
			}
		} else {
			extra += fmt.Sprintf(" No Slack user group is configured for %s: reach them at %s.", esc.Name, esc.Contact)
			outcome += " (no group configured)"
		}
		pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, perr := ws.Post(pctx, i.Channel, i.ThreadTS, page, notify(esc.Group)...)
		cancel()
		if perr != nil {
			extra += " The page was not posted: " + perr.Error() + "."
			outcome += " (page not posted)"
		}
	} else {
		extra += fmt.Sprintf(" At the console nobody is paged: reach %s at %s.", esc.Name, esc.Contact)
	}
	extra += in.record(ctx, i, bot.TimelineEntry{Who: req.Subject, Kind: "escalation", What: fmt.Sprintf("escalated to %s (%s): %s", level, esc.Name, reason), Outcome: outcome})
	page.Text += "." + extra
	return page, nil
}

// consoleName is a person named at the console, where there is no
// workspace to mention them in.
var consoleName = regexp.MustCompile(`^(console:)?[A-Za-z0-9._@-]{1,64}$`)

func (in *Incidents) commander(ctx context.Context, req bot.Request) (bot.Message, error) {
	arg := req.Args.First()
	var who string
	ws := in.workspace(req.Channel)
	var user, subject string
	var mentioned bool
	if ws != nil {
		user, subject, mentioned = ws.Person(arg)
	}
	switch {
	case mentioned:
		uctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := ws.UserExists(uctx, user)
		cancel()
		if err != nil {
			return bot.Message{}, fmt.Errorf("Slack did not say whether %s is a user (%v); nothing was changed", user, err)
		}
		if !ok {
			return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("%s is not a member of this workspace; nothing was changed.", user)}
		}
		who = subject
	case ws == nil && consoleName.MatchString(arg) && !strings.HasPrefix(arg, "@"):
		who = "console:" + strings.TrimPrefix(arg, "console:")
	default:
		if ws != nil {
			return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("%q is not a user: mention them, `incident commander @name`. Nothing was changed.", clipText(arg, 40))}
		}
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("%q is not a user name (letters, digits, '.', '_', '@', '-'). Nothing was changed.", clipText(arg, 40))}
	}
	i, err := in.here(ctx, req)
	if err != nil {
		return bot.Message{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, storeCall)
	got, err := in.Store.SetCommander(sctx, i.ID, who)
	cancel()
	if err != nil {
		return bot.Message{}, in.changeErr(i, err)
	}
	extra := in.record(ctx, got, bot.TimelineEntry{Who: req.Subject, Kind: "commander", What: "commander: " + who, Outcome: "was " + i.Commander})
	return bot.Message{Title: fmt.Sprintf("%s commander: %s", Name(got), who), Text: "Was " + i.Commander + "." + extra}, nil
}

func (in *Incidents) changeErr(i bot.Incident, err error) error {
	if errors.Is(err, bot.ErrIncidentResolved) {
		return &bot.UsageError{Msg: Name(i) + " is already resolved; nothing was changed."}
	}
	return fmt.Errorf("the bot's database did not answer (%v); nothing was changed", err)
}

func (in *Incidents) severity(ctx context.Context, req bot.Request) (bot.Message, error) {
	sev, err := parseSeverity(req.Args.First())
	if err != nil {
		return bot.Message{}, err
	}
	i, err := in.here(ctx, req)
	if err != nil {
		return bot.Message{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, storeCall)
	got, err := in.Store.SetSeverity(sctx, i.ID, sev)
	cancel()
	if err != nil {
		return bot.Message{}, in.changeErr(i, err)
	}
	extra := in.record(ctx, got, bot.TimelineEntry{Who: req.Subject, Kind: "severity", What: "severity: " + sevName(sev), Outcome: "was " + sevName(i.Severity)})
	return bot.Message{Title: fmt.Sprintf("%s is now %s", Name(got), sevName(sev)), Status: bot.StatusWarn, Text: "Was " + sevName(i.Severity) + "." + extra}, nil
}

// entryLine is one timeline line: time, who, what, outcome.
func entryLine(e bot.TimelineEntry) string {
	line := fmt.Sprintf("%s  %-7s %s  %s", e.At.UTC().Format("15:04:05"), e.Kind, clipText(oneLine(e.Who), 30), clipText(oneLine(e.What), 120))
	if e.Outcome != "" {
		line += " → " + clipText(oneLine(e.Outcome), 60)
	}
	if e.Approver != "" {
		line += " (" + decidedBy(e.Outcome) + " " + clipText(e.Approver, 30) + ")"
	}
	return line
}

// decidedBy names what the person in an entry's Approver did, from the
// decision its outcome starts with: a request withdrawn by its requester
// or denied is never shown as approved, nor is a refused attempt.
func decidedBy(outcome string) string {
	word, _, _ := strings.Cut(outcome, ":")
	switch strings.TrimSpace(word) {
	case "withdrawn":
		return "withdrawn by"
	case "denied":
		return "denied by"
	case "refused":
		return "tried by"
	}
	return "approved by"
}

func (in *Incidents) timeline(ctx context.Context, req bot.Request) (bot.Message, error) {
	page := req.Args.Int("page")
	if page < 1 {
		return bot.Message{}, &bot.UsageError{Msg: "Pages start at 1."}
	}
	i, err := in.here(ctx, req)
	if err != nil {
		return bot.Message{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, storeCall)
	entries, total, err := in.Store.Timeline(sctx, i.ID, (page-1)*pageSize, pageSize)
	cancel()
	if err != nil {
		return bot.Message{}, fmt.Errorf("the bot's database did not answer (%v)", err)
	}
	pages := max(1, (total+pageSize-1)/pageSize)
	if page > pages {
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("%s's timeline has %d page(s) of %d entries.", Name(i), pages, pageSize)}
	}
	// A page is one message: code blocks of at most pageChunk characters,
	// each within one Slack section, together under the upload threshold.
	// Sizes count what chat escaping makes of & < > (up to 5 characters).
	var code []bot.CodeBlock
	var chunk strings.Builder
	size := 0
	for _, e := range entries {
		line := entryLine(e)
		cost := len(line) + 4*strings.Count(line, "&") + 3*(strings.Count(line, "<")+strings.Count(line, ">")) + 1
		if chunk.Len() > 0 && size+cost >= pageChunk {
			code = append(code, bot.CodeBlock{Text: chunk.String()})
			chunk.Reset()
			size = 0
		}
		size += cost
		if chunk.Len() > 0 {
			chunk.WriteByte('\n')
		}
		chunk.WriteString(line)
	}
	if chunk.Len() > 0 {
		code = append(code, bot.CodeBlock{Text: chunk.String()})
	}
	m := bot.Message{
		Title: fmt.Sprintf("%s timeline · %s · %s", Name(i), sevName(i.Severity), i.Title),
		Code:  code,
		Summary: fmt.Sprintf("Page %d of %d · entries %d–%d of %d (UTC)", page, pages,
			min(total, (page-1)*pageSize+1), (page-1)*pageSize+len(entries), total),
	}
	if page < pages {
		m.Summary += fmt.Sprintf(" · next: `incident timeline --page %d`", page+1)
	}
	if n := in.Timeline.Pending(); n > 0 {
		m.Text = fmt.Sprintf("%d entries wait in the spool for the bot's database and are not shown yet.", n)
	}
	return m, nil
}

func (in *Incidents) list(ctx context.Context, req bot.Request) (bot.Message, error) {
	if err := in.needStore(); err != nil {
		return bot.Message{}, err
	}
	sctx, cancel := context.WithTimeout(ctx, storeCall)
	open, err := in.Store.OpenIncidents(sctx)
	cancel()
	if err != nil {
		return bot.Message{}, fmt.Errorf("the bot's database did not answer (%v)", err)
	}
	m := bot.Message{Title: "Open incidents"}
	if len(open) == 0 {
		m.Text = "No incident is open."
		return m, nil
	}
	var lines []string
	for _, i := range open {
		where := i.Channel
		if i.Link != "" {
			where = i.Link
		}
		lines = append(lines, fmt.Sprintf("%-7s %s  %s  commander %s  open %s  %s", Name(i), sevName(i.Severity), clipText(i.Title, 60),
			i.Commander, in.now().Sub(i.StartedAt).Round(time.Second), where))
	}
	m.Code = []bot.CodeBlock{{Text: strings.Join(lines, "\n")}}
	m.Summary = fmt.Sprintf("%d open", len(open))
	return m, nil
}

func (in *Incidents) resolve(ctx context.Context, req bot.Request) (bot.Message, error) {
	summary := in.typed(req, 0)
	if len([]rune(summary)) > maxNote {
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("A summary is at most %d characters.", maxNote)}
	}
	if err := in.needStore(); err != nil {
		return bot.Message{}, err
	}
	i, err := in.here(ctx, req)
	if err != nil {
		var ue *bot.UsageError
		if errors.As(err, &ue) {
			ue.Msg = "No incident is open here (it may be resolved already). Nothing was changed."
		}
		return bot.Message{}, err
	}
	at := in.now().UTC()
	sctx, cancel := context.WithTimeout(ctx, storeCall)
	got, err := in.Store.ResolveIncident(sctx, i.ID, summary, at)
	cancel()
	if err != nil {
		return bot.Message{}, in.changeErr(i, err)
	}
	dur := got.ResolvedAt.Sub(got.StartedAt).Round(time.Second)
	extra := in.record(ctx, got, bot.TimelineEntry{At: got.ResolvedAt, Who: req.Subject, Kind: "resolved", What: "resolved: " + summary, Outcome: "after " + dur.String()})
	md, perr := in.Postmortem(ctx, got)
	if in.Redact != nil {
		md = in.Redact(md)
	}
	m := bot.Message{
		Title:  fmt.Sprintf("%s resolved after %s: %s", Name(got), dur, got.Title),
		Status: bot.StatusOK,
		Text:   summary + extra,
		Fields: []bot.Field{
			{Name: "Impact window", Value: fmt.Sprintf("%s – %s (%s)", got.StartedAt.Format("2006-01-02 15:04:05"), got.ResolvedAt.Format("15:04:05 UTC"), dur)},
			{Name: "Severity", Value: sevName(got.Severity)},
			{Name: "Commander", Value: got.Commander},
		},
	}
	if perr != nil {
		m.Text += " The postmortem draft could not be written: " + perr.Error()
		return m, nil
	}
	if ws := in.workspace(got.Channel); ws != nil {
		uctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		err := ws.Upload(uctx, got.Channel, got.ThreadTS, strings.ToLower(Name(got))+"-postmortem.md", Name(got)+" postmortem draft", []byte(md))
		cancel()
		if err != nil {
			m.Text += " The postmortem draft was not uploaded: " + err.Error()
			m.Code = []bot.CodeBlock{{Title: "postmortem draft (Markdown)", Text: md}}
		} else {
			m.Text += " The postmortem draft (Markdown) is uploaded to the incident's channel."
		}
		if in.OpsChannel != "" && in.OpsChannel != got.Channel {
			actx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_, _ = ws.Post(actx, in.OpsChannel, "", bot.Message{Title: m.Title, Status: bot.StatusOK, Text: summary})
			cancel()
		}
	} else {
		m.Code = []bot.CodeBlock{{Title: "postmortem draft (Markdown)", Text: md}}
	}
	return m, nil
}

// clipText keeps at most n runes of s.
func clipText(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	r = []rune(redact.Builtin(s)) // a secret cut in two is no longer recognised
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n]) + "…"
}
