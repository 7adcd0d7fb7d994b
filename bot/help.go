package bot

import (
	"context"
	"fmt"
	"strings"
)

// helpIndex lists the commands, split into what the subject may run and
// what needs a higher level.
func (e *Engine) helpIndex(ctx context.Context, subject string) Message {
	var may, above strings.Builder
	level, known := e.subjectLevel(subject)
	for _, c := range e.reg.Commands() {
		// approve/deny mean nothing without the bot's database, or to
		// someone who holds no level (unknown Slack users): not listed.
		if c.builtin != nil && (e.approvals == nil || known && level < Level1) {
			continue
		}
		line := fmt.Sprintf("%-28s %s\n", c.UsageLine(), c.Summary)
		if e.auth.Authorize(ctx, subject, c, Args{cmd: c}).Allowed {
			may.WriteString(line)
		} else {
			above.WriteString(fmt.Sprintf("%-28s needs %s\n", c.Name, c.Level))
		}
	}
	m := Message{
		Title: "ShiftWise ops bot",
		Text:  "Type a command as in Slack: `/shiftwise health` or just `health`. `help <command>` explains one.",
	}
	m.Code = append(m.Code, CodeBlock{Title: "Commands you may run", Text: strings.TrimRight(may.String(), "\n") + fmt.Sprintf("\n%-28s %s", "help [command]", "this help")})
	if above.Len() > 0 {
		m.Code = append(m.Code, CodeBlock{Title: "Commands that need a higher level", Text: strings.TrimRight(above.String(), "\n")})
	}
	return m
}

// help answers `help` and `help <command>`.
func (e *Engine) help(ctx context.Context, subject string, words []string) Reply {
	if len(words) == 0 {
		return Reply{Message: e.helpIndex(ctx, subject)}
	}
	if strings.EqualFold(words[0], "help") && len(words) == 1 {
		return Reply{Message: Message{Title: "help", Text: "`help` lists the commands; `help <command>` explains one."}}
	}
	c, rest := e.reg.resolve(words)
	if c == nil || len(rest) > 0 {
		return usageReply(e.reg.unknown(words))
	}
	m := Message{Title: c.Name, Text: c.Summary}
	if c.Help != "" {
		m.Text += "\n\n" + c.Help
	}
	m.Fields = append(m.Fields, Field{Name: "Usage", Value: c.UsageLine()})
	for _, f := range c.Flags {
		v := f.Usage
		var notes []string
		if r := f.Range(); r != "" {
			notes = append(notes, r)
		}
		if f.Default != "" {
			notes = append(notes, "default "+f.Default)
		}
		if len(notes) > 0 {
			v += " (" + strings.Join(notes, "; ") + ")"
		}
		m.Fields = append(m.Fields, Field{Name: "--" + f.Name, Value: v})
	}
	level, approval := e.requirement(c, Args{cmd: c}, Decision{})
	needs := level.String()
	if approval {
		needs += ", with a second person's approval"
	}
	m.Fields = append(m.Fields, Field{Name: "Needs", Value: needs})
	if !e.auth.Authorize(ctx, subject, c, Args{cmd: c}).Allowed {
		m.Fields = append(m.Fields, Field{Name: "You", Value: "may not run this at your level"})
	}
	return Reply{Message: m}
}
