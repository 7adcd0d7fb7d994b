package commands

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/integrations/docker"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

// Symptom is one section of the runbook's Troubleshooting Guide or
// Emergency Response Procedures: its diagnosis steps as read-only command
// lines (run at once), its resolution steps as command lines offered as
// buttons (gated when pressed), and the steps the bot does not do.
type Symptom struct {
	Name    string // what people type: "api-500"
	Title   string // the runbook's heading
	Section string // where it is in the runbook
	// Diagnose are read-only command lines, run concurrently.
	Diagnose []string
	// Resolve are the resolution steps, offered as buttons.
	Resolve []Resolution
	// Checklist is what the runbook asks that the bot does not do.
	Checklist []string
	// LogSnapshot keeps a copy of every service's recent logs in a file
	// and counts its suspicious lines (the security runbook).
	LogSnapshot bool
}

// Resolution is one resolution step: when to take it and the line to run.
type Resolution struct {
	When, Line string
}

// Symptoms are the runbook's symptom sections, in its order. Every line
// must parse in the full registry (a test checks it).
var Symptoms = []Symptom{
	{
		Name: "api-500", Title: "API returns 500 errors", Section: "Troubleshooting Guide › API Service Issues",
		Diagnose: []string{"logs api --tail 100", "health", "db test", "stats api"},
		Resolve: []Resolution{
			{"If memory is the issue", "restart api"},
			{"If database connectivity is the issue (then restart api)", "restart postgres"},
			{"If database connectivity is the issue, after postgres", "restart api"},
			{"If the issue persists", "restart all"},
		},
	},
	{
		Name: "slow-api", Title: "Slow API response times", Section: "Troubleshooting Guide › API Service Issues",
		Diagnose: []string{"health", "db slow-queries", "stats"},
		Resolve: []Resolution{
			{"Clear the cache (FLUSHDB of the operated database; the runbook's FLUSHALL is `cache flush --all`, Level 3)", "cache flush"},
			{"Restart the API", "restart api"},
			{"If the database is slow, run maintenance", "db vacuum"},
		},
	},
	{
		Name: "db-refused", Title: "Database connection refused", Section: "Troubleshooting Guide › Database Issues",
		Diagnose: []string{"status", "logs postgres --tail 50", "host", "top postgres"},
		Resolve: []Resolution{
			{"If the container is down", "start postgres"},
			{"If disk space is the issue: old logs and backups", "cleanup"},
			{"If corruption is suspected: see the backups, then `backup restore <file>` (Level 3)", "backup list"},
		},
	},
	{
		Name: "db-slow", Title: "Database performance issues", Section: "Troubleshooting Guide › Database Issues",
		Diagnose: []string{"db connections", "db long-running --older 30s", "db size", "db slow-queries", "db tables"},
		Resolve: []Resolution{
			{"Kill queries running for over 5 minutes", "db kill-long-running --older 5m"},
			{"Run database maintenance", "db vacuum"},
			{"Restart PostgreSQL", "restart postgres"},
		},
	},
	{
		Name: "frontend-down", Title: "Frontend not loading", Section: "Troubleshooting Guide › Frontend Issues",
		Diagnose: []string{"status", "logs frontend --tail 50", "logs nginx --tail 50", "health"},
		Resolve: []Resolution{
			{"Restart the frontend", "restart frontend"},
			{"If nginx is the issue", "restart nginx"},
		},
		Checklist: []string{"Rebuilding the frontend (`up -d --build`) is out of the bot's scope: build and `deploy frontend <image:tag>` instead."},
	},
	{
		Name: "cache", Title: "Cache not working", Section: "Troubleshooting Guide › Redis Cache Issues",
		Diagnose: []string{"cache status", "logs redis --tail 50"},
		Resolve: []Resolution{
			{"Clear the cache (FLUSHDB; FLUSHALL is `cache flush --all`, Level 3)", "cache flush"},
			{"Restart Redis", "restart redis"},
		},
	},
	{
		Name: "outage", Title: "Complete system outage", Section: "Emergency Response Procedures",
		Diagnose: []string{"status", "health", "host", "errors --since 1h"},
		Resolve: []Resolution{
			{"Restart all services", "restart all"},
			{"If still down: full restart, first stop everything", "stop all"},
			{"…then start everything", "start all"},
			{"If issues persist, roll back the last deploy", "rollback"},
		},
	},
	{
		Name: "db-corruption", Title: "Database corruption", Section: "Emergency Response Procedures",
		Diagnose: []string{"status", "logs postgres --tail 100", "backup list"},
		Resolve: []Resolution{
			{"Stop all services", "stop all"},
			{"Back up the current state (even if corrupted)", "backup create"},
			{"Restore the latest good backup: `backup restore <file>` (Level 3; takes a safety backup first, then runs health)", "backup list"},
			{"Start all services", "start all"},
		},
	},
	{
		Name: "security", Title: "Security incident", Section: "Emergency Response Procedures",
		Diagnose:    []string{"status"},
		LogSnapshot: true,
		Resolve: []Resolution{
			{"Stop all services", "stop all"},
			{"Start again once the credentials are changed", "start all"},
		},
		Checklist: []string{
			"Change all passwords: update the .env file with new passwords (the bot never edits secrets).",
			"Regenerate the JWT secrets.",
			"Restart with the new credentials (`start all`).",
			"Start an incident for the record: `incident start sev1 \"security incident\"`.",
		},
	},
}

