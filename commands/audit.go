package commands

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
	"github.com/shiftwise/shiftwise-bot/internal/redact"
)

// Limits of `audit`.
const (
	auditDefaultLimit = 20
	auditMaxLimit     = 200
)

var auditSubject = regexp.MustCompile(`^(slack|slack-group|console):[A-Za-z0-9._@-]{1,64}$`)

// errNoAuditDB is the answer of both commands in a bot without its database.
var errNoAuditDB = errors.New("the audit log lives in the bot's own database (SHIFTWISE_DATABASE_URL), and this bot runs without it")

// NoAuditDatabase is the bot.AuditLog of a bot without SHIFTWISE_DATABASE_URL:
// the audit commands exist and say what they need.
var NoAuditDatabase bot.AuditLog = noAuditLog{}

type noAuditLog struct{}

func (noAuditLog) AuditEntries(context.Context, bot.AuditQuery) ([]bot.AuditRecord, error) {
	return nil, errNoAuditDB
}
func (noAuditLog) VerifyAudit(context.Context) (bot.AuditReport, error) {
	return bot.AuditReport{}, errNoAuditDB
}
func (noAuditLog) AuditSpool() bot.AuditSpool { return bot.AuditSpool{} }

// Audit returns `audit` (Level 1): recent audit entries, newest first,
// with --user, --since, --limit and --before for the next page.
func Audit(log bot.AuditLog) bot.Command {
	return bot.Command{
		Name:    "audit",
		Summary: "recent audit log entries: who ran what, where, the decision and the result",
		Usage:   "[--user SUBJECT] [--since 24h] [--limit 20] [--before ID]",
		Help: "Newest first. SUBJECT is namespaced: slack:U024BE7LH, console:alice. --since counts from when " +
			"the thing happened (entries that waited in the local spool while the database was down keep " +
			"their own time). At most 200 entries a page; the footer says how to get the next one. " +
			"Command lines are shown as recorded, with secrets masked.",
		Flags: []bot.Flag{
			{Name: "user", Kind: bot.FlagString, Usage: "only this subject (slack:U…, console:name)"},
			{Name: "since", Kind: bot.FlagDuration, Default: "24h", Usage: "how far back", MinDuration: time.Second, MaxDuration: 3650 * 24 * time.Hour},
			{Name: "limit", Kind: bot.FlagInt, Default: fmt.Sprint(auditDefaultLimit), Usage: "entries per page", Min: 1, Max: auditMaxLimit},
			{Name: "before", Kind: bot.FlagInt, Default: "0", Usage: "only entries with a lower ID (the next page)", Min: 0, Max: bot.MaxInt4},
		},
		MaxArgs: 0,
		Object:  func(bot.Args) string { return "audit" },
		Level:   bot.Level1,
		Risk:    bot.ReadOnly,
		Timeout: 30 * time.Second,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			q, err := auditQuery(req.Args, time.Now())
			if err != nil {
				return bot.Message{}, err
			}
			recs, err := log.AuditEntries(ctx, q)
			if err != nil {
				return bot.Message{}, fmt.Errorf("reading the audit log: %w", err)
			}
			return auditMessage(q, recs, log.AuditSpool()), nil
		},
	}
}

func auditQuery(a bot.Args, now time.Time) (bot.AuditQuery, error) {
	q := bot.AuditQuery{Subject: a.String("user"), Limit: a.Int("limit"), Before: int64(a.Int("before"))}
	if a.Has("user") && !auditSubject.MatchString(q.Subject) {
		return q, &bot.UsageError{Msg: "--user takes a namespaced subject such as slack:U024BE7LH or console:alice."}
	}
	if q.Limit < 1 || q.Limit > auditMaxLimit {
		return q, &bot.UsageError{Msg: fmt.Sprintf("--limit takes 1 to %d.", auditMaxLimit)}
	}
	if q.Before < 0 {
		return q, &bot.UsageError{Msg: "--before takes an entry ID (a positive number)."}
	}
	since := a.Duration("since")
	if since <= 0 {
		return q, &bot.UsageError{Msg: "--since takes a positive duration such as 30m, 24h or 7d."}
	}
	q.Since = now.Add(-since)
	return q, nil
}

