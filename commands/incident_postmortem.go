package commands

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// Postmortem is the Markdown postmortem draft of incident i: summary,
// impact window, the whole timeline, the actions with their requester and
// approver, and follow-ups to fill in.
func (in *Incidents) Postmortem(ctx context.Context, i bot.Incident) (string, error) {
	var all []bot.TimelineEntry
	for offset := 0; ; offset += 1000 {
		sctx, cancel := context.WithTimeout(ctx, storeCall)
		page, total, err := in.Store.Timeline(sctx, i.ID, offset, 1000)
		cancel()
		if err != nil {
			return "", fmt.Errorf("read the timeline: %w", err)
		}
		all = append(all, page...)
		if len(page) == 0 || len(all) >= total {
			break
		}
	}
	var b strings.Builder
	md := func(s string) string { return strings.NewReplacer("|", `\|`, "\n", " ", "\r", " ").Replace(s) }
	fmt.Fprintf(&b, "# %s postmortem (draft): %s\n\n", Name(i), md(i.Title))
	fmt.Fprintf(&b, "- **Severity:** %s\n- **Commander:** %s\n- **Opened by:** %s\n", sevName(i.Severity), md(i.Commander), md(i.OpenedBy))
	end := i.ResolvedAt
	state := "resolved"
	if end.IsZero() {
		end, state = in.now().UTC(), "still open"
	}
	dur := end.Sub(i.StartedAt).Round(time.Second)
	fmt.Fprintf(&b, "- **Impact window:** %s to %s UTC (%s, %s)\n\n", i.StartedAt.Format("2006-01-02 15:04:05"), end.Format("2006-01-02 15:04:05"), dur, state)
	b.WriteString("## Summary\n\n")
	if i.Summary != "" {
		b.WriteString(md(i.Summary) + "\n\n")
	} else {
		b.WriteString("_To be written._\n\n")
	}
	b.WriteString("## Impact\n\n_Who and what was affected between the times above; fill in._\n\n")
	fmt.Fprintf(&b, "## Timeline (UTC, %d entries)\n\n| time | who | what | outcome |\n|---|---|---|---|\n", len(all))
	for _, e := range all {
		who := e.Who
		if e.Approver != "" {
			who += " (" + decidedBy(e.Outcome) + " " + e.Approver + ")"
		}
		what := e.What
		if e.Link != "" {
			what += " ([link](" + e.Link + "))"
		}
		fmt.Fprintf(&b, "| %s | %s | %s: %s | %s |\n", e.At.UTC().Format("2006-01-02 15:04:05"), md(who), e.Kind, md(what), md(e.Outcome))
	}
	b.WriteString("\n## Actions taken\n\n")
	actions := 0
	for _, e := range all {
		if e.Kind != "result" && !(e.Kind == "command" && e.Approver != "") {
			continue
		}
		actions++
		approver := e.Approver
		if approver == "" {
			approver = "none needed"
		}
		by := "approved by"
		if e.Approver != "" {
			by = decidedBy(e.Outcome)
		}
		fmt.Fprintf(&b, "- %s `%s`: requested by %s, %s %s → %s\n", e.At.UTC().Format("15:04:05"), md(e.What), md(e.Who), by, md(approver), md(e.Outcome))
	}
	for _, e := range all {
		if e.Kind == "command" && e.Approver == "" && !strings.HasPrefix(e.Outcome, "usage") && !strings.HasPrefix(e.Outcome, "refused") {
			actions++
			fmt.Fprintf(&b, "- %s `%s`: run by %s (no approval needed) → %s\n", e.At.UTC().Format("15:04:05"), md(e.What), md(e.Who), md(e.Outcome))
		}
	}
	if actions == 0 {
		b.WriteString("_No command was run during the incident._\n")
	}
	b.WriteString("\n## Escalations\n\n")
	escalations := 0
	for _, e := range all {
		if e.Kind == "escalation" {
			escalations++
			fmt.Fprintf(&b, "- %s %s by %s\n", e.At.UTC().Format("15:04:05"), md(e.What), md(e.Who))
		}
	}
	if escalations == 0 {
		b.WriteString("_None._\n")
	}
	b.WriteString("\n## Root cause\n\n_To be written._\n\n## Follow-ups\n\n- [ ] _Action, owner, due date_\n- [ ] Update the runbook where it did not help\n- [ ] Check monitoring caught this early enough\n")
	return b.String(), nil
}