// RunbookPolicy is what the symptom runbooks need of the policy: whether
// the asker may run each diagnosis, and the level each resolution needs.
type RunbookPolicy interface {
	bot.Authorizer
	Requirement(cmd *bot.Command, args bot.Args) (bot.Level, bool)
}

// ProjectLogs is what the security runbook's log snapshot reads.
type ProjectLogs interface {
	Containers(ctx context.Context) ([]docker.Container, error)
	ScanLogs(ctx context.Context, containerID string, since time.Time, fn func(ts time.Time, line []byte)) error
}

// Runbook runs a symptom's diagnosis steps at once and offers its
// resolution steps.
type Runbook struct {
	// Parse resolves a command line in the bot's registry.
	Parse  func(line string) (*bot.Command, bot.Args, error)
	Policy RunbookPolicy
	// Logs and DataDir serve the security runbook's log snapshot.
	Logs    ProjectLogs
	DataDir string
	// LogWindow is how far back the snapshot reads (default 24h).
	LogWindow time.Duration
	Now       func() time.Time
	// Redact is the bot's redactor (nil: the built-in rules alone): the
	// snapshot file holds redacted lines, and each step's output is
	// redacted before it is cut to a summary line.
	Redact func(string) string
}

func (r *Runbook) redact(s string) string {
	if r.Redact != nil {
		return r.Redact(s)
	}
	return redact.Builtin(s)
}

// runbookTimeout bounds a whole symptom runbook; each step keeps its own
// deadline within it.
const runbookTimeout = 90 * time.Second

// outOfScope is said in `help runbook`: runbook steps the bot does not do.
const outOfScope = "Out of the bot's scope, as the runbook's own steps need things a chat bot should not hold: " +
	"point-in-time recovery (needs WAL archiving, which this stack does not configure), rebuilding images (`up -d --build`: " +
	"build elsewhere and `deploy <service> <image:tag>`), editing .env secrets and the API's tuning variables " +
	"(NODE_OPTIONS, API_CACHE_*: the runbooks list them as a checklist), and e-mail alerts."

// Command is `runbook [symptom]`.
func (r *Runbook) Command() bot.Command {
	names := make([]string, len(Symptoms))
	for i, s := range Symptoms {
		names[i] = s.Name
	}
	return bot.Command{
		Name:    "runbook",
		Summary: "run a symptom's diagnosis steps at once and offer its resolution steps",
		Usage:   "[" + strings.Join(names, "|") + "]",
		Help: "Runs the runbook section's diagnosis steps concurrently (read-only, each under its own deadline) and " +
			"summarises them; its resolution steps come as buttons (at the console: the line to type), each needing " +
			"its own level and approval when pressed. Without a symptom, lists them. " + outOfScope,
		MaxArgs: 1,
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		Timeout: runbookTimeout,
		Run:     r.run,
	}
}

func (r *Runbook) run(ctx context.Context, req bot.Request) (bot.Message, error) {
	name := strings.ToLower(req.Args.First())
	if name == "" {
		m := bot.Message{Title: "Symptom runbooks", Text: "Type `runbook <symptom>`:"}
		for _, s := range Symptoms {
			m.Fields = append(m.Fields, bot.Field{Name: s.Name, Value: s.Title + " (" + s.Section + ")"})
		}
		return m, nil
	}
	var sym *Symptom
	for i := range Symptoms {
		if Symptoms[i].Name == name {
			sym = &Symptoms[i]
		}
	}
	if sym == nil {
		names := make([]string, len(Symptoms))
		for i, s := range Symptoms {
			names[i] = s.Name
		}
		return bot.Message{}, &bot.UsageError{Msg: fmt.Sprintf("%q is not a symptom runbook. Try one of: %s.", clipCell(req.Args.First(), 40), strings.Join(names, ", "))}
	}
	return r.Run(ctx, req, *sym), nil
}

// stepResult is one diagnosis step's outcome.
type stepResult struct {
	line string
	msg  bot.Message
}