func auditMessage(q bot.AuditQuery, recs []bot.AuditRecord, sp bot.AuditSpool) bot.Message {
	title := "Audit log"
	if q.Subject != "" {
		title += " — " + q.Subject
	}
	m := bot.Message{Title: title, Status: bot.StatusOK}
	since := q.Since.UTC().Format("2006-01-02 15:04 UTC")
	if len(recs) == 0 {
		m.Text = fmt.Sprintf("No entries since %s.", since)
	} else {
		var b strings.Builder
		fmt.Fprintf(&b, "%-6s %-19s %-20s %-12s %-9s %-20s %-8s %s\n", "ID", "WHEN (UTC)", "WHO", "WHERE", "DECISION", "APPROVER", "TOOK", "COMMAND → RESULT")
		for _, r := range recs {
			when := r.At
			mark := ""
			if !r.Occurred.IsZero() {
				when = r.Occurred
				if waited(r) {
					mark = "*"
				}
			}
			approver := r.Approver
			if approver == "" {
				approver = "-"
			}
			fmt.Fprintf(&b, "%-6d %-19s %-20s %-12s %-9s %-20s %-8s %s → %s\n", r.ID,
				when.UTC().Format("2006-01-02 15:04:05")+mark, clipCell(r.Subject, 20), clipCell(r.Channel, 12),
				clipCell(r.Decision, 9), clipCell(approver, 20), r.Duration.Round(time.Millisecond),
				clipCell(oneLine(r.Args), 80), clipCell(oneLine(r.Result), 40))
		}
		m.Code = []bot.CodeBlock{{Text: b.String()}}
		m.Text = fmt.Sprintf("%d entries since %s, newest first.", len(recs), since)
		if len(recs) == q.Limit {
			next := fmt.Sprintf("audit --before %d --limit %d --since %s", recs[len(recs)-1].ID, q.Limit, sinceFlag(q.Since))
			if q.Subject != "" {
				next += " --user " + q.Subject
			}
			m.Text += fmt.Sprintf(" Older entries: `%s`.", next)
		}
		for _, r := range recs {
			if waited(r) {
				m.Text += " * when it happened; the entry joined the log later (it waited in the local spool for the bot's database)."
				break
			}
		}
	}
	if t := SpoolText(sp, "newer "); t != "" {
		if sp.Unreachable || sp.Reason != "" || sp.SetAside > 0 {
			m.Status = bot.StatusWarn
		}
		m.Text += " " + t
	}
	return m
}

// SpoolText says, truthfully, why audit entries wait in the local spool
// and which were set aside ("" when neither).
func SpoolText(sp bot.AuditSpool, adj string) string {
	var parts []string
	switch {
	case sp.Pending == 0:
	case sp.Unreachable:
		parts = append(parts, fmt.Sprintf("%s in the local spool: the bot's database does not answer, and they are written when it does.", entriesWait(sp.Pending, adj)))
	case sp.Reason != "":
		parts = append(parts, fmt.Sprintf("%s in the local spool: the bot's database did not take them (%s); the bot keeps trying.", entriesWait(sp.Pending, adj), oneLine(clipCell(sp.Reason, 200))))
	default:
		parts = append(parts, fmt.Sprintf("%s in the local spool; the bot's database answers and they are being written now.", entriesWait(sp.Pending, adj)))
	}
	if sp.SetAside > 0 {
		n := fmt.Sprintf("%d entries were", sp.SetAside)
		if sp.SetAside == 1 {
			n = "1 entry was"
		}
		parts = append(parts, fmt.Sprintf("%s SET ASIDE: the bot's database refused them for good (a data error, not an outage). They are kept in %s for an operator; the entries after them were written.", n, sp.SetAsideWhere))
	}
	return strings.Join(parts, " ")
}

// waited: every entry passes through the local spool; one that joined the
// log more than a second after it happened is marked.
func waited(r bot.AuditRecord) bool {
	return !r.Occurred.IsZero() && r.At.Sub(r.Occurred) > time.Second
}

// sinceFlag renders the window back as a --since value that keeps (about)
// the same start for the next page, rounded up to the minute.
func sinceFlag(since time.Time) string {
	return fmt.Sprintf("%dm", int(time.Since(since)/time.Minute)+1)
}

func entriesWait(n int, adj string) string {
	if n == 1 {
		return "1 " + adj + "entry waits"
	}
	return fmt.Sprintf("%d %sentries wait", n, adj)
}

