package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/shiftwise/shiftwise-bot/bot"
)

// --- escaping, measuring and cutting text ---

var bkEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// bkEscText escapes Slack's control characters; backticks stay as typed.
func bkEscText(s string) string { return bkEscaper.Replace(s) }

// bkEscCode escapes text for inside a ``` fence: control characters, and
// a zero-width space between backticks so the text cannot close the fence.
func bkEscCode(s string) string { return bkBreakFences(bkEscText(s)) }

func bkBreakFences(s string) string {
	if !strings.Contains(s, "``") {
		return s
	}
	var b strings.Builder
	prev := rune(0)
	for _, r := range s {
		if r == '`' && prev == '`' {
			b.WriteString(bkZWSP)
		}
		b.WriteRune(r)
		prev = r
	}
	return b.String()
}

// bkUnits counts UTF-16 code units: what Slack's limits count, and never
// less than runes.
func bkUnits(s string) int {
	n := 0
	for _, r := range s {
		n++
		if r >= 0x10000 {
			n++
		}
	}
	return n
}

// bkTextCost is what one rune of raw text costs once escaped.
func bkTextCost(r rune) int {
	switch r {
	case '&':
		return 5
	case '<', '>':
		return 4
	}
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// bkCodeCost is bkTextCost with room for a zero-width space after a backtick.
func bkCodeCost(r rune) int {
	if r == '`' {
		return 2
	}
	return bkTextCost(r)
}

func bkCostOf(s string, cost func(rune) int) int {
	n := 0
	for _, r := range s {
		n += cost(r)
	}
	return n
}

// bkPrefix is the longest prefix of s that costs at most max.
func bkPrefix(s string, max int, cost func(rune) int) string {
	n := 0
	for i, r := range s {
		n += cost(r)
		if n > max {
			return s[:i]
		}
	}
	return s
}

// bkClipText escapes s and keeps it within max characters, ending in "…"
// when cut. It never cuts inside a rune or an entity.
func bkClipText(s string, max int) string {
	if bkCostOf(s, bkTextCost) <= max {
		return bkEscText(s)
	}
	return bkEscText(bkPrefix(s, max-1, bkTextCost)) + "…"
}

// bkClipPlain keeps plain text within max characters, ending in "…" when cut.
func bkClipPlain(s string, max int) string {
	unit := func(r rune) int {
		if r >= 0x10000 {
			return 2
		}
		return 1
	}
	if bkUnits(s) <= max {
		return s
	}
	return strings.TrimRight(bkPrefix(s, max-1, unit), " ") + "…"
}

// bkSplit cuts s into pieces that each cost at most max once escaped, and
// whose concatenation is s. A piece ends after a blank line (when
// paragraphs is set and that keeps the piece at least half full), else
// after a line end, else after a space, else before the rune that would
// not fit; a line end or space is used only when what follows it so far
// fits the next piece (otherwise that would be cut anyway, and the
// current piece may as well be full).
func bkSplit(s string, max int, cost func(rune) int, paragraphs bool) []string {
	var out []string
	start, used := 0, 0
	type cut struct{ at, used int }
	var para, line, space cut
	prev := rune(0)
	for i, r := range s {
		c := cost(r)
		if used+c > max && used > 0 {
			fits := func(k cut) bool { return k.at > start && used-k.used+c <= max }
			best := cut{at: i, used: used}
			switch {
			case paragraphs && fits(para) && para.used >= max/2:
				best = para
			case fits(line):
				best = line
			case fits(space):
				best = space
			}
			out = append(out, s[start:best.at])
			start, used = best.at, used-best.used
			para, line, space = cut{}, cut{}, cut{}
		}
		used += c
		end := i + utf8.RuneLen(r)
		switch {
		case r == '\n' && prev == '\n':
			para = cut{end, used}
			line = para
		case r == '\n':
			line = cut{end, used}
		case r == ' ':
			space = cut{end, used}
		}
		prev = r
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}

// --- small text helpers ---

func bkOneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

func bkFirstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	return s
}

func bkThousands(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func bkSize(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

// bkValid makes every text of the message safe to show (bot.SafeText:
// control characters, escape sequences, bidi overrides and bytes that are
// not UTF-8 written out visibly), so the output is valid UTF-8 and JSON
// shows what the counts measured. Button action ids and values are not
// shown: they only lose invalid UTF-8.
func bkValid(m bot.Message) bot.Message {
	v := bot.SafeText
	raw := func(s string) string {
		if utf8.ValidString(s) {
			return s
		}
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	m.Title, m.Text, m.Summary = v(m.Title), v(m.Text), v(m.Summary)
	m.Checks = append([]bot.Check(nil), m.Checks...)
	for i := range m.Checks {
		c := &m.Checks[i]
		c.Name, c.Value, c.Threshold = v(c.Name), v(c.Value), v(c.Threshold)
	}
	m.Fields = append([]bot.Field(nil), m.Fields...)
	for i := range m.Fields {
		m.Fields[i].Name, m.Fields[i].Value = v(m.Fields[i].Name), v(m.Fields[i].Value)
	}
	m.Code = append([]bot.CodeBlock(nil), m.Code...)
	for i := range m.Code {
		m.Code[i].Title, m.Code[i].Text = v(m.Code[i].Title), v(m.Code[i].Text)
	}
	m.Buttons = append([]bot.Button(nil), m.Buttons...)
	for i := range m.Buttons {
		b := &m.Buttons[i]
		b.ActionID, b.Text, b.Value = raw(b.ActionID), v(b.Text), raw(b.Value)
	}
	m.Meta.User, m.Meta.Channel, m.Meta.Command = v(m.Meta.User), v(m.Meta.Channel), v(m.Meta.Command)
	return m
}

// unescape undoes the only escaping Slack applies to message and command
// text: &amp; &lt; &gt;.
func unescape(s string) string {
	return strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&").Replace(s)
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n]) + "…"
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(bot.SafeText(s))
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