// Run runs sym's diagnosis steps concurrently as req's subject and
// summarises them.
func (r *Runbook) Run(ctx context.Context, req bot.Request, sym Symptom) bot.Message {
	results := make([]stepResult, len(sym.Diagnose))
	var wg sync.WaitGroup
	for i, line := range sym.Diagnose {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = stepResult{line: line, msg: r.redactMessage(r.step(ctx, req, line))}
		}()
	}
	var snap bot.Check
	var snapCode *bot.CodeBlock
	if sym.LogSnapshot {
		wg.Add(1)
		go func() {
			defer wg.Done()
			snap, snapCode = r.snapshot(ctx)
		}()
	}
	wg.Wait()

	m := bot.Message{Title: "Runbook: " + sym.Title, Text: sym.Section + " — diagnosis steps, run at once."}
	statuses := []bot.Status{}
	for _, res := range results {
		st := res.msg.Status
		if st == bot.StatusNone {
			st = bot.StatusOK
		}
		statuses = append(statuses, st)
		m.Checks = append(m.Checks, bot.Check{Name: res.line, Status: st, Value: rbGist(res.msg)})
		for _, cb := range res.msg.Code {
			title := res.line
			if cb.Title != "" {
				title += " — " + cb.Title
			}
			m.Code = append(m.Code, bot.CodeBlock{Title: title, Text: rbLastLines(cb.Text, 20)})
		}
	}
	if sym.LogSnapshot {
		statuses = append(statuses, snap.Status)
		m.Checks = append(m.Checks, snap)
		if snapCode != nil {
			m.Code = append(m.Code, *snapCode)
		}
	}
	m.Status = bot.Worst(statuses...)
	for _, res := range sym.Resolve {
		cmd, args, err := r.Parse(res.Line)
		if err != nil {
			m.Fields = append(m.Fields, bot.Field{Name: res.When, Value: "`" + res.Line + "` is not available in this bot"})
			continue
		}
		level, approval := r.Policy.Requirement(cmd, args)
		need := level.String()
		if approval {
			need += ", with approval"
		}
		m.Fields = append(m.Fields, bot.Field{Name: res.When, Value: fmt.Sprintf("`%s` (%s)", res.Line, need)})
		m.Buttons = append(m.Buttons, bot.Button{ActionID: bot.ActionRun, Text: rbButtonText(res.Line), Value: res.Line, Danger: cmd.Risk != bot.ReadOnly})
	}
	for i, c := range sym.Checklist {
		m.Fields = append(m.Fields, bot.Field{Name: fmt.Sprintf("Checklist %d", i+1), Value: c})
	}
	failed := 0
	for _, s := range statuses {
		if s == bot.StatusFailed {
			failed++
		}
	}
	m.Summary = fmt.Sprintf("Diagnosis: %d of %d steps found a problem. Resolution steps need their own level and approval when pressed.", failed, len(statuses))
	return m
}

// step runs one read-only diagnosis line as the asker, never above their
// level, with the command's own deadline inside the runbook's.
func (r *Runbook) step(ctx context.Context, req bot.Request, line string) (msg bot.Message) {
	cmd, args, err := r.Parse(line)
	if err != nil {
		return bot.Message{Status: bot.StatusWarn, Text: "not available in this bot: " + err.Error()}
	}
	if cmd.Risk != bot.ReadOnly {
		return bot.Message{Status: bot.StatusFailed, Text: "not run: a diagnosis step must be read-only"}
	}
	if d := r.Policy.Authorize(ctx, req.Subject, cmd, args); !d.Allowed {
		return bot.Message{Status: bot.StatusWarn, Text: "not run: it needs " + d.Level.String()}
	}
	if cmd.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, cmd.Timeout)
		defer cancel()
	}
	defer func() {
		if p := recover(); p != nil {
			msg = bot.Message{Status: bot.StatusFailed, Text: fmt.Sprintf("crashed: %v", p)}
		}
	}()
	sub := bot.Request{Subject: req.Subject, Channel: req.Channel, Text: line, ID: req.ID, Command: cmd, Args: args}
	out, err := cmd.Run(ctx, sub)
	if err != nil {
		return bot.Message{Status: bot.StatusFailed, Text: err.Error()}
	}
	return out
}