func clipCell(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	r = []rune(redact.Builtin(s)) // a secret cut in two is no longer recognised
	if len(r) <= n {
		return string(r)
	}
	return string(r[:n-1]) + "…"
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// AuditVerify returns `audit verify` (Level 3): recompute the hash chain
// and compare it with the running digest kept outside the database.
func AuditVerify(log bot.AuditLog) bot.Command {
	return bot.Command{
		Name:    "audit verify",
		Summary: "check the audit log for edited, deleted, reordered or rewritten entries",
		Help: "Recomputes every entry's hash in order and checks each link, the chain head row and the " +
			"running digest the bot keeps outside the database (SHIFTWISE_DATA_DIR/audit-head, also in the " +
			"bot's log). It proves the log is the one this bot wrote up to that digest; it cannot prove that " +
			"entries after the digest, or the digest file itself, were not replaced by someone holding both.",
		MaxArgs: 0,
		Object:  func(bot.Args) string { return "audit:verify" },
		Level:   bot.Level3,
		Risk:    bot.ReadOnly,
		Timeout: 2 * time.Minute,
		Run: func(ctx context.Context, req bot.Request) (bot.Message, error) {
			r, err := log.VerifyAudit(ctx)
			if err != nil {
				return bot.Message{}, fmt.Errorf("verifying the audit log: %w", err)
			}
			return verifyMessage(r), nil
		},
	}
}

func verifyMessage(r bot.AuditReport) bot.Message {
	m := bot.Message{Title: "Audit log verification"}
	head := "-"
	if r.Head != "" {
		head = fmt.Sprintf("entry %d, %s", r.LastID, r.Head)
	}
	digest := "none written yet"
	if r.DigestID > 0 {
		digest = fmt.Sprintf("entry %d, %s (%s)", r.DigestID, r.Digest, r.DigestWhere)
	}
	m.Fields = []bot.Field{
		{Name: "Entries", Value: fmt.Sprint(r.Entries)},
		{Name: "Head", Value: head},
		{Name: "Digest outside the database", Value: digest},
	}
	switch {
	case len(r.Problems) > 0:
		m.Status = bot.StatusFailed
		m.Text = fmt.Sprintf("Audit log: TAMPERED — %d problem(s). The entries named below were edited, deleted, moved or rewritten after they were written.", len(r.Problems))
		m.Code = []bot.CodeBlock{{Title: "Problems", Text: strings.Join(r.Problems, "\n")}}
	case r.DigestID == 0:
		m.Status = bot.StatusWarn
		m.Text = "Audit log: chain intact, but no digest has been kept outside the database yet, so a consistent rewrite of the whole log could not be told apart."
	default:
		m.Status = bot.StatusOK
		m.Text = fmt.Sprintf("Audit log: intact. Every link holds and entry %d matches the digest kept outside the database.", r.DigestID)
		if r.Uncovered > 0 {
			m.Status = bot.StatusWarn
			m.Text += fmt.Sprintf(" The %d entries after it are chained but not covered by that digest (written by another bot process, or after the digest).", r.Uncovered)
		}
	}
	if r.Pending > 0 {
		m.Text += fmt.Sprintf(" %s in the local spool, not in the log yet.", entriesWait(r.Pending, ""))
	}
	if r.Spool.SetAside > 0 {
		m.Status = bot.Worst(m.Status, bot.StatusWarn)
		m.Text += " " + SpoolText(bot.AuditSpool{SetAside: r.Spool.SetAside, SetAsideWhere: r.Spool.SetAsideWhere}, "")
	}
	return m
}

// BotRecordsCheck is the `health` line about the bot's own records: audit
// entries the database did not take yet, timeline entries waiting in the
// local spool, and entries the bot's database refused for good and that
// were set aside (WARN: an operator should read them). None when there is
// nothing to say.
func BotRecordsCheck(audit bot.AuditSpool, timelineWaiting, timelineAside int, timelineWhere string) []bot.Check {
	var parts []string
	// Entries pass through the audit spool on their way to the database:
	// only those held up by it are worth a line.
	if audit.Pending > 0 && (audit.Unreachable || audit.Reason != "") {
		parts = append(parts, fmt.Sprintf("%s in the audit spool: the bot's database did not take them", entriesWait(audit.Pending, "")))
	}
	if timelineWaiting > 0 {
		parts = append(parts, fmt.Sprintf("%s in the timeline spool", entriesWait(timelineWaiting, "")))
	}
	if audit.SetAside > 0 {
		parts = append(parts, fmt.Sprintf("%d audit entries SET ASIDE, refused for good by the bot's database (%s)", audit.SetAside, audit.SetAsideWhere))
	}
	if timelineAside > 0 {
		parts = append(parts, fmt.Sprintf("%d timeline entries SET ASIDE, refused for good by the bot's database (%s)", timelineAside, timelineWhere))
	}
	if len(parts) == 0 {
		return nil
	}
	c := bot.Check{Name: "bot's own records", Status: bot.StatusWarn, Value: strings.Join(parts, "; "),
		Threshold: "nothing set aside; spools drain while the bot's database answers"}
	return []bot.Check{c}
}