// snapshot keeps the project's recent logs in a file under DataDir and
// counts the lines the security runbook greps for.
func (r *Runbook) snapshot(ctx context.Context) (bot.Check, *bot.CodeBlock) {
	check := bot.Check{Name: "log snapshot (unauthorized / failed / error)"}
	fail := func(format string, a ...any) (bot.Check, *bot.CodeBlock) {
		check.Status, check.Value = bot.StatusFailed, fmt.Sprintf(format, a...)
		return check, nil
	}
	if r.Logs == nil {
		return fail("no Docker Engine configured")
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	window := r.LogWindow
	if window <= 0 {
		window = 24 * time.Hour
	}
	list, err := r.Logs.Containers(ctx)
	if err != nil {
		return fail("%v", err)
	}
	dir := r.DataDir
	if dir == "" {
		dir = "data"
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fail("keep the snapshot: %v", err)
	}
	path := filepath.Join(dir, "security_"+now().UTC().Format("20060102_150405")+".log")
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fail("keep the snapshot: %v", err)
	}
	w := bufio.NewWriterSize(f, 256*1024)
	words := []string{"unauthorized", "failed", "error"}
	counts := map[string]map[string]int{}
	since := now().Add(-window)
	var scanErrs []string
	for _, c := range list {
		per := map[string]int{}
		counts[c.Service] = per
		st := redact.NewStream(r.Redact)
		err := r.Logs.ScanLogs(ctx, c.ID, since, func(ts time.Time, raw []byte) {
			// The copy is redacted like every other output: a file of raw
			// logs would keep every secret they ever showed.
			line := st.Line(string(bytes.TrimRight(raw, "\r")))
			fmt.Fprintf(w, "%s %s | %s\n", c.Service, ts.UTC().Format(time.RFC3339Nano), line)
			lower := strings.ToLower(line)
			for _, word := range words {
				if strings.Contains(lower, word) {
					per[word]++
				}
			}
		})
		if err != nil {
			scanErrs = append(scanErrs, c.Service+": "+err.Error())
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fail("write %s: %v", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fail("write %s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		return fail("write %s: %v", path, err)
	}
	services := make([]string, 0, len(counts))
	for s := range counts {
		services = append(services, s)
	}
	sort.Strings(services)
	var table strings.Builder
	fmt.Fprintf(&table, "%-12s %12s %8s %8s\n", "service", "unauthorized", "failed", "error")
	total := 0
	for _, s := range services {
		c := counts[s]
		total += c["unauthorized"] + c["failed"] + c["error"]
		fmt.Fprintf(&table, "%-12s %12d %8d %8d\n", s, c["unauthorized"], c["failed"], c["error"])
	}
	check.Status = bot.StatusOK
	if total > 0 {
		check.Status = bot.StatusWarn
	}
	check.Value = fmt.Sprintf("%d suspicious lines in the last %s, logs kept in %s", total, window, path)
	if len(scanErrs) > 0 {
		check.Status = bot.StatusFailed
		check.Value += "; not read: " + strings.Join(scanErrs, "; ")
	}
	return check, &bot.CodeBlock{Title: "suspicious lines per service (case-insensitive)", Text: table.String()}
}

// redactMessage redacts what a step returned before it is cut to a gist
// and its last lines: a secret cut in two would no longer be recognised.
func (r *Runbook) redactMessage(m bot.Message) bot.Message {
	m.Title, m.Text, m.Summary = r.redact(m.Title), r.redact(m.Text), r.redact(m.Summary)
	m.Checks = append([]bot.Check(nil), m.Checks...)
	for i := range m.Checks {
		m.Checks[i].Name, m.Checks[i].Value = r.redact(m.Checks[i].Name), r.redact(m.Checks[i].Value)
	}
	m.Fields = append([]bot.Field(nil), m.Fields...)
	for i := range m.Fields {
		m.Fields[i].Name, m.Fields[i].Value = r.redact(m.Fields[i].Name), r.redact(m.Fields[i].Value)
	}
	m.Code = append([]bot.CodeBlock(nil), m.Code...)
	for i := range m.Code {
		m.Code[i].Title, m.Code[i].Text = r.redact(m.Code[i].Title), r.redact(m.Code[i].Text)
	}
	return m
}

// gist is one line saying what a step's message found.
func rbGist(m bot.Message) string {
	parts := []string{}
	for _, s := range []string{m.Summary, m.Title, rbFirstLine(m.Text)} {
		if s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		for _, c := range m.Checks {
			if c.Status == bot.StatusFailed {
				parts = append(parts, c.Name+": "+c.Value)
			}
		}
	}
	if len(parts) == 0 && len(m.Fields) > 0 {
		parts = append(parts, m.Fields[0].Name+": "+m.Fields[0].Value)
	}
	return clipCell(strings.Join(parts, " — "), 300)
}

func rbFirstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// lastLines keeps the last n lines of s.
func rbLastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("… %d earlier lines not shown\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "\n")
}

// buttonText is a resolution button's label: the line itself, clipped.
func rbButtonText(line string) string {
	return clipCell(line, 70)
}
